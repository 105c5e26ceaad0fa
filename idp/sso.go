package idp

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/samlreq"
	"github.com/partneridp/partneridp/idp/samlresp"
	"github.com/partneridp/partneridp/metadata"
)

// handleSSO takes an AuthnRequest (HTTP-Redirect GET or HTTP-POST), makes
// its flow record, and answers it from the bridge session or stores the
// flow and defers it to the platform's login.
func (s *Server) handleSSO(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ev := s.newEvent(r, EventSSO)
	if !s.allowMethod(w, r, ev, http.MethodGet, http.MethodPost) {
		return
	}
	req, err := s.readAuthnRequest(r)
	if err != nil {
		s.refuseSAMLRequest(w, r, ev, err)
		return
	}
	ev.RequestID, ev.SP = req.ID, req.Issuer
	site, ok := s.siteOfSP(req.Issuer)
	if !ok {
		s.fail(w, r, ev, &RequestError{Status: http.StatusBadRequest, Reason: ReasonSPNotTrusted,
			Msg: fmt.Sprintf("the SP %.200q is trusted but is no configured Huawei site's SP", req.Issuer)})
		return
	}
	ev.Site = site.Name
	if req.SHA1Warning {
		s.log.Warn("AuthnRequest signed with rsa-sha1 (allowed by policy): ask the SP to use rsa-sha256",
			"request_id", req.ID, "sp", req.Issuer)
	}
	if err := samlresp.CheckRelayState(req.RelayState); err != nil {
		s.fail(w, r, ev, err)
		return
	}
	// The verified request becomes a flow record. It is stored only when
	// the user must first log in on the platform: answered at once, it
	// never outlives this request (its ID is already spent in the replay
	// store), so storing and taking it back would only cost two commits.
	rec := flowFrom(req, s.now(), s.flowTTL)
	claims, err := s.cfg.Sessions.Read(r)
	hasSession := err == nil
	if err != nil && !errors.Is(err, handoff.ErrNoSession) {
		s.fail(w, r, ev, err)
		return
	}
	switch {
	case hasSession && !req.ForceAuthn:
		s.completeFlow(w, r, ev, rec, site, req.SP, claims, start, pathDirect)
	case req.IsPassive:
		s.postErrorResponse(w, r, ev, rec, req.SP, samlresp.StatusNoPassive,
			"IsPassive was requested and the user has no session at the IdP", ReasonNoPassive)
	default:
		flowID, err := s.saveFlow(r.Context(), rec)
		if err != nil {
			s.fail(w, r, ev, err)
			return
		}
		s.deferToPlatform(w, r, ev, site, flowID, hasSession && req.ForceAuthn)
	}
}

func (s *Server) readAuthnRequest(r *http.Request) (*samlreq.AuthnRequest, error) {
	if r.Method == http.MethodGet {
		// The raw query: the signature covers the bytes as they arrived.
		return s.cfg.Intake.FromRedirect(r.Context(), r.URL.RawQuery)
	}
	form, err := readPostForm(r)
	if err != nil {
		return nil, err
	}
	return s.cfg.Intake.FromPost(r.Context(), form)
}

// readPostForm reads an application/x-www-form-urlencoded body (already
// capped by the route) and nothing from the URL.
func readPostForm(r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, &RequestError{Status: http.StatusUnsupportedMediaType, Reason: ReasonBadForm,
			Msg: "POST the form as application/x-www-form-urlencoded"}
	}
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &RequestError{Status: http.StatusRequestEntityTooLarge, Reason: ReasonBadForm,
				Msg: fmt.Sprintf("the form is larger than the %d bytes accepted here", tooLarge.Limit)}
		}
		return nil, &RequestError{Status: http.StatusBadRequest, Reason: ReasonBadForm,
			Msg: "the form body is not valid URL encoding"}
	}
	return r.PostForm, nil
}

// refuseSAMLRequest answers a refused AuthnRequest (or LogoutRequest): a
// signed SAML error Response when the request is trusted but unsatisfiable,
// a page otherwise.
func (s *Server) refuseSAMLRequest(w http.ResponseWriter, r *http.Request, ev *AuditEvent, err error) {
	var e *samlreq.Error
	if errors.As(err, &e) {
		ev.RequestID, ev.SP = e.RequestID, e.Issuer
		if e.Kind == samlreq.Unsatisfiable && e.Request != nil {
			req := e.Request
			rec := flowRecord{RequestID: req.ID, SP: req.Issuer, ACS: req.ACS.Location, RelayState: req.RelayState}
			s.postErrorResponse(w, r, ev, rec, req.SP, e.Status, e.Msg, e.Reason)
			return
		}
	}
	s.fail(w, r, ev, err)
}

// completeFlow answers the flow's AuthnRequest for the authenticated user:
// the signed Response in the auto-submitting POST form.
func (s *Server) completeFlow(w http.ResponseWriter, r *http.Request, ev *AuditEvent, rec flowRecord, site *Site, sp *metadata.SP, claims handoff.Claims, start time.Time, path string) {
	ctx := r.Context()
	ev.RequestID, ev.SP, ev.Site = rec.RequestID, rec.SP, site.Name
	ev.XAccountID = claims.XAccountID
	ev.DomainID = s.domainID(ctx, site, claims.XAccountID)
	// ForceAuthn: the platform must have authenticated the user after the
	// request arrived, not reused an older login.
	if rec.ForceAuthn && claims.AuthTime.Before(rec.Created.Add(-time.Second)) {
		s.postErrorResponse(w, r, ev, rec, sp, samlresp.StatusAuthnFailed,
			"ForceAuthn was requested but the partner platform reported an earlier authentication", ReasonForceAuthnStale)
		return
	}
	resp, err := s.cfg.Builder.Build(samlRequest(rec, sp), claims.User)
	if errors.Is(err, samlresp.ErrInvalidNameIDPolicy) {
		s.postErrorResponse(w, r, ev, rec, sp, samlresp.StatusInvalidNameIDPolicy, nameIDPolicyMessage(err), samlreq.ReasonUnsupportedNameIDFormat)
		return
	}
	if err != nil {
		s.fail(w, r, ev, err)
		return
	}
	ev.AssertionID = resp.AssertionID
	if !s.writePostForm(w, r, ev, rec, resp) {
		return
	}
	ev.Verdict = VerdictIssued
	s.finish(*ev)
	s.metrics.ssoLatency(path, site.Name, time.Since(start))
}

// deferToPlatform sends a user without a usable session to the login of
// the platform that owns the site; the platform sends them back to the
// handoff URL with the flow ID.
func (s *Server) deferToPlatform(w http.ResponseWriter, r *http.Request, ev *AuditEvent, site *Site, flowID string, sessionRefused bool) {
	ev.Verdict, ev.Reason = VerdictDeferred, ReasonNoSession
	if sessionRefused {
		ev.Reason = ReasonForceAuthn // a session exists, but ForceAuthn wants a fresh login
	}
	http.Redirect(w, r, s.platformLoginURL(site, flowID), http.StatusFound)
	s.finish(*ev)
}

// postErrorResponse sends a signed SAML error Response for a trusted
// request to its metadata ACS.
func (s *Server) postErrorResponse(w http.ResponseWriter, r *http.Request, ev *AuditEvent, rec flowRecord, sp *metadata.SP, status, msg, reason string) {
	resp, err := s.cfg.Builder.BuildError(samlresp.Request{SP: sp, ACS: rec.ACS, InResponseTo: rec.RequestID}, status, msg)
	if err != nil {
		s.fail(w, r, ev, err)
		return
	}
	if !s.writePostForm(w, r, ev, rec, resp) {
		return
	}
	ev.Verdict, ev.Reason = VerdictErrorResponse, reason
	s.finish(*ev)
}

// writePostForm serves the POST form. A form that cannot be written (ACS
// or RelayState refused) is answered with a page; a failed write to the
// client is only logged and audited.
func (s *Server) writePostForm(w http.ResponseWriter, r *http.Request, ev *AuditEvent, rec flowRecord, resp *samlresp.Response) bool {
	err := samlresp.WritePostForm(w, rec.ACS, resp.XML, rec.RelayState, s.formActionAlso...)
	switch {
	case err == nil:
		return true
	case errors.Is(err, samlresp.ErrInvalidACS), errors.Is(err, samlresp.ErrInvalidRelayState), errors.Is(err, samlresp.ErrInvalidRequest):
		s.fail(w, r, ev, err)
	default:
		ev.Verdict, ev.Reason = VerdictError, ReasonWriteFailed
		s.log.Warn("the POST form could not be sent to the browser", "request_id", ev.RequestID, "err", err)
		s.finish(*ev)
	}
	return false
}

func samlRequest(rec flowRecord, sp *metadata.SP) samlresp.Request {
	return samlresp.Request{
		SP:              sp,
		ACS:             rec.ACS,
		InResponseTo:    rec.RequestID,
		NameIDFormat:    rec.NameIDFormat,
		SPNameQualifier: rec.SPNameQualifier,
	}
}

// nameIDPolicyMessage is the StatusMessage for a NameID policy the builder
// cannot honour: its reason, bounded and valid UTF-8.
func nameIDPolicyMessage(err error) string {
	msg := err.Error()
	if len(msg) > 300 {
		msg = strings.ToValidUTF8(msg[:300], "")
	}
	return msg
}

// domainID is the Huawei account bound to the customer, for the audit event
// only: "" when unbound or when the store cannot say.
func (s *Server) domainID(ctx context.Context, site *Site, xAccountID string) string {
	if xAccountID == "" {
		return ""
	}
	b, err := s.cfg.Bindings.Get(ctx, binding.Key{XAccountType: site.XAccountType(), XAccountID: xAccountID})
	if err != nil {
		return ""
	}
	return b.DomainID
}
