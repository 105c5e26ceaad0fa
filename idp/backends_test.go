package idp

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
)

// TestJourneyOnEachBackend runs the whole first-login journey on every
// backend the env can open: handoff with isFirstLogin=true, Huawei's
// AuthnRequest without a session deferred to the platform and resumed with
// the original InResponseTo, the bind notification stored, its replay
// refused, and the next handoff with isFirstLogin=false. The other idp
// tests run on the memory backend.
func TestJourneyOnEachBackend(t *testing.T) {
	for _, backend := range []string{"memory", "bolt"} {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, envOptions{backend: backend})
			p := e.get(handoffURL(e.token(customer, nil), consoleURL))
			if !strings.Contains(p.Location, "isFirstLogin=true") {
				t.Fatalf("first handoff: %d %s", p.Status, p.Location)
			}
			e.browser.Jar, _ = newJar() // Huawei comes back in a browser without our session
			req := e.newRequest("_journey-" + backend)
			p = e.get(ssoURL + "?" + req.Query(t))
			prefix := platformLogin + "&return_to="
			if p.Status != http.StatusFound || !strings.HasPrefix(p.Location, prefix) {
				t.Fatalf("AuthnRequest without a session: %d %q", p.Status, p.Location)
			}
			returnTo, err := url.QueryUnescape(strings.TrimPrefix(p.Location, prefix))
			if err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(30 * time.Second)
			f := readSAMLForm(t, e.get(returnTo+"&"+url.Values{"token": {e.token(customer, customerClaims())}, "service": {consoleURL}}.Encode()))
			checkAssertion(t, e, f, req.ID)
			if p := e.get(ssoURL + "?" + req.Query(t)); p.Status != http.StatusBadRequest || pageReason(p) != "replay" {
				t.Errorf("the same AuthnRequest again: %d %q, want 400 replay", p.Status, pageReason(p))
			}

			n := notification(t, e.spKey, bindFields(customer, "dom-"+backend, 0))
			if p := e.post(publicURL+PathBind, n); p.Status != http.StatusFound {
				t.Fatalf("bind notification: %d %s", p.Status, p.Body)
			}
			if p := e.post(publicURL+PathBind, n); p.Status != http.StatusConflict || pageReason(p) != ReasonNotificationReplay {
				t.Errorf("replayed notification: %d %q", p.Status, pageReason(p))
			}
			if b, err := e.db.Get(context.Background(), binding.Key{XAccountType: xAccountType, XAccountID: customer}); err != nil || b.DomainID != "dom-"+backend {
				t.Fatalf("stored binding %+v, %v", b, err)
			}
			if p := e.get(handoffURL(e.token(customer, nil), consoleURL)); !strings.Contains(p.Location, "isFirstLogin=false") {
				t.Errorf("handoff after binding: %s", p.Location)
			}
		})
	}
}
