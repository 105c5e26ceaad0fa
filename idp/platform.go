package idp

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/handoff"
)

// FieldFlow is the query parameter naming a deferred flow on the handoff
// URL (return_to=<PublicURL>/sso/huawei?flow=<ID>).
const FieldFlow = "flow"

// Names of the cookie that remembers the resolved service URL until the
// bind notification, so it can send the user on there.
const (
	serviceCookieSecure = "__Host-partneridp_service"
	serviceCookiePlain  = "partneridp_service"
)

// handleHandoff is the platform's entry: verify the token, start the bridge
// session, then either send the user to Huawei's login link or, when the
// URL names a flow, answer that deferred AuthnRequest.
//
// Nothing of this request's URL is logged: its query holds the token.
func (s *Server) handleHandoff(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ev := s.newEvent(r, EventHandoff)
	if id, ok := confirmParam(r); ok {
		s.confirmSwitch(w, r, ev, id, start)
		return
	}
	flowID, hr, err := splitFlowParam(r)
	if flowID != "" {
		ev.Event = EventResume
	}
	if err != nil {
		s.fail(w, r, ev, err)
		return
	}
	// Where the request comes from is judged before the token is read: a
	// handoff from a foreign page spends nothing.
	originVerdict, foreign := s.judgeOrigin(r)
	if originVerdict == originVerdictForeign {
		s.fail(w, r, ev, s.foreignOriginError(foreign))
		return
	}
	h, err := handoff.ReadRequest(hr)
	if err != nil {
		s.fail(w, r, ev, err)
		return
	}
	claims, err := s.verifier.Load().Verify(r.Context(), h.Token)
	if err != nil {
		s.fail(w, r, ev, err)
		return
	}
	ev.XAccountID = claims.XAccountID
	if originVerdict == originVerdictNone && !s.handoffHeaderless[claims.Issuer] {
		s.fail(w, r, ev, s.originUnknownError())
		return
	}
	site, err := s.siteNamed(claims.Site)
	if err != nil {
		s.fail(w, r, ev, err)
		return
	}
	ev.Site = site.Name
	service, err := s.servicePolicy(site).Resolve(h.Service)
	if err != nil {
		s.fail(w, r, ev, err)
		return
	}
	if current, err := s.cfg.Sessions.Read(r); err == nil && !sameCustomer(current, claims) {
		s.askSwitch(w, r, ev, current, pendingSwitch{Claims: claims, Service: service, FlowID: flowID})
		return
	}
	s.continueHandoff(w, r, ev, claims, service, flowID, start)
}

// confirmParam returns the confirm ID of an account-switch confirmation.
func confirmParam(r *http.Request) (string, bool) {
	if !hasQueryParam(r.URL.RawQuery, fieldConfirm) {
		return "", false
	}
	q, _ := url.ParseQuery(r.URL.RawQuery)
	return q.Get(fieldConfirm), true
}

// continueHandoff starts the session for verified claims and goes on: the
// deferred flow's answer (on the site whose SP sent the request), or the
// login link of the site the token chose.
func (s *Server) continueHandoff(w http.ResponseWriter, r *http.Request, ev *AuditEvent, claims handoff.Claims, service, flowID string, start time.Time) {
	if err := s.cfg.Sessions.Start(w, claims); err != nil {
		s.fail(w, r, ev, err)
		return
	}
	s.rememberService(w, service)
	if flowID != "" {
		rec, sp, site, err := s.takeFlow(r.Context(), flowID)
		ev.RequestID, ev.SP = rec.RequestID, rec.SP
		if err != nil {
			s.fail(w, r, ev, err)
			return
		}
		s.completeFlow(w, r, ev, rec, site, sp, claims, start, pathResumed)
		return
	}
	site, err := s.siteNamed(claims.Site)
	if err != nil {
		s.fail(w, r, ev, err)
		return
	}
	ev.Site = site.Name
	b, err := s.cfg.Bindings.Get(r.Context(), binding.Key{XAccountType: site.XAccountType(), XAccountID: claims.XAccountID})
	firstLogin := errors.Is(err, binding.ErrNotFound)
	if err != nil && !firstLogin {
		s.fail(w, r, ev, err)
		return
	}
	ev.DomainID = b.DomainID
	ev.Verdict, ev.Reason = VerdictRedirected, ReasonBound
	if firstLogin {
		ev.Reason = ReasonFirstLogin
	}
	http.Redirect(w, r, site.LoginLink.URL(firstLogin, service), http.StatusFound)
	s.finish(*ev)
}

// splitFlowParam reads the optional flow ID from the URL and returns the
// request handoff.ReadRequest should see. A POSTed handoff carries the token
// in the body and nothing but the flow in the URL (the return_to URL we gave
// the platform); ReadRequest refuses any query on a POST, so the flow is
// taken out of it. On error the flow value is still returned as given, so
// the caller can name the audit event.
func splitFlowParam(r *http.Request) (string, *http.Request, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", r, &handoff.RequestError{Status: http.StatusBadRequest, Msg: "the query is not valid URL encoding"}
	}
	flows := q[FieldFlow]
	switch {
	case len(flows) == 0:
		return "", r, nil
	case len(flows) > 1:
		return flows[0], r, &RequestError{Status: http.StatusBadRequest, Reason: ReasonDuplicateParam, Msg: "flow is given more than once"}
	case !validFlowID(flows[0]):
		return flows[0], r, &RequestError{Status: http.StatusBadRequest, Reason: ReasonBadFlowID,
			Msg: "flow is not a flow ID this bridge issued: send the user back to the return_to URL unchanged"}
	}
	if r.Method != http.MethodPost {
		return flows[0], r, nil
	}
	if len(q) != 1 {
		return flows[0], r, &handoff.RequestError{Status: http.StatusBadRequest,
			Msg: "a POSTed handoff carries token and service in the form body; the URL may only hold flow"}
	}
	hr := r.Clone(r.Context())
	hr.URL.RawQuery = ""
	return flows[0], hr, nil
}

func (s *Server) serviceCookieName() string {
	if s.cfg.Sessions.Secure {
		return serviceCookieSecure
	}
	return serviceCookiePlain
}

// rememberService keeps the resolved service for the bind notification.
// The value is checked against the ServicePolicy again when read, so a
// planted cookie cannot make the bridge an open redirect.
func (s *Server) rememberService(w http.ResponseWriter, service string) {
	lifetime := s.cfg.Sessions.Lifetime
	if lifetime <= 0 {
		lifetime = handoff.DefaultSessionLifetime
	}
	http.SetCookie(w, &http.Cookie{
		Name:     s.serviceCookieName(),
		Value:    base64.RawURLEncoding.EncodeToString([]byte(service)),
		Path:     "/",
		MaxAge:   int(lifetime / time.Second),
		Secure:   s.cfg.Sessions.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) forgetService(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.serviceCookieName(), Value: "", Path: "/", MaxAge: -1,
		Secure: s.cfg.Sessions.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// rememberedService is the service this browser's handoff resolved, or ""
// when there is none or it is no longer allowed.
func (s *Server) rememberedService(r *http.Request) string {
	c, err := r.Cookie(s.serviceCookieName())
	if err != nil {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(raw) == 0 {
		return ""
	}
	service, err := s.services.Resolve(string(raw))
	if err != nil {
		return ""
	}
	return service
}
