package handoff

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/partneridp/partneridp/idp/user"
)

const (
	// SessionAudience is the aud of bridge session tokens; it keeps them apart from platform
	// handoff tokens even if a secret were ever shared by mistake.
	SessionAudience = "partneridp-session"
	// DefaultSessionLifetime applies when Sessions.Lifetime is zero.
	DefaultSessionLifetime = 8 * time.Hour
	// SessionCookieSecure is the cookie name over https: the __Host- prefix makes browsers refuse
	// it unless it is Secure, has Path=/ and no Domain, so sibling hosts cannot plant one.
	SessionCookieSecure = "__Host-partneridp_session"
	// SessionCookiePlain is the cookie name over plain http (local development only).
	SessionCookiePlain = "partneridp_session"

	// maxSessionCookieBytes keeps the whole Set-Cookie under browsers' 4096-byte limit.
	maxSessionCookieBytes = 3800
	sessionLeeway         = 30 * time.Second
)

// ErrSessionTooLarge is returned by Start when the claims do not fit in one cookie.
var ErrSessionTooLarge = errors.New("handoff: session claims do not fit in a cookie; send fewer or shorter extra claims")

// Sessions issues and reads the bridge's own session cookie: an HS256 JWT signed with the
// bridge's session secret.
type Sessions struct {
	Secret   []byte        // ≥ MinHS256SecretBytes, never a platform's secret
	Lifetime time.Duration // 0: DefaultSessionLifetime
	Secure   bool          // served over https: __Host- name and the Secure attribute
	Clock    func() time.Time
	Fields   user.Registry // the customer's registered fields; nil: user.Fields
}

// The session cookie's JWT claims besides the registered ones: each registered user field
// under its token claim name (as in the handoff token), the other claims under ext, and
// auth_time. Cookies keep this shape so that a cookie set before an upgrade (or after a
// rollback) is still read.
const (
	sessionClaimExtra    = "ext"
	sessionClaimAuthTime = ClaimAuthTime
)

// CookieName is the session cookie's name for this deployment.
func (s *Sessions) CookieName() string {
	if s.Secure {
		return SessionCookieSecure
	}
	return SessionCookiePlain
}

func (s *Sessions) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

func (s *Sessions) lifetime() time.Duration {
	if s.Lifetime <= 0 {
		return DefaultSessionLifetime
	}
	return s.Lifetime
}

// Validate reports an unusable session configuration.
func (s *Sessions) Validate() error {
	if len(s.Secret) < MinHS256SecretBytes {
		return configErr("session", "session secret is %d bytes; at least %d random bytes are needed", len(s.Secret), MinHS256SecretBytes)
	}
	if s.Lifetime < 0 {
		return configErr("session", "session lifetime must not be negative")
	}
	return nil
}

// Start sets the session cookie for the customer in c (a verified handoff).
func (s *Sessions) Start(w http.ResponseWriter, c Claims) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := ValidXAccountID(c.XAccountID); err != nil {
		return fmt.Errorf("handoff: cannot start session: %w", err)
	}
	if c.Issuer == "" {
		return errors.New("handoff: cannot start session: claims have no platform issuer")
	}
	now := s.now()
	authTime := c.AuthTime
	if authTime.IsZero() {
		authTime = c.IssuedAt
	}
	if authTime.IsZero() {
		authTime = now
	}
	expires := now.Add(s.lifetime())
	sc := jwt.MapClaims{
		"iss":                c.Issuer,
		"sub":                c.XAccountID,
		"aud":                []string{SessionAudience},
		"iat":                jwt.NewNumericDate(now),
		"exp":                jwt.NewNumericDate(expires),
		sessionClaimAuthTime: authTime.Unix(),
	}
	for _, f := range s.Fields.OrDefault() {
		if v := c.Get(f.Name); v != "" {
			sc[f.Claim] = v
		}
	}
	if len(c.Extra) > 0 {
		sc[sessionClaimExtra] = c.Extra
	}
	value, err := jwt.NewWithClaims(jwt.SigningMethodHS256, sc).SignedString(s.Secret)
	if err != nil {
		return fmt.Errorf("handoff: signing session: %w", err)
	}
	if len(value) > maxSessionCookieBytes {
		return ErrSessionTooLarge
	}
	http.SetCookie(w, s.cookie(value, int(s.lifetime()/time.Second), expires))
	return nil
}

// Read returns the session's claims. Any problem (absent, expired, tampered, signed with
// another secret) is ErrNoSession, wrapped with the reason.
func (s *Sessions) Read(r *http.Request) (Claims, error) {
	if err := s.Validate(); err != nil {
		return Claims{}, err
	}
	ck, err := r.Cookie(s.CookieName())
	if err != nil || ck.Value == "" {
		return Claims{}, fmt.Errorf("%w: no %s cookie", ErrNoSession, s.CookieName())
	}
	if len(ck.Value) > maxSessionCookieBytes {
		return Claims{}, fmt.Errorf("%w: cookie is too large", ErrNoSession)
	}
	sc := jwt.MapClaims{}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithAudience(SessionAudience),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(sessionLeeway),
		jwt.WithTimeFunc(s.now),
		jwt.WithStrictDecoding(),
	)
	_, err = parser.ParseWithClaims(ck.Value, sc, func(*jwt.Token) (any, error) { return s.Secret, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, fmt.Errorf("%w: session expired", ErrNoSession)
	case err != nil:
		return Claims{}, fmt.Errorf("%w: session cookie is invalid", ErrNoSession)
	}
	c, ok := s.claimsOf(sc)
	if !ok {
		return Claims{}, fmt.Errorf("%w: session cookie lacks subject, issuer or iat", ErrNoSession)
	}
	return c, nil
}

// claimsOf reads a verified session's claims; false when one is missing or of the wrong type.
func (s *Sessions) claimsOf(sc jwt.MapClaims) (Claims, bool) {
	sub, _ := sc.GetSubject()
	iss, _ := sc.GetIssuer()
	iat, _ := sc.GetIssuedAt()
	exp, _ := sc.GetExpirationTime()
	if ValidXAccountID(sub) != nil || iss == "" || iat == nil || exp == nil {
		return Claims{}, false
	}
	c := Claims{User: user.User{XAccountID: sub}, Issuer: iss, IssuedAt: iat.Time, Expires: exp.Time}
	var authTime float64 // encoding/json decodes every JSON number as float64
	if raw, ok := sc[sessionClaimAuthTime]; ok {
		if authTime, ok = raw.(float64); !ok {
			return Claims{}, false
		}
	}
	c.AuthTime = time.Unix(int64(authTime), 0)
	for _, f := range s.Fields.OrDefault() {
		raw, ok := sc[f.Claim]
		if !ok {
			continue
		}
		v, ok := raw.(string)
		if !ok {
			return Claims{}, false
		}
		c.Set(f.Name, v)
	}
	if raw, ok := sc[sessionClaimExtra]; ok {
		ext, ok := raw.(map[string]any)
		if !ok {
			return Claims{}, false
		}
		c.Extra = make(map[string]string, len(ext))
		for name, raw := range ext {
			v, ok := raw.(string)
			if !ok {
				return Claims{}, false
			}
			c.Extra[name] = v
		}
	}
	return c, true
}

// End clears the session cookie.
func (s *Sessions) End(w http.ResponseWriter) {
	http.SetCookie(w, s.cookie("", -1, time.Unix(0, 0)))
}

func (s *Sessions) cookie(value string, maxAge int, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name:     s.CookieName(),
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		Expires:  expires.UTC(),
		Secure:   s.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}
