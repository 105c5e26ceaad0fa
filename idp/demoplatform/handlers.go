package demoplatform

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
)

const (
	sessionCookie = "demoplatform_session"
	maxFormBytes  = 16 << 10
)

// allowed lists the methods of each page, for 405 answers.
var allowed = map[string]string{
	PathHome: "GET", PathLogin: "GET, POST", PathOpenConsole: "POST", PathLogout: "POST", PathRegister: "POST", PathWebhooks: "POST",
}

// Handler serves the platform's pages.
func (p *Platform) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathLogin, p.handleLoginPage)
	mux.HandleFunc("POST "+PathLogin, p.handleLogin)
	mux.HandleFunc("POST "+PathOpenConsole, p.handleOpenConsole)
	mux.HandleFunc("POST "+PathLogout, p.handleLogout)
	mux.HandleFunc("POST "+PathRegister, p.handleRegister)
	mux.HandleFunc("POST "+PathWebhooks, p.handleWebhook)
	mux.HandleFunc("GET /{$}", p.handleHome)
	if p.trace != nil {
		mux.Handle("GET "+PathTrace, p.trace)
		mux.HandleFunc(PathTrace, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", "GET")
			renderError(w, http.StatusMethodNotAllowed, "Method not allowed", PathTrace+" takes GET.")
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow, known := allowed[r.URL.Path]; known {
			w.Header().Set("Allow", allow)
			renderError(w, http.StatusMethodNotAllowed, "Method not allowed", r.URL.Path+" takes "+allow+".")
			return
		}
		renderError(w, http.StatusNotFound, "Not found", "There is no page "+clipPath(r.URL.Path)+" on this platform.")
	})
	return mux
}

func clipPath(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return s
}

func (p *Platform) handleHome(w http.ResponseWriter, r *http.Request) {
	if ses := p.session(r); ses != nil {
		c, _ := p.customer(ses.XAccountID)
		pg := page{Title: "Your account", Current: &c, CSRF: ses.CSRF, BridgeURL: p.bridgeURL}
		p.addBackend(&pg, ses.XAccountID)
		render(w, http.StatusOK, pg)
		return
	}
	pg := page{Title: "Customers", Picker: true, Customers: p.Customers()}
	p.addBackend(&pg, "")
	render(w, http.StatusOK, pg)
}

// handleLoginPage is the platform login URL the bridge sends a user to
// (with return_to) when Huawei's AuthnRequest arrives without a bridge
// session, and the plain login page without it.
func (p *Platform) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil || len(q["return_to"]) > 1 {
		renderError(w, http.StatusBadRequest, "Login link refused", "The login link's query is not valid; use /login?return_to=<bridge URL> once.")
		return
	}
	returnTo := q.Get("return_to")
	if returnTo != "" {
		if err := CheckReturnTo(returnTo, p.bridgeOrigin); err != nil {
			p.log.Warn("demoplatform: return_to refused", "err", err)
			renderError(w, http.StatusBadRequest, "Login link refused", err.Error())
			return
		}
	}
	render(w, http.StatusOK, page{Title: "Log in", Picker: true, Customers: p.Customers(), ReturnTo: returnTo, BridgeOrigin: p.bridgeOrigin})
}

// handleLogin logs the picked customer in; with return_to it sends the
// browser back to the bridge with a fresh handoff token.
func (p *Platform) handleLogin(w http.ResponseWriter, r *http.Request) {
	form, ok := p.readForm(w, r)
	if !ok {
		return
	}
	if len(form["customer"]) != 1 || len(form["return_to"]) > 1 {
		renderError(w, http.StatusBadRequest, "Login refused", "The login form must carry customer once and return_to at most once.")
		return
	}
	c, known := p.customer(form.Get("customer"))
	if !known {
		renderError(w, http.StatusBadRequest, "Login refused", "There is no such customer; pick one from the list.")
		return
	}
	returnTo := form.Get("return_to")
	if returnTo != "" {
		if err := CheckReturnTo(returnTo, p.bridgeOrigin); err != nil {
			p.log.Warn("demoplatform: return_to refused", "err", err)
			renderError(w, http.StatusBadRequest, "Login refused", err.Error())
			return
		}
	}
	ses, err := p.sessions.start(c.XAccountID)
	if err != nil {
		renderError(w, http.StatusServiceUnavailable, "Login failed", err.Error())
		return
	}
	p.setCookie(w, ses.ID, int(SessionLifetime.Seconds()))
	p.log.Info("demoplatform: customer logged in", "xaccount_id", c.XAccountID)
	if returnTo == "" {
		redirect(w, PathHome)
		return
	}
	token, err := p.mint(c)
	if err != nil {
		p.log.Error("demoplatform: cannot mint a handoff token", "err", err)
		renderError(w, http.StatusInternalServerError, "Login failed", "The platform could not sign a handoff token; see its log.")
		return
	}
	p.log.Info("demoplatform: handoff token minted", "xaccount_id", c.XAccountID, "to", "return_to")
	p.traceMinted(c.XAccountID, ViaLoginReturnTo, token)
	redirect(w, withToken(returnTo, token))
}

func (p *Platform) handleOpenConsole(w http.ResponseWriter, r *http.Request) {
	ses, ok := p.loggedInForm(w, r)
	if !ok {
		return
	}
	c, _ := p.customer(ses.XAccountID)
	token, err := p.mint(c)
	if err != nil {
		p.log.Error("demoplatform: cannot mint a handoff token", "err", err)
		renderError(w, http.StatusInternalServerError, "Cannot open the console", "The platform could not sign a handoff token; see its log.")
		return
	}
	p.log.Info("demoplatform: handoff token minted", "xaccount_id", ses.XAccountID, "to", "handoff")
	p.traceMinted(ses.XAccountID, ViaConsoleButton, token)
	redirect(w, p.HandoffURL(token))
}

// addBackend puts the backend features on a home page: the register
// form, the Huawei account a registration created, the webhooks received.
func (p *Platform) addBackend(pg *page, xAccountID string) {
	pg.CanRegister = p.apiMinter != nil && xAccountID == ""
	pg.TraceOn = p.trace != nil
	pg.WebhooksOn = p.webhookKey != nil
	pg.Events = p.Events()
	if xAccountID != "" {
		p.mu.Lock()
		if reg, ok := p.registered[xAccountID]; ok {
			pg.Registered = &reg
		}
		p.mu.Unlock()
	}
}

func (p *Platform) handleLogout(w http.ResponseWriter, r *http.Request) {
	ses, ok := p.loggedInForm(w, r)
	if !ok {
		return
	}
	p.sessions.end(ses.ID)
	p.setCookie(w, "", -1)
	redirect(w, PathHome)
}

// loggedInForm reads a form posted by a logged-in page and checks its CSRF
// token against the session.
func (p *Platform) loggedInForm(w http.ResponseWriter, r *http.Request) (*session, bool) {
	form, ok := p.readForm(w, r)
	if !ok {
		return nil, false
	}
	ses := p.session(r)
	if ses == nil {
		renderError(w, http.StatusUnauthorized, "Not logged in", "Your platform session has ended; log in again.")
		return nil, false
	}
	if subtle.ConstantTimeCompare([]byte(form.Get("csrf")), []byte(ses.CSRF)) != 1 {
		renderError(w, http.StatusForbidden, "Form refused", "The form does not belong to this session; reload the page.")
		return nil, false
	}
	return ses, true
}

// readForm reads a bounded urlencoded form from the platform's own pages.
func (p *Platform) readForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if !p.sameOrigin(r) {
		renderError(w, http.StatusForbidden, "Form refused", "The form was posted from another site.")
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		renderError(w, http.StatusBadRequest, "Form refused", "The form could not be read (at most 16 KiB of application/x-www-form-urlencoded).")
		return nil, false
	}
	return r.PostForm, true
}

// sameOrigin refuses cross-site posts: Origin, when sent, must be the
// platform's; Sec-Fetch-Site, when sent, must not say cross-site.
func (p *Platform) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		return strings.EqualFold(o, p.baseOrigin)
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

func (p *Platform) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	return p.sessions.get(c.Value)
}

// setCookie sets or (maxAge < 0) clears the host-only session cookie;
// Secure when the platform runs on https.
func (p *Platform) setCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
}

// redirect answers a form post with 303 See Other, so the browser follows
// with GET.
func redirect(w http.ResponseWriter, location string) {
	setHeaders(w.Header())
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusSeeOther)
}
