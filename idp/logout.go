package idp

import (
	"errors"
	"net/http"
	"strings"

	"github.com/partneridp/partneridp/idp/samlresp"
)

// handleSLO ends the bridge session. Huawei IAM redirects the browser here
// after a console logout, without a SAML message (huawei-webui-saml.md
// §2.4): the answer is a redirect to LandingURL. A signed LogoutRequest is
// answered with a signed LogoutResponse to the SP's SLO endpoint.
//
// Logout fails safe: the session ends even when the LogoutRequest is
// refused (ending a session needs no trust; anyone can clear their own).
func (s *Server) handleSLO(w http.ResponseWriter, r *http.Request) {
	ev := s.newEvent(r, EventLogout)
	if !s.allowMethod(w, r, ev, http.MethodGet) {
		return
	}
	if claims, err := s.cfg.Sessions.Read(r); err == nil {
		ev.XAccountID = claims.XAccountID
	}
	s.cfg.Sessions.End(w)
	s.forgetService(w)
	if !hasQueryParam(r.URL.RawQuery, "SAMLRequest") {
		ev.Verdict, ev.Reason = VerdictLoggedOut, ReasonNoLogoutRequest
		http.Redirect(w, r, s.cfg.LandingURL, http.StatusFound)
		s.finish(*ev)
		return
	}
	lr, err := s.cfg.Intake.LogoutFromRedirect(r.Context(), r.URL.RawQuery)
	if err != nil {
		s.refuseSAMLRequest(w, r, ev, err) // same mapping; a LogoutRequest is never Unsatisfiable
		return
	}
	ev.RequestID, ev.SP = lr.ID, lr.Issuer
	if lr.SHA1Warning {
		s.log.Warn("LogoutRequest signed with rsa-sha1 (allowed by policy): ask the SP to use rsa-sha256",
			"request_id", lr.ID, "sp", lr.Issuer)
	}
	target, err := s.cfg.Builder.LogoutResponseRedirectURL(lr.SP, lr.ID, lr.RelayState, "")
	if errors.Is(err, samlresp.ErrNoSLOEndpoint) {
		ev.Verdict, ev.Reason = VerdictLoggedOut, ReasonSPHasNoSLO
		http.Redirect(w, r, s.cfg.LandingURL, http.StatusFound)
		s.finish(*ev)
		return
	}
	if err != nil {
		s.fail(w, r, ev, err)
		return
	}
	ev.Verdict, ev.Reason = VerdictLoggedOut, ReasonLogoutResponse
	http.Redirect(w, r, target, http.StatusFound)
	s.finish(*ev)
}

// hasQueryParam reports whether the raw query names param, without decoding
// anything else.
func hasQueryParam(rawQuery, param string) bool {
	for part := range strings.SplitSeq(rawQuery, "&") {
		name, _, _ := strings.Cut(part, "=")
		if name == param {
			return true
		}
	}
	return false
}
