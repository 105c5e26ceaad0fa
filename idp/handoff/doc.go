// Package handoff is the bridge's front door for partner platforms: it verifies the platform's
// short-lived handoff JWT (pinned algorithm per key, iss/aud/exp/iat/jti/sub rules, single-use
// jti), issues and reads the bridge's own session cookie, builds Huawei IAM's partner SAML login
// link, and keeps the `service` URL on an allow-list so the bridge is never an open redirect.
//
// It knows nothing of SAML messages or storage: replay protection goes through ReplayStore,
// which the idp layer backs with the bbolt store.
package handoff
