package mockiam

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

const (
	sessionCookie  = "mockiam_session"
	bindCookie     = "mockiam_bind"
	notifyCookie   = "mockiam_notify"
	maxBodyBytes   = 1 << 20
	bindLifetime   = 15 * time.Minute
	notifyLifetime = 5 * time.Minute
)

// Handler serves the mock's pages under Huawei IAM's paths.
func (m *IAM) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(PathMetadata, m.only(http.MethodGet, m.handleMetadata))
	mux.HandleFunc(PathLogin, m.only(http.MethodGet, m.handleLogin))
	mux.HandleFunc(PathACS, m.byMethod(map[string]http.HandlerFunc{http.MethodGet: m.toConsole, http.MethodPost: m.handleACS}))
	mux.HandleFunc(PathBind, m.byMethod(map[string]http.HandlerFunc{http.MethodGet: m.handleBindPage, http.MethodPost: m.handleBind}))
	mux.HandleFunc(PathUnbind, m.byMethod(map[string]http.HandlerFunc{http.MethodGet: m.toConsole, http.MethodPost: m.handleUnbind}))
	mux.HandleFunc(PathNotify, m.only(http.MethodGet, m.handleNotify))
	mux.HandleFunc(PathLogout, m.only(http.MethodGet, m.handleLogout))
	mux.HandleFunc(PathConsole, m.only(http.MethodGet, m.handleConsole))
	mux.HandleFunc(PathSLORedirect, m.handleSLO)
	mux.HandleFunc(PathSLOPost, m.handleSLO)
	mux.HandleFunc(PathSubCustomers, m.handleSubCustomers)
	mux.HandleFunc(PathCheckIdentity, m.handleCheckIdentity)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		m.refusePage(w, Event{Kind: EventEndpoint}, refuse(ReasonNotFound, http.StatusNotFound, "the mock has no page at %.200q", r.URL.Path))
	})
	return m.guard(mux)
}

// guard sets the headers every response carries, caps request bodies and
// turns a panic into a 500 page.
func (m *IAM) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		defer func() {
			if v := recover(); v != nil {
				m.log.Error("mockiam: panic", "path", r.URL.Path, "panic", fmt.Sprint(v))
				m.refusePage(w, Event{Kind: EventEndpoint}, refuse(ReasonInternal, http.StatusInternalServerError, "the mock failed on this page; its log says why. Start again from the partner platform"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (m *IAM) only(method string, h http.HandlerFunc) http.HandlerFunc {
	return m.byMethod(map[string]http.HandlerFunc{method: h})
}

// byMethod serves each method with its handler and refuses the others.
func (m *IAM) byMethod(handlers map[string]http.HandlerFunc) http.HandlerFunc {
	var allow []string
	for method := range handlers {
		allow = append(allow, method)
	}
	sort.Strings(allow)
	return func(w http.ResponseWriter, r *http.Request) {
		if h, ok := handlers[r.Method]; ok {
			h(w, r)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		m.refusePage(w, Event{Kind: EventEndpoint}, refuse(ReasonMethodNotAllowed, http.StatusMethodNotAllowed,
			"this address answers %s only, and the browser sent %s; open the console from the partner platform instead", strings.Join(allow, " or "), r.Method))
	}
}

// seeOther answers a form post with 303 See Other, so that reloading the
// page the browser lands on repeats a GET, never the post.
func seeOther(w http.ResponseWriter, location string) {
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusSeeOther)
}

// toConsole sends a GET of a form's address (back, reload, a bookmark) to
// the console, which says what to do when there is no session.
func (m *IAM) toConsole(w http.ResponseWriter, _ *http.Request) {
	seeOther(w, PathConsole)
}

var titles = map[EventKind]string{
	EventLogin:    "Login link refused",
	EventACS:      "SAML Response refused",
	EventSession:  "Login refused",
	EventBind:     "Binding refused",
	EventUnbind:   "Unbinding refused",
	EventLogout:   "Logout refused",
	EventEndpoint: "Request refused",
}

// refusePage records the refusal and shows its reason.
func (m *IAM) refusePage(w http.ResponseWriter, e Event, err error) {
	var known *Refusal
	if !errors.As(err, &known) {
		m.log.Error("mockiam: internal error", "event", string(e.Kind), "err", err)
	}
	rf := asRefusal(err)
	e.Accepted, e.Reason, e.Detail = false, rf.Reason, rf.Detail
	m.record(e)
	render(w, rf.Status, page{Title: titles[e.Kind], Verdict: "refused", Reason: rf.Reason, Detail: rf.Detail})
}

func (m *IAM) handleMetadata(w http.ResponseWriter, r *http.Request) {
	doc := m.spSigned
	if r.URL.Query().Get("unsigned") == "true" {
		doc = m.spUnsigned
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	_, _ = w.Write(doc)
}

func (m *IAM) handleLogin(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		m.refusePage(w, Event{Kind: EventLogin}, bad(ReasonBadLoginLink, "the login link's query is not valid URL encoding"))
		return
	}
	l, err := ParseLoginLink(q)
	if err != nil {
		m.refusePage(w, Event{Kind: EventLogin}, err)
		return
	}
	location, p, err := m.startLogin(r.Context(), l)
	if err != nil {
		m.refusePage(w, Event{Kind: EventLogin, XAccountType: l.XAccountType}, err)
		return
	}
	m.record(Event{Kind: EventLogin, Accepted: true, XAccountType: l.XAccountType, RequestID: p.RequestID,
		Detail: "AuthnRequest sent to " + p.IdP.SSO[0].Location, Link: r.URL.RequestURI(), Message: eventMessage(p.RequestXML)})
	http.Redirect(w, r, location, http.StatusFound)
}

func (m *IAM) handleACS(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		m.refusePage(w, Event{Kind: EventACS}, bad(ReasonMalformed, "the POST body is not a readable form (at most %d bytes of application/x-www-form-urlencoded)", maxBodyBytes))
		return
	}
	form := r.PostForm
	if n := len(form["SAMLResponse"]); n > 1 {
		m.refusePage(w, Event{Kind: EventACS}, bad(ReasonMalformed, "SAMLResponse is sent %d times; send it once", n))
		return
	}
	if n := len(form["RelayState"]); n > 1 {
		m.refusePage(w, Event{Kind: EventACS}, bad(ReasonMalformed, "RelayState is sent %d times; send it once", n))
		return
	}
	_, hasRelayState := form["RelayState"]
	l, err := m.checkResponse(form.Get("SAMLResponse"), form.Get("RelayState"), hasRelayState)
	if err == nil {
		err = m.consume(l)
	}
	if err != nil {
		e := Event{Kind: EventACS, Message: m.readableResponse(form.Get("SAMLResponse"))}
		if l != nil && l.Pending != nil {
			e.XAccountType, e.RequestID = l.Pending.XAccountType, l.Pending.RequestID
		}
		m.refusePage(w, e, err)
		return
	}
	p := l.Pending
	m.record(Event{Kind: EventACS, Accepted: true, XAccountType: p.XAccountType, XUserID: l.XUserID,
		RequestID: p.RequestID, AssertionID: l.AssertionID, Message: m.readableResponse(form.Get("SAMLResponse"))})
	m.afterLogin(w, l)
}

// afterLogin does what Huawei does once the assertion is good: log a bound
// user in, send an unbound first-time user to the bind page, and refuse an
// unbound user whose link said isFirstLogin=false.
func (m *IAM) afterLogin(w http.ResponseWriter, l *verifiedLogin) {
	p := l.Pending
	e := Event{Kind: EventSession, XAccountType: p.XAccountType, XUserID: l.XUserID, RequestID: p.RequestID, AssertionID: l.AssertionID}
	acct, bound := m.Account(p.XAccountType, l.XUserID)
	switch {
	case bound:
		if _, err := m.startSession(w, p.XAccountType, l.XUserID, l.NameID, l.Attributes, p.Service); err != nil {
			m.refusePage(w, e, err)
			return
		}
		e.Accepted, e.DomainID, e.Detail = true, acct.Domain.ID, "bound user logged in"
		m.record(e)
		seeOther(w, PathConsole)
	case p.IsFirstLogin:
		token, err := m.randomHex(16)
		if err != nil {
			m.refusePage(w, e, err)
			return
		}
		now := m.now()
		m.mu.Lock()
		m.binds[token] = &pendingBind{Token: token, XAccountType: p.XAccountType, XUserID: l.XUserID,
			NameID: l.NameID, Attributes: l.Attributes, Service: p.Service, Expires: now.Add(bindLifetime)}
		m.mu.Unlock()
		m.setCookie(w, bindCookie, token, bindLifetime)
		e.Accepted, e.Detail = true, "unbound user sent to the bind page"
		m.record(e)
		seeOther(w, PathBind)
	default:
		e.Reason = ReasonNotBound
		e.Detail = fmt.Sprintf("partner user %q of %s is not bound to a Huawei Cloud account and the login link said isFirstLogin=false; Huawei would refuse. The partner's bridge should send isFirstLogin=true for a customer it has not bound yet, or create the customer's Huawei account first (create-customer)", l.XUserID, p.XAccountType)
		m.record(e)
		render(w, http.StatusForbidden, page{
			Title: "Account not bound", Verdict: "refused", Reason: ReasonNotBound, Detail: e.Detail,
			Notes:          []string{"The SAML Response itself was valid."},
			ShowAttributes: true, NameID: l.NameID, Attributes: l.Attributes,
		})
	}
}

func (m *IAM) handleBind(w http.ResponseWriter, r *http.Request) {
	e := Event{Kind: EventBind}
	if err := r.ParseForm(); err != nil {
		m.refusePage(w, e, bad(ReasonBadBindForm, "the bind form could not be read"))
		return
	}
	token := r.PostForm.Get("token")
	c, err := r.Cookie(bindCookie)
	if token == "" || err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(token)) != 1 {
		m.refusePage(w, e, forbid(ReasonBadBindForm, "this bind form belongs to another login in this browser, or the browser lost its bind cookie; open the console again from the partner platform"))
		return
	}
	now := m.now()
	m.mu.Lock()
	m.pruneLocked(now)
	b := m.binds[token]
	m.mu.Unlock()
	if b == nil {
		m.refusePage(w, e, forbid(ReasonBadBindForm, "this bind form has expired or was already used; open the console again from the partner platform"))
		return
	}
	e.XAccountType, e.XUserID = b.XAccountType, b.XUserID
	name := strings.TrimSpace(r.PostForm.Get("domainName"))
	var acct Account
	switch action := r.PostForm.Get("action"); action {
	case "create":
		acct, err = m.bindNew(b.XAccountType, b.XUserID, name)
	case "bind-existing":
		acct, err = m.bindExisting(b.XAccountType, b.XUserID, name)
	default:
		err = fmt.Errorf("the bind form's action %.40q is neither create nor bind-existing; use the buttons on the bind page", action)
	}
	if err != nil {
		// Back on the bind page, by GET, with the error: a reload shows
		// the page again instead of posting the form twice.
		e.Reason, e.Detail = ReasonBadBindForm, err.Error()
		m.record(e)
		m.mu.Lock()
		b.Error = err.Error()
		m.mu.Unlock()
		seeOther(w, PathBind)
		return
	}
	m.mu.Lock()
	delete(m.binds, token)
	m.mu.Unlock()
	m.clearCookie(w, bindCookie)
	s, err := m.startSession(w, b.XAccountType, b.XUserID, b.NameID, b.Attributes, b.Service)
	if err != nil {
		m.refusePage(w, e, err)
		return
	}
	pg := m.consolePage(&acct, s, "Huawei Cloud account bound (mock)")
	sent, err := m.attachNotification(&pg, acct, BindActionBind)
	if err != nil {
		m.refusePage(w, Event{Kind: EventBind, XAccountType: acct.XAccountType, XUserID: acct.XUserID}, err)
		return
	}
	e.Accepted, e.DomainID, e.Detail, e.Message = true, acct.Domain.ID, "bound to "+acct.Domain.Name, sent
	m.record(e)
	m.showOnce(w, pg)
}

func (m *IAM) handleUnbind(w http.ResponseWriter, r *http.Request) {
	e := Event{Kind: EventUnbind}
	if err := r.ParseForm(); err != nil {
		m.refusePage(w, e, bad(ReasonBadBindForm, "the unbind form could not be read"))
		return
	}
	s := m.session(r)
	if s == nil {
		m.refusePage(w, e, refuse(ReasonNoSession, http.StatusUnauthorized, "you are not logged in to the (mock) Huawei Cloud console in this browser; open it from the partner platform first"))
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.CSRF)) != 1 {
		m.refusePage(w, e, forbid(ReasonBadBindForm, "the unbind form belongs to an older console page; reload the console page and press Unbind again"))
		return
	}
	e.XAccountType, e.XUserID = s.XAccountType, s.XUserID
	acct, err := m.unbind(s.XAccountType, s.XUserID)
	if err != nil {
		m.refusePage(w, e, refuse(ReasonBadBindForm, http.StatusConflict, "%v", err))
		return
	}
	m.endSession(w, r)
	pg := page{Title: "Huawei Cloud account unbound (mock)", Verdict: "accepted", Account: &acct,
		Notes: []string{"The binding is removed and the mock session ended."}}
	sent, err := m.attachNotification(&pg, acct, BindActionUnbind)
	if err != nil {
		m.refusePage(w, Event{Kind: EventUnbind, XAccountType: acct.XAccountType, XUserID: acct.XUserID}, err)
		return
	}
	e.Accepted, e.DomainID, e.Detail, e.Message = true, acct.Domain.ID, "unbound from "+acct.Domain.Name, sent
	m.record(e)
	m.showOnce(w, pg)
}

// attachNotification adds the auto-submitting notification form when the
// partner registered a notification URL, or says none was sent. It returns
// the notification's JSON ("" when none is sent).
func (m *IAM) attachNotification(pg *page, acct Account, action int) (string, error) {
	m.mu.Lock()
	r := m.registrations[acct.XAccountType]
	m.mu.Unlock()
	if r == nil || r.reg.NotificationURL == "" {
		pg.Notes = append(pg.Notes, fmt.Sprintf("No NotificationURL is registered for %s, so no bind notification was sent.", acct.XAccountType))
		return "", nil
	}
	signed, err := SignBindNotification(BindNotification{
		DomainName: acct.Domain.Name, DomainID: acct.Domain.ID, XUserID: acct.XUserID, BindAction: action,
	}, m.key)
	if err != nil {
		m.log.Error("mockiam: cannot sign the bind notification", "err", err)
		return "", refuse(ReasonNotificationFailed, http.StatusInternalServerError, "the mock could not sign the bind notification; see its log")
	}
	what := "bind"
	if action == BindActionUnbind {
		what = "unbind"
	}
	pg.Notify = &notifyPage{What: what, Action: r.reg.NotificationURL, SignedBindNotification: signed}
	if !m.keepMsgs {
		return "", nil
	}
	body, _ := base64.StdEncoding.DecodeString(signed.BindRequest)
	return eventMessage(body), nil
}

// readableResponse decodes a posted SAMLResponse for Event.Message; ""
// when messages are not kept, or it is too large or not base64 of UTF-8.
func (m *IAM) readableResponse(samlResponse string) string {
	if !m.keepMsgs || len(samlResponse) > base64.StdEncoding.EncodedLen(MaxEventMessage)+4096 {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(stripSpace(samlResponse))
	if err != nil {
		return ""
	}
	return eventMessage(raw)
}

// handleBindPage shows the bind page of this browser's pending first login
// (the ACS sends the browser here, and a failed bind form comes back here
// with its error). Without one (used, expired, or never started), a
// logged-in browser goes to the console and any other sees what to do.
func (m *IAM) handleBindPage(w http.ResponseWriter, r *http.Request) {
	var b pendingBind
	found := false
	if c, err := r.Cookie(bindCookie); err == nil {
		now := m.now()
		m.mu.Lock()
		m.pruneLocked(now)
		if pb := m.binds[c.Value]; pb != nil {
			b, found = *pb, true
		}
		m.mu.Unlock()
	}
	if !found {
		if m.session(r) != nil {
			seeOther(w, PathConsole)
			return
		}
		render(w, http.StatusOK, page{Title: "Nothing to bind (mock)",
			Notes: []string{"This bind page was already used, or it has expired (after 15 minutes), or this browser never reached it.",
				"Open the Huawei Cloud console again from the partner platform: a customer who is bound goes straight to the console; one who is not comes back to a fresh bind page."}})
		return
	}
	pg := page{
		Title: "Bind your Huawei Cloud account (mock)", Verdict: "accepted",
		Notes:          []string{"The SAML Response was accepted. This partner user has no Huawei Cloud account yet (isFirstLogin=true)."},
		Bind:           &bindPage{XAccountType: b.XAccountType, XUserID: b.XUserID, Token: b.Token, Error: b.Error},
		ShowAttributes: true, NameID: b.NameID, Attributes: b.Attributes, Service: b.Service,
	}
	if b.Error != "" {
		pg.Verdict, pg.Reason, pg.Detail, pg.Notes = "refused", ReasonBadBindForm, b.Error, nil
	}
	render(w, http.StatusOK, pg)
}

// showOnce keeps a page that sends a notification and redirects the browser
// to PathNotify, which shows it once: a reload or Back after the
// notification went out lands on the console, never on a second post.
func (m *IAM) showOnce(w http.ResponseWriter, pg page) {
	token, err := m.randomHex(16)
	if err != nil {
		m.refusePage(w, Event{Kind: EventEndpoint}, err)
		return
	}
	now := m.now()
	m.mu.Lock()
	m.pruneLocked(now)
	m.notifies[token] = &pendingNotify{Page: pg, Expires: now.Add(notifyLifetime)}
	m.mu.Unlock()
	m.setCookie(w, notifyCookie, token, notifyLifetime)
	seeOther(w, PathNotify)
}

// handleNotify shows a page kept by showOnce, once.
func (m *IAM) handleNotify(w http.ResponseWriter, r *http.Request) {
	var pn *pendingNotify
	if c, err := r.Cookie(notifyCookie); err == nil {
		now := m.now()
		m.mu.Lock()
		m.pruneLocked(now)
		pn = m.notifies[c.Value]
		delete(m.notifies, c.Value)
		m.mu.Unlock()
	}
	m.clearCookie(w, notifyCookie)
	if pn == nil {
		seeOther(w, PathConsole)
		return
	}
	render(w, http.StatusOK, pn.Page)
}

func (m *IAM) handleConsole(w http.ResponseWriter, r *http.Request) {
	s := m.session(r)
	if s == nil {
		m.refusePage(w, Event{Kind: EventSession}, refuse(ReasonNoSession, http.StatusUnauthorized, "you are not logged in to the (mock) Huawei Cloud console in this browser; open it from the partner platform (its \"Open Huawei Cloud console\" button)"))
		return
	}
	acct, bound := m.Account(s.XAccountType, s.XUserID)
	if !bound {
		m.refusePage(w, Event{Kind: EventSession, XAccountType: s.XAccountType, XUserID: s.XUserID},
			forbid(ReasonNotBound, "partner user %q of %s is no longer bound to a Huawei Cloud account", s.XUserID, s.XAccountType))
		return
	}
	render(w, http.StatusOK, m.consolePage(&acct, s, "Huawei Cloud console (mock)"))
}

func (m *IAM) consolePage(acct *Account, s *session, title string) page {
	return page{
		Title: title, Verdict: "accepted", Account: acct,
		ShowAttributes: true, NameID: s.NameID, Attributes: s.Attributes, Service: s.Service,
		CSRF: s.CSRF, ConsoleLink: true,
		LogoutURL: PathLogout + "?" + url.Values{"xAccountType": {s.XAccountType}}.Encode(),
	}
}

// handleLogout ends the mock session and, like Huawei (section 2.4), sends
// the browser to the IdP's SingleLogoutService by a plain redirect.
func (m *IAM) handleLogout(w http.ResponseWriter, r *http.Request) {
	e := Event{Kind: EventLogout}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil || len(q["xAccountType"]) > 1 {
		m.refusePage(w, e, bad(ReasonBadLoginLink, "the logout link's query is not valid; use %s?xAccountType=<platform id>", PathLogout))
		return
	}
	t := q.Get("xAccountType")
	if s := m.session(r); s != nil {
		if t == "" {
			t = s.XAccountType
		}
		e.XUserID = s.XUserID
	}
	m.endSession(w, r)
	e.XAccountType = t
	if t == "" {
		e.Accepted, e.Detail = true, "session ended; no xAccountType, so no IdP to return to"
		m.record(e)
		render(w, http.StatusOK, page{Title: "Logged out (mock)", Verdict: "accepted", Notes: []string{"Give xAccountType to return to the partner IdP's SingleLogoutService."}})
		return
	}
	_, meta, err := m.idp(r.Context(), t)
	if err != nil {
		m.refusePage(w, e, err)
		return
	}
	slo, ok := meta.SLOLocation()
	if !ok {
		e.Accepted, e.Detail = true, "session ended; the IdP metadata has no SingleLogoutService"
		m.record(e)
		render(w, http.StatusOK, page{Title: "Logged out (mock)", Verdict: "accepted",
			Notes: []string{fmt.Sprintf("The IdP metadata registered for %s has no SingleLogoutService, so there is nowhere to send you back to.", t)}})
		return
	}
	e.Accepted, e.Detail = true, "redirected to "+slo
	m.record(e)
	http.Redirect(w, r, slo, http.StatusFound)
}

func (m *IAM) handleSLO(w http.ResponseWriter, r *http.Request) {
	m.refusePage(w, Event{Kind: EventEndpoint}, refuse(ReasonNotImplemented, http.StatusNotImplemented,
		"the mock lists Huawei's SAML single-logout endpoints in its metadata but does not process LogoutRequest or LogoutResponse messages; Huawei's documented logout is a plain redirect to the IdP's SingleLogoutService (use %s?xAccountType=…)", PathLogout))
}

func (m *IAM) startSession(w http.ResponseWriter, xAccountType, xUserID, nameID string, attrs []Attribute, service string) (*session, error) {
	id, err := m.randomHex(32)
	if err != nil {
		return nil, err
	}
	csrf, err := m.randomHex(16)
	if err != nil {
		return nil, err
	}
	s := &session{ID: id, XAccountType: xAccountType, XUserID: xUserID, NameID: nameID, Attributes: attrs,
		Service: service, CSRF: csrf, Expires: m.now().Add(SessionLifetime)}
	m.mu.Lock()
	m.sessions[id] = s
	m.mu.Unlock()
	m.setCookie(w, sessionCookie, id, SessionLifetime)
	return s, nil
}

func (m *IAM) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[c.Value]
	if s == nil || now.After(s.Expires) {
		return nil
	}
	return s
}

func (m *IAM) endSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		m.mu.Lock()
		delete(m.sessions, c.Value)
		m.mu.Unlock()
	}
	m.clearCookie(w, sessionCookie)
}

// setCookie sets a host-only, HttpOnly, SameSite=Lax cookie; Secure when
// the mock runs on https (clients drop Secure cookies on http test origins).
func (m *IAM) setCookie(w http.ResponseWriter, name, value string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(ttl.Seconds()),
		HttpOnly: true, Secure: m.secure, SameSite: http.SameSiteLaxMode})
}

func (m *IAM) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: m.secure, SameSite: http.SameSiteLaxMode})
}
