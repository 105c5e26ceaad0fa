package idp

import (
	"net/http"
	"sort"

	"github.com/partneridp/partneridp/idp/platformapi"
	"github.com/partneridp/partneridp/idp/samlreq"
	"github.com/partneridp/partneridp/idp/webhook"
)

// ReasonKind says what an emitted reason means.
type ReasonKind string

const (
	// KindRefusal: the request was refused (4xx page; audit verdict refused).
	KindRefusal ReasonKind = "refusal"
	// KindInternal: our side failed (5xx page with a reference; verdict error).
	KindInternal ReasonKind = "internal"
	// KindSAMLError: a signed SAML error Response was posted to the SP
	// (verdict error_response).
	KindSAMLError ReasonKind = "saml_error"
	// KindOutcome: not a failure; the reason qualifies a successful verdict
	// (redirected, deferred, stored, logged_out, confirm_asked, ...).
	KindOutcome ReasonKind = "outcome"
)

// ReasonInfo is one reason the bridge can emit on a page, in the audit log
// (AuditEvent.Reason) or as a metrics label.
type ReasonInfo struct {
	Code   string
	Kind   ReasonKind
	Status int    // HTTP status of the answer (the usual one where a few apply; see Note)
	Where  string // the endpoints or layer that emit it
	Fix    string // what the operator (or the platform developer) does about it
}

// Reasons not defined as constants elsewhere (the sub-packages' reasons are
// referenced by their constants below).
const (
	ReasonBadHandoffRequest  = "bad_handoff_request"
	ReasonSessionTooLarge    = "session_too_large"
	ReasonInvalidUser        = "invalid_user"
	ReasonBadRelayState      = "bad_relay_state"
	ReasonInvalidBinding     = "invalid_binding"
	ReasonBadEncoding        = "bad_encoding"
	ReasonBadFields          = "bad_fields"
	ReasonUnbindMismatch     = "unbind_mismatch"
	ReasonNotificationReplay = "notification_replay"
	ReasonRequestTooLarge    = "request_too_large"
	ReasonRateLimited        = "rate_limited"
	ReasonStoreUnavailable   = "store_unavailable"
	ReasonNoDefaultSP        = "no_default_sp"
	ReasonCanceled           = "canceled"
	ReasonInternal           = "internal"
	ReasonPanic              = "panic"
	ReasonWriteFailed        = "write_failed"
	ReasonNoPassive          = "no_passive"
	ReasonForceAuthnStale    = "force_authn_stale"
	ReasonNoSession          = "no_session"
	ReasonForceAuthn         = "force_authn"
	ReasonBound              = "bound"
	ReasonFirstLogin         = "first_login"
	ReasonBind               = "bind"
	ReasonUnbind             = "unbind"
	ReasonNoLogoutRequest    = "no_logout_request"
	ReasonSPHasNoSLO         = "sp_has_no_slo_endpoint"
	ReasonLogoutResponse     = "logout_response"
	ReasonSignatureMissing   = samlreq.ReasonSignatureMissing
	ReasonSigAlgNotAllowed   = samlreq.ReasonSigAlgNotAllowed
	ReasonBadSignature       = samlreq.ReasonBadSignature
	ReasonSignatureWrapping  = samlreq.ReasonSignatureWrapping
	reasonTokenPrefix        = "token_"
	reasonServicePrefix      = "service_"
	fixStartAgain            = "the user starts again from the platform's console link"
	fixSPMetadata            = "check that huawei.site / huawei.sp_metadata name the SP that sends the requests; `partneridp sp-metadata inspect` shows it"
	fixPlatformToken         = "fix the platform's token minting (see \"For platform developers\"); `partneridp token --verify` checks a token"
	fixClock                 = "sync the clocks (NTP) of the platform, Huawei's side and the bridge; widen idp.clock_skew only if you must"
	fixNone                  = "nothing: informational"
	fixReport                = "look up the reference in the log; if it repeats, report it with the log line"
	fixNotificationSignature = "check the Notification URL in Partner Center and that the SP metadata (huawei.sp_metadata) is Huawei's current one"
	fixServiceHosts          = "the platform sends a service URL Huawei's console does not use: fix it, or add the console host to huawei.service_hosts"
	fixHandoffOrigin         = "the handoff must come from the platform's pages: add their origin to platforms[].origins; if the platform page sends no Referer, set Referrer-Policy: strict-origin-when-cross-origin there (or, weaker, platforms[].handoff_without_origin: true)"
	fixAttackOrMistake       = "none if it is an attack; otherwise the sender must follow the SAML HTTP-Redirect/POST binding exactly"
	fixRequestTooLarge       = "the client sent headers or a URL over the caps (32 KiB headers, 16 KiB URL): usually oversized cookies for the bridge's host, or a bot; clear the cookies"
)

// reasonRegistry is the one list of every reason the bridge emits. The
// README's troubleshooting table is checked against it
// (TestReadmeTroubleshootingMatchesRegistry).
var reasonRegistry = []ReasonInfo{
	// The HTTP edge and the request shape.
	{ReasonMethodNotAllowed, KindRefusal, http.StatusMethodNotAllowed, "every SSO endpoint", "the client used the wrong HTTP method: the SP or platform must use GET (or POST where documented)"},
	{ReasonBadForm, KindRefusal, http.StatusBadRequest, "POST endpoints", "POST as application/x-www-form-urlencoded, within the body cap (415 for another type, 413 over the cap)"},
	{ReasonDuplicateParam, KindRefusal, http.StatusBadRequest, "every SSO endpoint", "each parameter may appear once; a proxy or the sender duplicated it"},
	{ReasonNotFound, KindRefusal, http.StatusNotFound, "any other path (also /metrics on the public listener)", "use the documented paths; /metrics is on admin.listen"},
	{ReasonRequestTooLarge, KindRefusal, http.StatusRequestHeaderFieldsTooLarge, "before any handler (414 for a URL over 16 KiB)", fixRequestTooLarge},
	{ReasonRateLimited, KindRefusal, http.StatusTooManyRequests, "/sso/huawei, /saml/sso, /saml/slo, /huawei/bind", "the client IP went over limits.per_ip_per_minute; behind a proxy set tls.trusted_proxies so the real client IP is used"},
	// AuthnRequest / LogoutRequest intake (samlreq).
	{samlreq.ReasonNoMessage, KindRefusal, http.StatusBadRequest, "/saml/sso", "no SAMLRequest: the user opened the SSO URL directly; start from the platform"},
	{samlreq.ReasonMalformedQuery, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo", "a proxy re-encoded the query string; pass it through byte for byte"},
	{samlreq.ReasonSignatureMissing, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo, /huawei/bind", "an unsigned request or notification: Huawei signs both; turn on request signing at a test SP"},
	{samlreq.ReasonSigAlgNotAllowed, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo, /huawei/bind", "rsa-sha1 or an unknown algorithm: Huawei signs with rsa-sha256; for an old test SP set idp.allow_rsa_sha1: true"},
	{samlreq.ReasonBadSignature, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo, /huawei/bind", "the signature does not verify with the SP metadata's certificates: wrong SP metadata, Huawei rotated its key (reload the metadata), or a proxy re-encoded the query"},
	{samlreq.ReasonSignatureWrapping, KindRefusal, http.StatusBadRequest, "/saml/sso (POST)", "a signature-wrapping shape (several signatures, one below the root, or a Reference to another element): an attack or a broken SP; nothing to fix on the bridge"},
	{samlreq.ReasonUndecodable, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo", fixAttackOrMistake},
	{samlreq.ReasonTooLarge, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo", "the message inflates beyond the cap: " + fixAttackOrMistake},
	{samlreq.ReasonDTD, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo", "a DOCTYPE in the message: refused always (XXE); " + fixAttackOrMistake},
	{samlreq.ReasonMalformedXML, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo", fixAttackOrMistake},
	{samlreq.ReasonWrongMessage, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo", "the root element is not an AuthnRequest (or LogoutRequest at /saml/slo): check the SP's endpoint configuration"},
	{samlreq.ReasonMissingIssuer, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo", fixSPMetadata},
	{samlreq.ReasonUnknownIssuer, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo", fixSPMetadata},
	{samlreq.ReasonBadVersion, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo", "Version must be 2.0: " + fixAttackOrMistake},
	{samlreq.ReasonMissingID, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo", fixAttackOrMistake},
	{samlreq.ReasonBadIssueInstant, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo", fixAttackOrMistake},
	{samlreq.ReasonExpired, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo", "IssueInstant is older than idp.clock_skew: " + fixClock},
	{samlreq.ReasonIssuedInFuture, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo", "IssueInstant is in the future: " + fixClock},
	{samlreq.ReasonWrongDestination, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo", "Destination differs from <public_url>/saml/sso: public_url must be exactly the URL in the uploaded metadata"},
	{samlreq.ReasonACSMismatch, KindRefusal, http.StatusBadRequest, "/saml/sso", "the request names an ACS that is not in the SP metadata: refresh the SP metadata (`sp-metadata inspect`)"},
	{samlreq.ReasonNoACS, KindRefusal, http.StatusBadRequest, "/saml/sso", "the SP metadata has no usable ACS: " + fixSPMetadata},
	{samlreq.ReasonMissingNameID, KindRefusal, http.StatusBadRequest, "/saml/slo", "a LogoutRequest without NameID: " + fixAttackOrMistake},
	{samlreq.ReasonReplay, KindRefusal, http.StatusBadRequest, "/saml/sso, /saml/slo", "the same request ID arrived twice (a reload or a replay): " + fixStartAgain},
	{samlreq.ReasonReplayStore, KindInternal, http.StatusInternalServerError, "/saml/sso, /saml/slo", "the store failed while recording the request ID (an unavailable store answers store_unavailable instead): check the data directory and `bindings verify`"},
	{samlreq.ReasonMisconfigured, KindInternal, http.StatusInternalServerError, "/saml/sso, /saml/slo", "the intake is misconfigured: check the log line at start; `partneridp config check`"},
	{samlreq.ReasonUnsupportedBinding, KindSAMLError, http.StatusOK, "/saml/sso", "the SP asked for a response binding other than HTTP-POST: configure the SP for HTTP-POST"},
	{samlreq.ReasonUnsupportedNameIDFormat, KindSAMLError, http.StatusOK, "/saml/sso", "the SP asked for a NameID format we do not offer: add it to idp.name_id_formats"},
	{ReasonNoPassive, KindSAMLError, http.StatusOK, "/saml/sso", "IsPassive and no bridge session: " + fixNone},
	{ReasonForceAuthnStale, KindSAMLError, http.StatusOK, "/sso/huawei (resume)", "ForceAuthn, but the platform's auth_time predates the request: the platform must authenticate again and set auth_time"},
	// Flows and sessions.
	{ReasonBadFlowID, KindRefusal, http.StatusBadRequest, "/sso/huawei", "the platform changed the return_to URL: send the user back to it unchanged"},
	{ReasonFlowNotFound, KindRefusal, http.StatusBadRequest, "/sso/huawei", "the user took longer than idp.flow_lifetime on the platform's login, or the flow was already completed: " + fixStartAgain},
	{ReasonSPNotTrusted, KindRefusal, http.StatusBadRequest, "/sso/huawei, /saml/sso", "the SP metadata changed while the user logged in: " + fixStartAgain},
	{ReasonUnknownSite, KindRefusal, http.StatusBadRequest, "/sso/huawei, /huawei/bind/<site>", "the token's huawei_site claim or the bind notification path names no configured site: use a huawei_sites[].name (or leave the claim out for the first site)"},
	{ReasonSessionTooLarge, KindRefusal, http.StatusBadRequest, "/sso/huawei", "the token's claims do not fit in a session cookie: send fewer or shorter extra claims"},
	{ReasonInvalidUser, KindRefusal, http.StatusBadRequest, "/saml/sso, /sso/huawei", "the platform's claims (mobile, email) cannot go into an assertion: fix their format"},
	{ReasonBadRelayState, KindRefusal, http.StatusBadRequest, "/saml/sso", "a RelayState longer than 80 bytes or with control characters: " + fixAttackOrMistake},
	// The handoff (/sso/huawei).
	{ReasonBadHandoffRequest, KindRefusal, http.StatusBadRequest, "/sso/huawei", "the handoff request itself is unusable (no token, duplicate fields, a query on a POST; 405, 413 or 415 for method, size or type): " + fixPlatformToken},
	{ReasonForeignOrigin, KindRefusal, http.StatusForbidden, "/sso/huawei", fixHandoffOrigin},
	{ReasonOriginUnknown, KindRefusal, http.StatusForbidden, "/sso/huawei", fixHandoffOrigin},
	{ReasonAccountSwitch, KindOutcome, http.StatusOK, "/sso/huawei", "the browser had a session for another customer and was asked to confirm the switch: " + fixNone},
	{ReasonSwitchExpired, KindRefusal, http.StatusBadRequest, "/sso/huawei", "the account-switch confirmation was older than 5 minutes or already used: " + fixStartAgain},
	{ReasonSwitchNotOurs, KindRefusal, http.StatusForbidden, "/sso/huawei", "an account-switch confirmation not pressed on the bridge's own page in the same browser (login CSRF attempt, or cookies blocked): " + fixStartAgain},
	{reasonTokenPrefix + "malformed", KindRefusal, http.StatusBadRequest, "/sso/huawei", "not a compact JWS, bad base64/JSON, a JSON member named twice, or an unsupported header: " + fixPlatformToken},
	{reasonTokenPrefix + "too_large", KindRefusal, http.StatusBadRequest, "/sso/huawei", "the token is over 8 KiB: " + fixPlatformToken},
	{reasonTokenPrefix + "alg_not_allowed", KindRefusal, http.StatusUnauthorized, "/sso/huawei", "the platform signs with another algorithm than platforms[].alg: compare them"},
	{reasonTokenPrefix + "unknown_key", KindRefusal, http.StatusUnauthorized, "/sso/huawei", "unknown kid, or no kid while the platform has several keys: set platforms[].key_id / the JWKS"},
	{reasonTokenPrefix + "bad_signature", KindRefusal, http.StatusUnauthorized, "/sso/huawei", "the platform signs with another key: compare it with platforms[].public_key_file / jwks_file / secret_file"},
	{reasonTokenPrefix + "bad_issuer", KindRefusal, http.StatusUnauthorized, "/sso/huawei", "iss is not a configured platforms[].issuer"},
	{reasonTokenPrefix + "bad_audience", KindRefusal, http.StatusUnauthorized, "/sso/huawei", "aud is not platforms[].audience"},
	{reasonTokenPrefix + "expired", KindRefusal, http.StatusUnauthorized, "/sso/huawei", "mint the token on the click, not in advance; " + fixClock},
	{reasonTokenPrefix + "issued_in_future", KindRefusal, http.StatusUnauthorized, "/sso/huawei", fixClock},
	{reasonTokenPrefix + "not_yet_valid", KindRefusal, http.StatusUnauthorized, "/sso/huawei", fixClock},
	{reasonTokenPrefix + "lifetime_too_long", KindRefusal, http.StatusUnauthorized, "/sso/huawei", "exp − iat is over platforms[].max_token_lifetime: mint shorter-lived tokens"},
	{reasonTokenPrefix + "missing_claim", KindRefusal, http.StatusUnauthorized, "/sso/huawei", "iss, aud, sub, iat, exp and jti are required: " + fixPlatformToken},
	{reasonTokenPrefix + "bad_subject", KindRefusal, http.StatusUnauthorized, "/sso/huawei", "sub is not a valid xaccount_id (1–128 of A-Z a-z 0-9 - _ . @ : + =)"},
	{reasonTokenPrefix + "bad_claim", KindRefusal, http.StatusUnauthorized, "/sso/huawei", "a claim has the wrong type or control characters: " + fixPlatformToken},
	{reasonTokenPrefix + "replay", KindRefusal, http.StatusConflict, "/sso/huawei", "the same jti was used twice (double click, back button): mint a new token on every click"},
	{reasonServicePrefix + "no_default", KindRefusal, http.StatusBadRequest, "/sso/huawei", "no service and no default console URL: set huawei.console_url"},
	{reasonServicePrefix + "too_long", KindRefusal, http.StatusBadRequest, "/sso/huawei", fixServiceHosts},
	{reasonServicePrefix + "bad_characters", KindRefusal, http.StatusBadRequest, "/sso/huawei", fixServiceHosts},
	{reasonServicePrefix + "not_absolute", KindRefusal, http.StatusBadRequest, "/sso/huawei", fixServiceHosts},
	{reasonServicePrefix + "scheme_not_allowed", KindRefusal, http.StatusBadRequest, "/sso/huawei", fixServiceHosts},
	{reasonServicePrefix + "userinfo", KindRefusal, http.StatusBadRequest, "/sso/huawei", fixServiceHosts},
	{reasonServicePrefix + "host_not_allowed", KindRefusal, http.StatusBadRequest, "/sso/huawei", fixServiceHosts},
	// Bind notifications (/huawei/bind).
	{ReasonBadEncoding, KindRefusal, http.StatusBadRequest, "/huawei/bind", "bindRequest is not base64 of one JSON object (or names a member twice): " + fixNotificationSignature},
	{ReasonBadFields, KindRefusal, http.StatusBadRequest, "/huawei/bind", "a required field is missing or malformed; xUserId must be a valid xaccount_id: `bindings get` the account; report the notification to Huawei if it is genuine"},
	{ReasonInvalidBinding, KindRefusal, http.StatusBadRequest, "/huawei/bind", "the store refused the binding's fields: see the message"},
	{ReasonUnbindMismatch, KindRefusal, http.StatusConflict, "/huawei/bind", "an unbind names a Huawei account other than the one stored: `bindings history X` shows the record; repair with `bindings put` or `delete`"},
	{ReasonBindSiteAmbiguous, KindRefusal, http.StatusConflict, "/huawei/bind", "the notification verifies with several sites' SP certificates: set each site's Notification URL in Partner Center to <public_url>/huawei/bind/<site name>"},
	{ReasonNotificationReplay, KindRefusal, http.StatusConflict, "/huawei/bind", "an exact copy of a notification already applied: nothing changed. If Huawei genuinely repeated it after a change, repair with `bindings put` / `delete` and check `bindings history X`"},
	// Internal failures.
	{ReasonStoreUnavailable, KindInternal, http.StatusServiceUnavailable, "any", "the store cannot be reached or used now (a bolt file locked by another process; an etcd cluster without a leader or unreachable): nothing was changed; check `/readyz` and the store, logins recover by themselves once it answers"},
	{ReasonNoDefaultSP, KindInternal, http.StatusInternalServerError, "/huawei/bind", "no Huawei SP metadata is loaded: check huawei.sp_metadata and /readyz"},
	{ReasonCanceled, KindInternal, http.StatusInternalServerError, "any", "the client went away or the request timed out: " + fixNone + " unless frequent"},
	{ReasonInternal, KindInternal, http.StatusInternalServerError, "any", fixReport},
	{ReasonPanic, KindInternal, http.StatusInternalServerError, "any", fixReport},
	{ReasonWriteFailed, KindInternal, 0, "/saml/sso, /sso/huawei", "the browser went away before the POST form was sent: " + fixNone + " unless frequent"},
	// Outcomes of successful requests.
	{ReasonNoSession, KindOutcome, http.StatusFound, "/saml/sso", "deferred to the platform's login: " + fixNone},
	{ReasonForceAuthn, KindOutcome, http.StatusFound, "/saml/sso", "ForceAuthn: deferred to the platform's login although a session exists: " + fixNone},
	{ReasonBound, KindOutcome, http.StatusFound, "/sso/huawei", "redirected to Huawei's login link, account bound: " + fixNone},
	{ReasonFirstLogin, KindOutcome, http.StatusFound, "/sso/huawei", "redirected to Huawei's login link with isFirstLogin=true: " + fixNone},
	{ReasonBind, KindOutcome, http.StatusFound, "/huawei/bind", "a bind notification (verdict stored or unchanged): " + fixNone},
	{ReasonUnbind, KindOutcome, http.StatusFound, "/huawei/bind", "an unbind notification (verdict removed or unchanged): " + fixNone},
	{ReasonNoLogoutRequest, KindOutcome, http.StatusFound, "/saml/slo", "Huawei's plain logout redirect: " + fixNone},
	{ReasonSPHasNoSLO, KindOutcome, http.StatusFound, "/saml/slo", "a LogoutRequest from an SP without an SLO endpoint: " + fixNone},
	{ReasonLogoutResponse, KindOutcome, http.StatusFound, "/saml/slo", "a LogoutRequest answered with a signed LogoutResponse: " + fixNone},
	// The platform API (/api/v1, idp/platformapi).
	{platformapi.ReasonUnauthenticated, KindRefusal, http.StatusUnauthorized, "/api/v1", "the platform's backend sent no Authorization: Bearer token: see \"Platform API\" in the README"},
	{platformapi.ReasonBadToken, KindRefusal, http.StatusUnauthorized, "/api/v1", "the API token was refused (signature, iss, aud <public_url>/api/v1, lifetime over 5 minutes, expired, replayed jti on a POST): the message says which; a token serves GETs until its exp and at most one POST"},
	{platformapi.ReasonBadRequest, KindRefusal, http.StatusBadRequest, "/api/v1", "the message names the field: malformed JSON, an unknown field, an ID outside the account-ID alphabet, a bad cursor or limit (413 over 16 KiB, 415 without application/json)"},
	{platformapi.ReasonNotFound, KindRefusal, http.StatusNotFound, "/api/v1", "no binding for that xaccount_id in the platform's xAccountType, or an unknown API path (see /api/v1/openapi.yaml)"},
	{platformapi.ReasonPartnerDisabled, KindRefusal, http.StatusNotImplemented, "/api/v1/customers", "configure huawei.partner_api (AK/SK files or env) to create customers through the bridge"},
	{platformapi.ReasonHuaweiError, KindRefusal, http.StatusUnprocessableEntity, "/api/v1/customers", "Huawei's partner API refused the call (502 for a Huawei 5xx): huawei_code is Huawei's own error code; look it up in Huawei's partner API error codes"},
	{platformapi.ReasonHuaweiUnreachable, KindInternal, http.StatusBadGateway, "/api/v1/customers", "Huawei's partner API could not be reached: check egress to the bss endpoint; nothing was stored, the platform may retry"},
	{platformapi.ReasonHuaweiTimeout, KindInternal, http.StatusGatewayTimeout, "/api/v1/customers", "Huawei's partner API did not answer in time; nothing was stored, the platform may retry"},
	{platformapi.ReasonOK, KindOutcome, http.StatusOK, "/api/v1", "an API call answered: " + fixNone},
	{platformapi.ReasonCreated, KindOutcome, http.StatusCreated, "/api/v1/customers", "a Huawei customer was created and bound (source create_customer): " + fixNone},
	{platformapi.ReasonExisting, KindOutcome, http.StatusOK, "/api/v1/customers", "create customer for an account already bound: the binding was returned, Huawei not called: " + fixNone},
	// Webhook delivery (idp/webhook).
	{webhook.ReasonGivenUp, KindInternal, 0, "webhooks", "a binding-change event failed for longer than platforms[].webhook.give_up_after and was skipped: fix the platform's receiver, then `partneridp webhooks retry --platform P --given-up`"},
}

var reasonIndex = func() map[string]ReasonInfo {
	m := make(map[string]ReasonInfo, len(reasonRegistry))
	for _, r := range reasonRegistry {
		if _, dup := m[r.Code]; dup {
			panic("idp: reason " + r.Code + " registered twice")
		}
		m[r.Code] = r
	}
	return m
}()

// LookupReason returns the registry entry of an emitted reason.
func LookupReason(code string) (ReasonInfo, bool) {
	r, ok := reasonIndex[code]
	return r, ok
}

// Reasons returns every registered reason, sorted by code.
func Reasons() []ReasonInfo {
	out := append([]ReasonInfo(nil), reasonRegistry...)
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}
