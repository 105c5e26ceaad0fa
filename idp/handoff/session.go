package handoff

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
}

type sessionClaims struct {
	jwt.RegisteredClaims
	Name     string            `json:"name,omitempty"`
	Mobile   string            `json:"mobile,omitempty"`
	Email    string            `json:"email,omitempty"`
	BPID     string            `json:"bp_id,omitempty"`
	Extra    map[string]string `json:"ext,omitempty"`
	AuthTime int64             `json:"auth_time"`
}

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
	if err := ValidXAccountID(c.Subject); err != nil {
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
	sc := sessionClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    c.Issuer,
			Subject:   c.Subject,
			Audience:  jwt.ClaimStrings{SessionAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(expires),
		},
		Name: c.Name, Mobile: c.Mobile, Email: c.Email, BPID: c.BPID, Extra: c.Extra,
		AuthTime: authTime.Unix(),
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
	var sc sessionClaims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithAudience(SessionAudience),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(sessionLeeway),
		jwt.WithTimeFunc(s.now),
		jwt.WithStrictDecoding(),
	)
	_, err = parser.ParseWithClaims(ck.Value, &sc, func(*jwt.Token) (any, error) { return s.Secret, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, fmt.Errorf("%w: session expired", ErrNoSession)
	case err != nil:
		return Claims{}, fmt.Errorf("%w: session cookie is invalid", ErrNoSession)
	}
	if ValidXAccountID(sc.Subject) != nil || sc.Issuer == "" || sc.IssuedAt == nil {
		return Claims{}, fmt.Errorf("%w: session cookie lacks subject, issuer or iat", ErrNoSession)
	}
	return Claims{
		Subject:  sc.Subject,
		Name:     sc.Name,
		Mobile:   sc.Mobile,
		Email:    sc.Email,
		BPID:     sc.BPID,
		Extra:    sc.Extra,
		Issuer:   sc.Issuer,
		IssuedAt: sc.IssuedAt.Time,
		AuthTime: time.Unix(sc.AuthTime, 0),
		Expires:  sc.ExpiresAt.Time,
	}, nil
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
