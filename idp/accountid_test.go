package idp

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestBindNotificationOddXUserID: a signed notification whose xUserId a
// token's sub could never equal is refused (bad_fields, naming the
// character's position) and stores nothing (issue 11 item 3).
func TestBindNotificationOddXUserID(t *testing.T) {
	e := newEnv(t, envOptions{})
	for name, id := range map[string]string{
		"zero-width space":  customer + "\u200b",
		"bidi override":     "\u202e" + customer,
		"surrounding space": " " + customer,
		"fullwidth":         "ｃｕｓｔ-0001",
	} {
		t.Run(name, func(t *testing.T) {
			p := e.post(publicURL+PathBind, notification(t, e.spKey, bindFields(id, "d1", 0)))
			if p.Status != http.StatusBadRequest || pageReason(p) != ReasonBadFields || !strings.Contains(p.Body, "at position") {
				t.Fatalf("%d %q:\n%s", p.Status, pageReason(p), p.Body)
			}
			if n, err := e.db.Count(context.Background()); err != nil || n != 0 {
				t.Fatalf("%d bindings stored (%v)", n, err)
			}
			checkEvent(t, e.oneEvent(), AuditEvent{Event: EventBindNotification, Verdict: VerdictRefused, Reason: ReasonBadFields})
		})
	}
}
