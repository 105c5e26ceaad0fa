package idp

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/metadata"
)

// ActorHuaweiNotification is the history actor of bindings changed by a
// bind notification.
const ActorHuaweiNotification = "huawei-notification"

// Bind-notification parameter names (huawei-webui-saml.md §7).
const (
	fieldBindRequest = "bindRequest"
	fieldSigAlg      = "SigAlg"
	fieldSignature   = "Signature"
)

// handleBind takes Huawei's bind notification (GET query or POST form):
// verify the signature over the bindRequest value with the Huawei SP
// metadata certificates of the site it came from, store or remove the
// binding under that site's xAccountType, and send the browser on to the
// service it came for.
//
// The notification itself does not say which site sent it. At
// /huawei/bind/<site name> it is verified against that site only; at
// /huawei/bind against every site, and the one whose certificates verify
// it is the sender (refused when several do: they share a certificate, and
// each site then needs its own Notification URL).
func (s *Server) handleBind(w http.ResponseWriter, r *http.Request) {
	ev := s.newEvent(r, EventBindNotification)
	if !s.allowMethod(w, r, ev, http.MethodGet, http.MethodPost) {
		return
	}
	values, err := readBindValues(r)
	if err != nil {
		s.fail(w, r, ev, err)
		return
	}
	if values[fieldBindRequest] != "" && values[fieldSignature] == "" {
		s.fail(w, r, ev, &RequestError{Status: http.StatusBadRequest, Reason: ReasonSignatureMissing,
			Msg: "the bind notification carries no Signature: Huawei signs every notification; check the Notification URL in Partner Center"})
		return
	}
	candidates, err := s.bindSites(r.URL.Path)
	if err != nil {
		s.fail(w, r, ev, err)
		return
	}
	n, site, sp, err := s.verifyNotification(values, candidates)
	if err != nil {
		s.fail(w, r, ev, err)
		return
	}
	ev.SP, ev.Site, ev.XAccountID, ev.DomainID = sp.EntityID, site.Name, n.XUserID, n.DomainID
	res, err := binding.ApplyNotification(r.Context(), s.cfg.Bindings, site.XAccountType(), n, ActorHuaweiNotification)
	if errors.Is(err, binding.ErrApplied) {
		s.replayedNotification(w, r, ev, n)
		return
	}
	if err != nil {
		s.fail(w, r, ev, err)
		return
	}
	ev.Verdict, ev.Reason = VerdictUnchanged, string(n.Action) // ReasonBind or ReasonUnbind
	switch {
	case res.Changed && n.Action == binding.ActionBind:
		ev.Verdict = VerdictStored
	case res.Changed && n.Action == binding.ActionUnbind:
		ev.Verdict = VerdictRemoved
	}
	http.Redirect(w, r, s.afterBind(r, n.XUserID), http.StatusFound)
	s.finish(*ev)
}

// bindSites are the sites a notification at path may come from: the one
// its path names, or every site.
func (s *Server) bindSites(path string) ([]Site, error) {
	name, named := strings.CutPrefix(path, PathBind+"/")
	if !named || name == "" {
		return s.sites, nil
	}
	site, err := s.siteNamed(name)
	if err != nil {
		return nil, err
	}
	return []Site{*site}, nil
}

// verifyNotification checks the notification's signature against each
// candidate site's SP certificates and returns it with the site that sent
// it. When none verifies, the first site's refusal is returned.
func (s *Server) verifyNotification(values map[string]string, candidates []Site) (binding.Notification, *Site, *metadata.SP, error) {
	var (
		found    binding.Notification
		site     *Site
		sp       *metadata.SP
		firstErr error
		senders  []string
	)
	for i := range candidates {
		c := &candidates[i]
		csp := c.SP()
		if csp == nil {
			continue
		}
		n, err := binding.ParseNotification(values[fieldBindRequest], values[fieldSigAlg], values[fieldSignature], csp.SigningCerts, s.cfg.BindPolicy)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if site == nil {
			found, site, sp = n, c, csp
		}
		senders = append(senders, c.Name)
	}
	switch {
	case len(senders) > 1:
		return binding.Notification{}, nil, nil, &RequestError{Status: http.StatusConflict, Reason: ReasonBindSiteAmbiguous,
			Msg: fmt.Sprintf("the notification verifies with the SP certificates of sites %s, so it cannot tell which site's binding it is: set each site's Notification URL in Partner Center to %s/<site name>", strings.Join(senders, ", "), PathBind)}
	case site != nil:
		return found, site, sp, nil
	case firstErr != nil:
		return binding.Notification{}, nil, nil, firstErr
	}
	return binding.Notification{}, nil, nil, ErrNoDefaultSP
}

// replayedNotification answers an exact copy of a notification the store
// has applied before: nothing changes, the event is audited and counted,
// and the page sends the browser on to where it would have gone.
func (s *Server) replayedNotification(w http.ResponseWriter, r *http.Request, ev *AuditEvent, n binding.Notification) {
	ev.Verdict, ev.Reason = VerdictReplayed, ReasonNotificationReplay
	s.log.Warn("request refused", "event", ev.Event, "reason", ev.Reason, "request_id", ev.RequestID, "sp", ev.SP)
	s.finish(*ev)
	next := s.afterBind(r, n.XUserID)
	w.Header().Set("Refresh", "5; url="+next)
	view := errorView{
		Message:  "Huawei Cloud sent this account-binding notice before, and the bridge has already recorded it, so nothing was changed. You can continue.",
		Reason:   ReasonNotificationReplay,
		Continue: next,
	}
	s.localize(r, &view, http.StatusConflict, false)
	view.Title = s.text(view.Lang, "title.already_recorded")
	writeErrorPage(w, http.StatusConflict, view)
}

// readBindValues returns bindRequest, SigAlg and Signature after URL
// decoding: from the POST form body (never the URL) or the GET query. Each
// may appear at most once; a missing one is left for ParseNotification to
// refuse with its own reason.
func readBindValues(r *http.Request) (map[string]string, error) {
	var values url.Values
	if r.Method == http.MethodPost {
		form, err := readPostForm(r)
		if err != nil {
			return nil, err
		}
		values = form
	} else {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, &RequestError{Status: http.StatusBadRequest, Reason: ReasonBadForm, Msg: "the query is not valid URL encoding"}
		}
		values = q
	}
	out := map[string]string{}
	for _, name := range []string{fieldBindRequest, fieldSigAlg, fieldSignature} {
		vs := values[name]
		if len(vs) > 1 {
			return nil, &RequestError{Status: http.StatusBadRequest, Reason: ReasonDuplicateParam,
				Msg: fmt.Sprintf("%s is given more than once; a bind notification carries each parameter once", name)}
		}
		if len(vs) == 1 {
			out[name] = vs[0]
		}
	}
	return out, nil
}

// afterBind is where the browser goes after a notification: the service its
// handoff resolved, when the bridge session is the notified customer's;
// LandingURL otherwise.
func (s *Server) afterBind(r *http.Request, xUserID string) string {
	claims, err := s.cfg.Sessions.Read(r)
	if err != nil || claims.XAccountID != xUserID {
		return s.cfg.LandingURL
	}
	if service := s.rememberedService(r); service != "" {
		return service
	}
	return s.cfg.LandingURL
}
