package mockiam

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestEventsKeepMessagesWhenAsked: with KeepMessages, the login, ACS and
// bind events carry the login link and the decoded AuthnRequest, Response
// and notification (the demo's trace reads them); without it, none, and
// the log never holds them.
func TestEventsKeepMessagesWhenAsked(t *testing.T) {
	for _, keep := range []bool{true, false} {
		p := newPartner(t, "")
		h := newHarness(t, harnessOpts{notificationURL: p.srv.URL + "/bind", keepMessages: keep})
		_, body := h.answer(h.idp.goodSpec(h.login(true, "")))
		action, form := parseForm(t, body, "create-form")
		form.Set("domainName", "events_co")
		h.post(action, form)

		byKind := map[EventKind]Event{}
		for _, e := range h.iam.Events() {
			byKind[e.Kind] = e
		}
		login, acs, bind := byKind[EventLogin], byKind[EventACS], byKind[EventBind]
		if !strings.HasPrefix(login.Link, PathLogin+"?") || !strings.Contains(login.Link, "isFirstLogin=true") {
			t.Errorf("keep=%v: login link %q", keep, login.Link)
		}
		if !keep {
			if login.Message != "" || acs.Message != "" || bind.Message != "" {
				t.Errorf("messages kept without KeepMessages")
			}
			continue
		}
		if !strings.Contains(login.Message, "<saml2p:AuthnRequest") || !strings.Contains(login.Message, login.RequestID) {
			t.Errorf("login message %q", login.Message)
		}
		if !strings.Contains(acs.Message, ":Response") || !strings.Contains(acs.Message, acs.AssertionID) {
			t.Errorf("ACS message does not hold the Response")
		}
		var n BindNotification
		if err := json.Unmarshal([]byte(bind.Message), &n); err != nil || n.DomainName != "events_co" || n.XUserID != "partner-user-1" || n.DomainID != bind.DomainID {
			t.Errorf("bind message %q: %+v %v", bind.Message, n, err)
		}
		if logs := h.logs.String(); strings.Contains(logs, "AuthnRequest xmlns") || strings.Contains(logs, "domainName") {
			t.Errorf("the log holds a message:\n%s", logs)
		}
	}
	if got := eventMessage([]byte("\xff")); got != "" {
		t.Errorf("non-UTF-8 kept: %q", got)
	}
	if got := eventMessage(make([]byte, MaxEventMessage+1)); got != "" {
		t.Error("an oversized message was kept")
	}
}
