package idp

import (
	"crypto/x509"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/metadata"
)

// signedAssertionBy reports whether the Response's Assertion carries a
// signature that goxmldsig verifies with cert (and cert in its KeyInfo).
func signedAssertionBy(tb testing.TB, resp []byte, cert *x509.Certificate, now time.Time) error {
	tb.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(resp); err != nil {
		tb.Fatal(err)
	}
	a := doc.Root().FindElement("./Assertion")
	if a == nil {
		tb.Fatal("the Response has no Assertion")
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	ctx.Clock = dsig.NewFakeClockAt(now)
	_, err := ctx.Validate(a)
	return err
}

// slotEnv is an env whose Builder signs through a SignerSlot only: no
// concrete key is given to idp.New.
func slotEnv(t *testing.T) (*env, *metadata.SignerSlot) {
	t.Helper()
	signer, err := metadata.NewKeySigner(loadKey(t, "idp-current"))
	if err != nil {
		t.Fatal(err)
	}
	slot, err := metadata.NewSignerSlot(signer)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{tweak: func(c *Config) {
		c.Builder.Key = metadata.SigningKey{}
		c.Builder.Signer = slot
	}})
	return e, slot
}

// sso answers one AuthnRequest for a browser with a session and returns the
// Response.
func (e *env) sso(t *testing.T, id string) []byte {
	t.Helper()
	req := e.newRequest(id)
	return readSAMLForm(t, e.get(ssoURL+"?"+req.Query(t))).SAMLResponse
}

// The server signs through the signer seam: a SignerSlot with no key in
// Builder.Key; a swap makes the next Response signed by the new key, and
// readiness reads the certificate of the signer in the slot.
func TestServerSignsThroughSignerSlot(t *testing.T) {
	e, slot := slotEnv(t)
	current, next := loadKey(t, "idp-current"), loadKey(t, "idp-next")
	e.login(customer)

	resp := e.sso(t, "_slot-before-0123456789abcdef")
	if err := signedAssertionBy(t, resp, current.Cert, e.clock.Now()); err != nil {
		t.Fatalf("before the swap: not signed by the current key: %v", err)
	}
	nextSigner, err := metadata.NewKeySigner(next)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slot.Swap(nextSigner); err != nil {
		t.Fatal(err)
	}
	resp = e.sso(t, "_slot-after-0123456789abcdef")
	if err := signedAssertionBy(t, resp, next.Cert, e.clock.Now()); err != nil {
		t.Fatalf("after the swap: not signed by the next key: %v", err)
	}
	if err := signedAssertionBy(t, resp, current.Cert, e.clock.Now()); err == nil {
		t.Fatal("after the swap: the Response still verifies with the old certificate")
	}
	if !e.cfg.Builder.SigningCertificate().Equal(next.Cert) {
		t.Fatal("SigningCertificate after the swap is not the next key's")
	}
	if err := e.srv.Health(t.Context()); err != nil {
		t.Fatalf("not ready after the swap: %v", err)
	}
}

// New needs a usable signer, from Builder.Signer or Builder.Key, and says so.
func TestNewNeedsASigner(t *testing.T) {
	empty, _ := metadata.NewSignerSlot(nil) // refused: a nil slot
	cases := []struct {
		name  string
		tweak func(*Config)
		want  string // "" means New succeeds
	}{
		{"key pair only", func(c *Config) {}, ""},
		{"signer only", func(c *Config) {
			s, _ := metadata.NewKeySigner(loadKey(t, "idp-current"))
			slot, _ := metadata.NewSignerSlot(s)
			c.Builder.Key, c.Builder.Signer = metadata.SigningKey{}, slot
		}, ""},
		{"neither", func(c *Config) { c.Builder.Key = metadata.SigningKey{} }, "Builder needs a Signer"},
		{"an empty slot", func(c *Config) {
			c.Builder.Key, c.Builder.Signer = metadata.SigningKey{}, &metadata.SignerSlot{}
		}, "no signer"},
		{"key without its certificate", func(c *Config) { c.Builder.Key.Cert = loadKey(t, "idp-next").Cert }, "does not belong"},
	}
	if empty != nil {
		t.Fatal("NewSignerSlot(nil) made a slot")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{noTLS: true})
			cfg := e.cfg
			b := *cfg.Builder
			cfg.Builder = &b
			v := *cfg.Verifier
			cfg.Verifier = &v
			tc.tweak(&cfg)
			_, err := New(cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != "" && (err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("New: %v; want a ConfigError saying %q", err, tc.want)
			}
		})
	}
}

// Reload replaces the platforms whose handoff tokens are accepted; a set
// that New would refuse (CheckReload says why) changes nothing, and the old
// keys keep working.
func TestReloadPlatforms(t *testing.T) {
	p := loadPlatform(t)
	esKeys, err := handoff.LoadPlatformKeys(handoff.KeySource{PEMFile: filepath.Join(handoffDir, "platform-es256.pub.pem"), Alg: handoff.AlgES256})
	if err != nil {
		t.Fatal(err)
	}
	rotated := []handoff.Platform{{Name: "platform", Issuer: platformIss, Audience: platformAud, Keys: esKeys}}
	cases := []struct {
		name      string
		platforms []handoff.Platform
		want      string
	}{
		{"no platforms", []handoff.Platform{}, "no platforms"},
		{"two platforms with one issuer", append(append([]handoff.Platform{}, rotated...), handoff.Platform{Name: "other", Issuer: platformIss, Audience: platformAud, Keys: esKeys}), "used by another platform"},
		{"a platform without keys", []handoff.Platform{{Name: "platform", Issuer: platformIss, Audience: platformAud}}, "key"},
		{"a token lifetime the store cannot keep", []handoff.Platform{{Name: "platform", Issuer: platformIss, Audience: platformAud, Keys: esKeys, MaxLifetime: 2 * time.Hour}}, "lifetime"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			if err := e.srv.CheckReload(Reloaded{Platforms: tc.platforms}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckReload: %v; want an error saying %q", err, tc.want)
			}
			if err := e.srv.Reload(Reloaded{Platforms: tc.platforms}); err == nil {
				t.Fatal("Reload took what CheckReload refused")
			}
			e.login(customer) // the old key still works
		})
	}
	t.Run("rotated key", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		if err := e.srv.Reload(Reloaded{Platforms: rotated}); err != nil {
			t.Fatal(err)
		}
		if pg := e.get(handoffURL(e.token(customer, nil), consoleURL)); pg.Status == http.StatusFound {
			t.Fatal("a token signed with the replaced key was accepted")
		}
		e.minter = &handoff.Minter{Issuer: platformIss, Audience: platformAud, Alg: handoff.AlgES256, Key: p.es256, Clock: e.clock.Now}
		e.login(customer)
	})
}
