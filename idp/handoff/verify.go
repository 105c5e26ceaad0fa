package handoff

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/partneridp/partneridp/idp/user"
)

const (
	// MaxTokenBytes is the longest handoff token read; longer ones are refused before parsing.
	MaxTokenBytes = 8 << 10
	// DefaultMaxLifetime caps exp−iat of a handoff token when Platform.MaxLifetime is zero.
	DefaultMaxLifetime = 5 * time.Minute
	// DefaultLeeway is the clock skew allowed on exp, iat and nbf when Verifier.Leeway is zero.
	DefaultLeeway = 30 * time.Second

	maxConfiguredLifetime = time.Hour
	maxConfiguredLeeway   = 5 * time.Minute
	maxJTILen             = 128
	maxClaimValueLen      = 1024
	maxClaimNameLen       = 64
)

// ClaimAuthTime is when the platform authenticated the user. The customer's fields have the
// claims user.Fields declares (name, mobile, email, bp_id); every other string claim lands in
// Claims.Extra.
const ClaimAuthTime = "auth_time"

// ClaimSite names the Huawei site (a configured site's name, such as cn or intl) the customer
// is sent to; without it the bridge's first site. It is not a customer field.
const ClaimSite = "huawei_site"

const maxSiteLen = 64

// The claims of the fields user.Fields registers today, for code that mints tokens (the demo
// platform, `partneridp token`, selftest). Verify reads the registry, not these.
const (
	ClaimName   = "name"
	ClaimMobile = "mobile"
	ClaimEmail  = "email"
	ClaimBPID   = "bp_id"
)

// registeredClaims are set by the minter and checked by the verifier.
var registeredClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true,
}

// ReplayStore remembers used token ids until they expire. MarkUsed returns ErrReplay (possibly
// wrapped) when id was already marked; the idp layer backs it with the bbolt store.
type ReplayStore interface {
	MarkUsed(ctx context.Context, id string, expires time.Time) error
}

// Platform is one partner platform allowed to hand users over.
type Platform struct {
	Name        string // label for logs and audit
	Issuer      string // expected iss
	Audience    string // expected aud: this bridge's identifier for that platform
	Keys        []PlatformKey
	MaxLifetime time.Duration // cap on exp−iat; 0 means DefaultMaxLifetime
}

// Verifier checks platform handoff tokens.
type Verifier struct {
	Platforms []Platform
	Replay    ReplayStore
	Clock     func() time.Time // nil: time.Now
	Leeway    time.Duration    // 0: DefaultLeeway
	Fields    user.Registry    // the customer's registered fields; nil: user.Fields
}

// Claims is what a verified handoff token (or a bridge session) says: the customer
// (XAccountID from sub, the registered fields, the other string claims in Extra, and AuthTime
// from auth_time, else iat) and the token's own facts.
type Claims struct {
	user.User
	Site     string // the huawei_site claim: "" means the first configured site
	Issuer   string // the platform's iss
	IssuedAt time.Time
	Expires  time.Time
	ID       string // jti (empty for a session)
}

// Validate reports every problem with the platform's configuration.
func (p Platform) Validate() error {
	field := "platform " + clip(p.Name)
	var errs []error
	if p.Name == "" {
		errs = append(errs, configErr(field, "name is required"))
	}
	if p.Issuer == "" {
		errs = append(errs, configErr(field, "issuer is required (the iss the platform puts in its tokens)"))
	}
	if p.Audience == "" {
		errs = append(errs, configErr(field, "audience is required (the aud the platform puts in its tokens)"))
	}
	if p.Audience == SessionAudience {
		errs = append(errs, configErr(field, "audience %q is reserved for the bridge's session cookie", SessionAudience))
	}
	if p.MaxLifetime < 0 || p.MaxLifetime > maxConfiguredLifetime {
		errs = append(errs, configErr(field, "max token lifetime must be between 0 (default %s) and %s", DefaultMaxLifetime, maxConfiguredLifetime))
	}
	if len(p.Keys) == 0 {
		errs = append(errs, configErr(field, "at least one verification key is required"))
	}
	seen := map[string]bool{}
	for _, k := range p.Keys {
		if err := k.check(); err != nil {
			errs = append(errs, relabel(err, field))
		}
		if len(p.Keys) > 1 && k.ID == "" {
			errs = append(errs, configErr(field, "every key needs a kid when the platform has several keys"))
		}
		if seen[k.ID] {
			errs = append(errs, configErr(field, "duplicate kid %s", clip(k.ID)))
		}
		seen[k.ID] = true
	}
	return errors.Join(errs...)
}

// Validate reports every problem with the verifier's configuration. Call it at start-up;
// Verify repeats the checks that concern the token at hand.
func (v *Verifier) Validate() error {
	var errs []error
	if v.Replay == nil {
		errs = append(errs, configErr("verifier", "a replay store is required (jti is single use)"))
	}
	if v.Leeway < 0 || v.Leeway > maxConfiguredLeeway {
		errs = append(errs, configErr("verifier", "leeway must be between 0 (default %s) and %s", DefaultLeeway, maxConfiguredLeeway))
	}
	if len(v.Platforms) == 0 {
		errs = append(errs, configErr("verifier", "no platforms configured"))
	}
	issuers, names := map[string]bool{}, map[string]bool{}
	for _, p := range v.Platforms {
		if err := p.Validate(); err != nil {
			errs = append(errs, err)
		}
		if issuers[p.Issuer] {
			errs = append(errs, configErr("platform "+clip(p.Name), "issuer %s is used by another platform", clip(p.Issuer)))
		}
		if names[p.Name] {
			errs = append(errs, configErr("platform "+clip(p.Name), "name is used by another platform"))
		}
		issuers[p.Issuer], names[p.Name] = true, true
	}
	return errors.Join(errs...)
}

func (v *Verifier) now() time.Time {
	if v.Clock != nil {
		return v.Clock()
	}
	return time.Now()
}

func (v *Verifier) leeway() time.Duration {
	if v.Leeway == 0 {
		return DefaultLeeway
	}
	return v.Leeway
}

func (p *Platform) maxLifetime() time.Duration {
	if p.MaxLifetime == 0 {
		return DefaultMaxLifetime
	}
	return p.MaxLifetime
}

// Verify checks a handoff token and marks its jti used. The platform is picked by the
// unverified iss; everything is then verified against that platform's pinned key. A refused
// token yields a *TokenError; a configuration or replay-store failure yields another error.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if err := checkTokenSize(token); err != nil {
		return Claims{}, err
	}
	if err := checkTokenJSON(token); err != nil {
		return Claims{}, err
	}
	header, unverified, err := parseUnverified(token)
	if err != nil {
		return Claims{}, err
	}
	p, err := v.platformFor(unverified)
	if err != nil {
		return Claims{}, err
	}
	key, err := p.selectKey(header)
	if err != nil {
		return Claims{}, err
	}
	if err := checkPinnedAlg(p, key, header); err != nil {
		return Claims{}, err
	}
	mc, err := v.verifySignedClaims(p, key, token, unverified)
	if err != nil {
		return Claims{}, err
	}
	c, err := v.claimsFrom(p, mc)
	if err != nil {
		return Claims{}, err
	}
	if err := v.markUsed(ctx, p, c); err != nil {
		return Claims{}, err
	}
	return c, nil
}

func checkTokenSize(token string) error {
	if token == "" {
		return tokenErr(ReasonMalformed, "", "token is empty; send the platform's JWT in the token parameter")
	}
	if len(token) > MaxTokenBytes {
		return tokenErr(ReasonTooLarge, "", "token is %d bytes; the limit is %d", len(token), MaxTokenBytes)
	}
	return nil
}

// parseUnverified decodes header and claims only to choose the platform and key.
func parseUnverified(token string) (map[string]any, jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	t, _, err := jwt.NewParser(jwt.WithStrictDecoding()).ParseUnverified(token, claims)
	switch {
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return nil, nil, tokenErr(ReasonAlgNotAllowed, "", "token alg is missing or unknown; use EdDSA, ES256, RS256 or HS256 as configured")
	case err != nil:
		return nil, nil, tokenErr(ReasonMalformed, "", "token is not a compact JWS with base64url JSON header and claims")
	}
	if _, ok := t.Header["crit"]; ok {
		return nil, nil, tokenErr(ReasonMalformed, "", "token has a crit header; no critical extensions are supported")
	}
	if kid, ok := t.Header["kid"]; ok {
		if _, isString := kid.(string); !isString {
			return nil, nil, tokenErr(ReasonMalformed, "", "token kid header is not a string")
		}
	}
	return t.Header, claims, nil
}

func (v *Verifier) platformFor(unverified jwt.MapClaims) (*Platform, error) {
	raw, ok := unverified["iss"]
	if !ok {
		return nil, tokenErr(ReasonMissingClaim, "", "token has no iss claim; set it to the platform's configured issuer")
	}
	iss, ok := raw.(string)
	if !ok {
		return nil, tokenErr(ReasonBadIssuer, "", "token iss claim is not a string")
	}
	var found *Platform
	for i := range v.Platforms {
		if v.Platforms[i].Issuer != iss {
			continue
		}
		if found != nil {
			return nil, configErr("verifier", "issuer %s is configured for more than one platform", clip(iss))
		}
		found = &v.Platforms[i]
	}
	if found == nil {
		return nil, tokenErr(ReasonBadIssuer, "", "issuer %s is not a configured platform", clip(iss))
	}
	if v.Replay == nil {
		return nil, configErr("verifier", "a replay store is required (jti is single use)")
	}
	if err := found.Validate(); err != nil {
		return nil, err
	}
	return found, nil
}

// selectKey picks the key by kid; a token without kid is only accepted when there is one key.
func (p *Platform) selectKey(header map[string]any) (PlatformKey, error) {
	kid, hasKID := header["kid"].(string)
	if !hasKID {
		if len(p.Keys) == 1 {
			return p.Keys[0], nil
		}
		return PlatformKey{}, tokenErr(ReasonUnknownKey, p.Name, "token has no kid header but the platform has %d keys; put the signing key's kid in the header", len(p.Keys))
	}
	for _, k := range p.Keys {
		if k.ID == kid {
			return k, nil
		}
	}
	if len(p.Keys) == 1 && p.Keys[0].ID == "" {
		return p.Keys[0], nil
	}
	return PlatformKey{}, tokenErr(ReasonUnknownKey, p.Name, "no key with kid %s is configured for this platform", clip(kid))
}

func checkPinnedAlg(p *Platform, key PlatformKey, header map[string]any) error {
	alg, _ := header["alg"].(string)
	if alg != key.Alg {
		return tokenErr(ReasonAlgNotAllowed, p.Name, "token alg %s is not allowed; this key is pinned to %s", clip(alg), key.Alg)
	}
	return nil
}

// verifySignedClaims is the real verification: signature with the pinned key and alg, then
// exp (required), iat (not in the future), nbf, iss and aud, all with a small leeway.
func (v *Verifier) verifySignedClaims(p *Platform, key PlatformKey, token string, unverified jwt.MapClaims) (jwt.MapClaims, error) {
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{key.Alg}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(p.Issuer),
		jwt.WithAudience(p.Audience),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway()),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	)
	mc := jwt.MapClaims{}
	_, err := parser.ParseWithClaims(token, mc, func(t *jwt.Token) (any, error) {
		if t.Method.Alg() != key.Alg { // WithValidMethods already refuses this; belt and braces
			return nil, fmt.Errorf("alg %s not pinned", t.Method.Alg())
		}
		return key.verificationKey(), nil
	})
	if err != nil {
		return nil, jwtTokenError(p, err, unverified)
	}
	return mc, nil
}

// jwtTokenError turns golang-jwt's joined errors into one reason, most fundamental first.
func jwtTokenError(p *Platform, err error, unverified jwt.MapClaims) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return tokenErr(ReasonMalformed, p.Name, "token is not a well-formed JWS")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return tokenErr(ReasonBadSignature, p.Name, "signature does not verify with the platform's %s key; check the signing key and that the token was not altered", p.Name)
	case errors.Is(err, jwt.ErrInvalidType):
		return tokenErr(ReasonBadClaim, p.Name, "a registered claim has the wrong type: exp, iat and nbf must be NumericDate numbers, iss a string, aud a string or array of strings")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		if missing := missingOf(unverified, "exp", "aud"); missing != "" {
			return tokenErr(ReasonMissingClaim, p.Name, "token lacks required claim(s) %s", missing)
		}
		return tokenErr(ReasonBadClaim, p.Name, "token exp or aud is empty, zero or of the wrong type")
	case errors.Is(err, jwt.ErrTokenExpired):
		return tokenErr(ReasonExpired, p.Name, "token has expired; mint a fresh token for each redirect")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return tokenErr(ReasonIssuedInFuture, p.Name, "token iat is in the future; check the platform's clock")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return tokenErr(ReasonNotYetValid, p.Name, "token nbf is in the future; check the platform's clock")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return tokenErr(ReasonBadAudience, p.Name, "token aud does not contain %s", clip(p.Audience))
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return tokenErr(ReasonBadIssuer, p.Name, "token iss is not %s", clip(p.Issuer))
	default:
		return tokenErr(ReasonBadSignature, p.Name, "token could not be verified")
	}
}

func missingOf(mc jwt.MapClaims, names ...string) string {
	var missing []string
	for _, n := range names {
		if _, ok := mc[n]; !ok {
			missing = append(missing, n)
		}
	}
	return strings.Join(missing, ", ")
}

// claimsFrom applies the handoff rules golang-jwt does not know: iat, jti and sub required,
// a lifetime cap, the xaccount_id format, and well-formed optional claims.
func (v *Verifier) claimsFrom(p *Platform, mc jwt.MapClaims) (Claims, error) {
	iat, _ := mc.GetIssuedAt()
	if iat == nil {
		return Claims{}, tokenErr(ReasonMissingClaim, p.Name, "token has no iat claim")
	}
	exp, _ := mc.GetExpirationTime()
	if !exp.After(iat.Time) {
		return Claims{}, tokenErr(ReasonBadClaim, p.Name, "token exp is not after its iat")
	}
	if life := exp.Sub(iat.Time); life > p.maxLifetime() {
		return Claims{}, tokenErr(ReasonLifetimeTooLong, p.Name, "token lives %s (exp−iat); the limit is %s", life, p.maxLifetime())
	}
	jti, err := jtiOf(p, mc)
	if err != nil {
		return Claims{}, err
	}
	sub, err := subjectOf(p, mc)
	if err != nil {
		return Claims{}, err
	}
	c := Claims{
		User:     user.User{XAccountID: sub, AuthTime: iat.Time},
		Issuer:   p.Issuer,
		IssuedAt: iat.Time,
		Expires:  exp.Time,
		ID:       jti,
	}
	if err := v.readAuthTime(p, mc, &c); err != nil {
		return Claims{}, err
	}
	if err := readSite(p, mc, &c); err != nil {
		return Claims{}, err
	}
	if err := readProfileClaims(p, v.Fields.OrDefault(), mc, &c); err != nil {
		return Claims{}, err
	}
	return c, nil
}

func jtiOf(p *Platform, mc jwt.MapClaims) (string, error) {
	raw, ok := mc["jti"]
	if !ok {
		return "", tokenErr(ReasonMissingClaim, p.Name, "token has no jti claim; give every token a unique random id")
	}
	jti, ok := raw.(string)
	if !ok || jti == "" || len(jti) > maxJTILen {
		return "", tokenErr(ReasonBadClaim, p.Name, "token jti must be a string of 1 to %d characters", maxJTILen)
	}
	for i := 0; i < len(jti); i++ {
		if jti[i] <= ' ' || jti[i] > '~' {
			return "", tokenErr(ReasonBadClaim, p.Name, "token jti must be printable ASCII without spaces")
		}
	}
	return jti, nil
}

func subjectOf(p *Platform, mc jwt.MapClaims) (string, error) {
	raw, ok := mc["sub"]
	if !ok {
		return "", tokenErr(ReasonMissingClaim, p.Name, "token has no sub claim; set it to the customer's xaccount_id")
	}
	sub, ok := raw.(string)
	if !ok {
		return "", tokenErr(ReasonBadSubject, p.Name, "token sub is not a string")
	}
	if err := ValidXAccountID(sub); err != nil {
		return "", tokenErr(ReasonBadSubject, p.Name, "token sub is not a valid xaccount_id: %v", err)
	}
	return sub, nil
}

func (v *Verifier) readAuthTime(p *Platform, mc jwt.MapClaims, c *Claims) error {
	raw, ok := mc[ClaimAuthTime]
	if !ok {
		return nil
	}
	secs, ok := raw.(float64) // encoding/json decodes every JSON number as float64
	if !ok || secs <= 0 || secs > 1<<40 {
		return tokenErr(ReasonBadClaim, p.Name, "token auth_time must be a positive NumericDate (seconds since 1970)")
	}
	at := time.Unix(int64(secs), 0)
	if at.After(c.IssuedAt.Add(v.leeway())) {
		return tokenErr(ReasonBadClaim, p.Name, "token auth_time is after its iat")
	}
	c.AuthTime = at
	return nil
}

// readSite reads the optional huawei_site claim: a site name, printable ASCII.
func readSite(p *Platform, mc jwt.MapClaims, c *Claims) error {
	raw, ok := mc[ClaimSite]
	if !ok {
		return nil
	}
	site, ok := raw.(string)
	if !ok || site == "" || len(site) > maxSiteLen {
		return tokenErr(ReasonBadClaim, p.Name, "token claim %s must be a site name of 1 to %d characters", ClaimSite, maxSiteLen)
	}
	for i := 0; i < len(site); i++ {
		if site[i] <= ' ' || site[i] > '~' {
			return tokenErr(ReasonBadClaim, p.Name, "token claim %s must be printable ASCII without spaces", ClaimSite)
		}
	}
	c.Site = site
	return nil
}

// readProfileClaims copies the registered fields' claims and the other string claims. Their
// values end up in SAML attributes, so control characters and invalid UTF-8 are refused.
func readProfileClaims(p *Platform, fields user.Registry, mc jwt.MapClaims, c *Claims) error {
	for _, f := range fields {
		raw, ok := mc[f.Claim]
		if !ok || raw == nil {
			continue
		}
		s, ok := raw.(string)
		if !ok {
			return tokenErr(ReasonBadClaim, p.Name, "token claim %s must be a string", f.Claim)
		}
		if err := checkClaimText(f.Claim, s); err != nil {
			return tokenErr(ReasonBadClaim, p.Name, "%v", err)
		}
		c.Set(f.Name, s)
	}
	for name, raw := range mc {
		s, ok := raw.(string)
		if _, isField := fields.ByClaim(name); registeredClaims[name] || name == ClaimAuthTime || name == ClaimSite || isField || !ok {
			continue // non-string extras (numbers, arrays) are not attributes; they are ignored
		}
		if err := checkClaimName(name); err != nil {
			return tokenErr(ReasonBadClaim, p.Name, "%v", err)
		}
		if err := checkClaimText(name, s); err != nil {
			return tokenErr(ReasonBadClaim, p.Name, "%v", err)
		}
		if c.Extra == nil {
			c.Extra = map[string]string{}
		}
		c.Extra[name] = s
	}
	return nil
}

func checkClaimName(name string) error {
	if name == "" || len(name) > maxClaimNameLen {
		return fmt.Errorf("a claim name is empty or longer than %d bytes", maxClaimNameLen)
	}
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] > '~' {
			return fmt.Errorf("claim name %s must be printable ASCII without spaces", clip(name))
		}
	}
	return nil
}

func checkClaimText(name, s string) error {
	if len(s) > maxClaimValueLen {
		return fmt.Errorf("claim %s is longer than %d bytes", clip(name), maxClaimValueLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("claim %s is not valid UTF-8", clip(name))
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffe || r == 0xffff {
			return fmt.Errorf("claim %s contains a control character", clip(name))
		}
	}
	return nil
}

func (v *Verifier) markUsed(ctx context.Context, p *Platform, c Claims) error {
	// jti has no spaces, so "issuer jti" is unambiguous across platforms.
	id := p.Issuer + " " + c.ID
	err := v.Replay.MarkUsed(ctx, id, c.Expires.Add(v.leeway()))
	switch {
	case errors.Is(err, ErrReplay):
		return &TokenError{Reason: ReasonReplay, Platform: p.Name, Msg: "token id (jti) was already used; mint a new token for every redirect", Err: ErrReplay}
	case err != nil:
		return fmt.Errorf("handoff: recording token id for platform %s: %w", p.Name, err)
	}
	return nil
}
