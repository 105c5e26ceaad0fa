package mockiam

import (
	"context"
	"log/slog"
	"time"
	"unicode/utf8"
)

// EventKind says which step of the flow an Event records.
type EventKind string

// Event kinds.
const (
	EventLogin    EventKind = "login"    // the login link; AuthnRequest sent or refused
	EventACS      EventKind = "acs"      // a posted SAMLResponse
	EventSession  EventKind = "session"  // what happened to the user after an accepted Response
	EventBind     EventKind = "bind"     // bind form and notification
	EventUnbind   EventKind = "unbind"   // console unbind and notification
	EventLogout   EventKind = "logout"   // logout link
	EventEndpoint EventKind = "endpoint" // other endpoints (unknown paths, SLO)
)

// Event is one decision of the mock, newest last in Events.
type Event struct {
	Time         time.Time
	Kind         EventKind
	Accepted     bool
	Reason       Reason // empty when accepted
	Detail       string
	XAccountType string
	XUserID      string
	RequestID    string
	AssertionID  string
	DomainID     string
	// Link is the login link as the browser sent it, path and query
	// (login events).
	Link string
	// Message is the step's protocol message, decoded for reading, when
	// Config.KeepMessages is on: the AuthnRequest XML the mock sent (login),
	// the Response XML it received (acs), the notification JSON it sent
	// (bind, unbind). It holds no key or session secret; it is never
	// logged. At most MaxEventMessage bytes; empty when the step had none.
	Message string
}

const maxEvents = 256

// MaxEventMessage bounds Event.Message; a real Response is a few KiB.
const MaxEventMessage = 64 << 10

// eventMessage keeps a decoded message for Event.Message: UTF-8 text up to
// MaxEventMessage bytes, nothing otherwise.
func eventMessage(b []byte) string {
	if len(b) > MaxEventMessage || !utf8.Valid(b) {
		return ""
	}
	return string(b)
}

// Events returns the most recent decisions, oldest first.
func (m *IAM) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Event(nil), m.events...)
}

// LastEvent returns the newest decision of a kind.
func (m *IAM) LastEvent(kind EventKind) (Event, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.events) - 1; i >= 0; i-- {
		if m.events[i].Kind == kind {
			return m.events[i], true
		}
	}
	return Event{}, false
}

// record keeps e and logs it: refusals at Warn with their reason.
func (m *IAM) record(e Event) {
	e.Time = m.now()
	m.mu.Lock()
	m.events = append(m.events, e)
	if len(m.events) > maxEvents {
		m.events = append([]Event(nil), m.events[len(m.events)-maxEvents:]...)
	}
	m.mu.Unlock()

	attrs := []slog.Attr{slog.String("event", string(e.Kind))}
	for _, kv := range [][2]string{
		{"xAccountType", e.XAccountType}, {"xUserId", e.XUserID}, {"request_id", e.RequestID},
		{"assertion_id", e.AssertionID}, {"domain_id", e.DomainID},
	} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	if e.Accepted {
		if e.Detail != "" {
			attrs = append(attrs, slog.String("detail", e.Detail))
		}
		m.log.LogAttrs(context.Background(), slog.LevelInfo, "mockiam: accepted", attrs...)
		return
	}
	attrs = append(attrs, slog.String("reason", string(e.Reason)), slog.String("detail", e.Detail))
	m.log.LogAttrs(context.Background(), slog.LevelWarn, "mockiam: refused", attrs...)
}
