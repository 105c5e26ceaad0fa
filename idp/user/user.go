// Package user is the bridge's one model of the partner platform's
// customer: what a handoff token says about them, what the session cookie
// keeps, and what attribute profiles read when an assertion is built.
//
// Each optional customer field is declared once, in Fields: its name (the
// profile source, "from: name"), the handoff-token claim it is read from
// (also its key in the session cookie) and its check. Adding a field (say,
// the customer's company) is one entry there plus, to send it, one line in
// a profile; handoff, the session and samlresp read the registry and need
// no change.
//
// It imports nothing of the bridge, so handoff and samlresp can both use it.
package user

import (
	"maps"
	"time"
)

// User is the platform's authenticated customer.
type User struct {
	// XAccountID is the partner-side account ID Huawei binds to (the
	// handoff token's sub): the one field every user has.
	XAccountID string
	// Fields holds the registered optional fields (Registry) by field
	// name; an absent or empty value means the platform did not say.
	Fields map[string]string
	// Extra holds the handoff token's other string claims by claim name,
	// for "claim:<name>" profile rules.
	Extra map[string]string
	// AuthTime is when the platform authenticated the user.
	AuthTime time.Time
}

// Get returns the value of a registered field, or "" when unknown.
func (u User) Get(field string) string { return u.Fields[field] }

// Set sets a registered field; an empty value removes it.
func (u *User) Set(field, value string) {
	if value == "" {
		delete(u.Fields, field)
		return
	}
	if u.Fields == nil {
		u.Fields = map[string]string{}
	}
	u.Fields[field] = value
}

// Clone returns a copy that shares no map with u.
func (u User) Clone() User {
	u.Fields = maps.Clone(u.Fields)
	u.Extra = maps.Clone(u.Extra)
	return u
}
