package idp

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/user"
)

// Login-CSRF defence of the handoff (issue 11 item 2). A page on any site
// could otherwise send a victim's browser to /sso/huawei with a fresh token
// for the attacker's own platform account and so sign the victim into the
// attacker's Huawei account. Two layers:
//
//  1. Where the request comes from, judged from Sec-Fetch-Site, Origin and
//     Referer against the platform origins (Config.HandoffOrigins, the
//     PlatformLoginURL's origin and our own):
//     - Sec-Fetch-Site: same-origin: our own page (the confirmation form).
//     - an Origin (not "null") or a Referer: its origin must be one of them,
//       or the handoff is refused (foreign_origin) before the token is read.
//     - Sec-Fetch-Site present (a current browser) but neither Origin nor
//       Referer (the platform page has Referrer-Policy: no-referrer, or an
//       attacker suppressed it): refused (origin_unknown) unless the
//       token's platform is listed in Config.HandoffWithoutOrigin.
//     - none of the three headers: not a browser that can be driven by a
//       foreign page (every current browser sends Sec-Fetch-Site on a
//       navigation to an https site), e.g. a test client: accepted.
//  2. A browser that already has a live bridge session for another customer
//     is not switched silently: it gets a confirmation page (account_switch)
//     whose button POSTs back to us with a single-use ID that is also in a
//     SameSite=Strict cookie, so a foreign page cannot press it.

// Reasons of the handoff guard.
const (
	ReasonForeignOrigin = "foreign_origin"
	ReasonOriginUnknown = "origin_unknown"
	ReasonAccountSwitch = "account_switch"
	ReasonSwitchExpired = "switch_expired"
	ReasonSwitchNotOurs = "switch_not_confirmed_here"
)

const (
	bucketSwitch       = "switch" // Ephemeral bucket of pending account switches
	switchTTL          = 5 * time.Minute
	fieldConfirm       = "confirm" // query parameter of the confirmation POST
	switchCookieSecure = "__Host-partneridp_switch"
	switchCookiePlain  = "partneridp_switch"
)

// Verdicts of judgeOrigin.
const (
	originVerdictOK      = iota // an allowed origin, our own page, or not a browser
	originVerdictForeign        // Origin or Referer names another site
	originVerdictNone           // a browser that does not say where it comes from
)

// originOf returns scheme://host[:port] in lower case with the default port
// dropped, or "" when raw is not an absolute http(s) URL.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	host := strings.ToLower(u.Host)
	if (u.Scheme == "https" && strings.HasSuffix(host, ":443")) || (u.Scheme == "http" && strings.HasSuffix(host, ":80")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return u.Scheme + "://" + host
}

// judgeOrigin says whether r comes from an allowed origin (ok), from
// another one (foreign: the offending origin is returned), or carries no
// origin evidence although it comes from a browser (none).
func (s *Server) judgeOrigin(r *http.Request) (int, string) {
	site := r.Header.Get("Sec-Fetch-Site")
	if site == "same-origin" {
		return originVerdictOK, ""
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		if s.handoffOrigins[originOf(o)] {
			return originVerdictOK, ""
		}
		return originVerdictForeign, o
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		o := originOf(ref)
		if s.handoffOrigins[o] {
			return originVerdictOK, ""
		}
		if o == "" {
			o = "(unreadable Referer)"
		}
		return originVerdictForeign, o
	}
	if site != "" || r.Header.Get("Origin") == "null" {
		return originVerdictNone, ""
	}
	return originVerdictOK, ""
}

func (s *Server) foreignOriginError(origin string) error {
	return &RequestError{Status: http.StatusForbidden, Reason: ReasonForeignOrigin,
		Msg: fmt.Sprintf("This sign-in link was opened from %.100s, which is not the partner platform. For your safety it was not used. Open the Huawei Cloud console from the partner platform itself.", origin)}
}

func (s *Server) originUnknownError() error {
	return &RequestError{Status: http.StatusForbidden, Reason: ReasonOriginUnknown,
		Msg: "Your browser did not say which site opened this sign-in link, so it was not used. Open the Huawei Cloud console from the partner platform again. (Operator: the platform page must not send Referrer-Policy: no-referrer, or allow it with handoff_without_origin.)"}
}

// pendingSwitch is a verified handoff waiting for the user's confirmation.
type pendingSwitch struct {
	Claims  handoff.Claims `json:"claims"`
	Service string         `json:"service"`
	FlowID  string         `json:"flow,omitempty"`
	Expires time.Time      `json:"expires"`
}

// legacySwitchClaims is how records written before the user registry held the customer
// (handoff.Claims had Subject, Name, Mobile, Email and BPID fields): a switch pending across
// an upgrade is still honoured. The other fields kept their JSON names.
type legacySwitchClaims struct {
	Claims struct {
		Subject, Name, Mobile, Email, BPID string
	} `json:"claims"`
}

func decodePendingSwitch(value []byte) (pendingSwitch, error) {
	var p pendingSwitch
	if err := json.Unmarshal(value, &p); err != nil {
		return p, err
	}
	if p.Claims.XAccountID != "" {
		return p, nil
	}
	var old legacySwitchClaims
	if err := json.Unmarshal(value, &old); err != nil {
		return p, err
	}
	lc := old.Claims
	p.Claims.XAccountID = lc.Subject
	for field, v := range map[string]string{user.Name: lc.Name, user.Mobile: lc.Mobile, user.Email: lc.Email, user.BPID: lc.BPID} {
		p.Claims.Set(field, v)
	}
	return p, nil
}

func (s *Server) switchCookieName() string {
	if s.cfg.Sessions.Secure {
		return switchCookieSecure
	}
	return switchCookiePlain
}

// askSwitch stores the verified handoff and shows the confirmation page.
func (s *Server) askSwitch(w http.ResponseWriter, r *http.Request, ev *AuditEvent, current handoff.Claims, p pendingSwitch) {
	var b [flowIDBytes]byte
	if err := s.readRand(b[:]); err != nil {
		s.fail(w, r, ev, fmt.Errorf("idp: reading randomness for a switch ID: %w", err))
		return
	}
	id := hex.EncodeToString(b[:])
	p.Expires = s.now().Add(switchTTL).UTC()
	value, err := json.Marshal(p)
	if err != nil {
		s.fail(w, r, ev, err)
		return
	}
	if err := s.cfg.Ephemeral.Add(r.Context(), bucketSwitch, id, value, p.Expires); err != nil {
		s.fail(w, r, ev, fmt.Errorf("idp: storing the pending switch: %w", err))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: s.switchCookieName(), Value: id, Path: "/", MaxAge: int(switchTTL / time.Second),
		Secure: s.cfg.Sessions.Secure, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	ev.Verdict, ev.Reason = VerdictConfirmAsked, ReasonAccountSwitch
	setPageHeaders(w.Header(), "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	lang := s.pageLang(r)
	t := func(key string) string { return s.text(lang, key) }
	_ = switchPage.Execute(w, switchView{
		Current: current.XAccountID, New: p.Claims.XAccountID,
		Action: s.handoffURL + "?" + fieldConfirm + "=" + id, BackURL: s.cfg.LandingURL, Reason: ReasonAccountSwitch,
		Lang: lang, Title: t("switch.title"), TextCurrent: t("switch.current"), TextNew: t("switch.new"),
		Warning: t("switch.warning"), Continue: t("switch.continue"), Stay: t("switch.stay"), StayTail: t("switch.stay_tail"),
		LabelReason: t("label.reason"),
	})
	s.finish(*ev)
}

// confirmSwitch completes a handoff the user confirmed on the switch page.
func (s *Server) confirmSwitch(w http.ResponseWriter, r *http.Request, ev *AuditEvent, id string, start time.Time) {
	if r.Method != http.MethodPost {
		s.fail(w, r, ev, &RequestError{Status: http.StatusMethodNotAllowed, Reason: ReasonMethodNotAllowed, Msg: "confirm the account switch with the button on the page"})
		return
	}
	c, err := r.Cookie(s.switchCookieName())
	verdict, _ := s.judgeOrigin(r)
	if err != nil || c.Value != id || !validFlowID(id) || verdict == originVerdictForeign {
		s.fail(w, r, ev, &RequestError{Status: http.StatusForbidden, Reason: ReasonSwitchNotOurs,
			Msg: "This account switch was not confirmed on this bridge's own page in this browser. Open the Huawei Cloud console from the partner platform again."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: s.switchCookieName(), Value: "", Path: "/", MaxAge: -1,
		Secure: s.cfg.Sessions.Secure, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	value, err := s.cfg.Ephemeral.Take(r.Context(), bucketSwitch, id)
	if errors.Is(err, binding.ErrNotFound) {
		s.fail(w, r, ev, &RequestError{Status: http.StatusBadRequest, Reason: ReasonSwitchExpired,
			Msg: "This account switch has expired or was already used. Open the Huawei Cloud console from the partner platform again."})
		return
	}
	if err != nil {
		s.fail(w, r, ev, err)
		return
	}
	p, err := decodePendingSwitch(value)
	if err != nil || !s.now().Before(p.Expires) {
		s.fail(w, r, ev, &RequestError{Status: http.StatusBadRequest, Reason: ReasonSwitchExpired,
			Msg: "This account switch has expired. Open the Huawei Cloud console from the partner platform again."})
		return
	}
	if p.FlowID != "" {
		ev.Event = EventResume
	}
	ev.XAccountID = p.Claims.XAccountID
	s.continueHandoff(w, r, ev, p.Claims, p.Service, p.FlowID, start)
}

type switchView struct {
	Current, New, Action, BackURL, Reason string
	Lang, Title, TextCurrent, TextNew     string
	Warning, Continue, Stay, StayTail     string
	LabelReason                           string
}

// switchPage asks before the bridge session changes customer. No script;
// the form posts to our own handoff URL only.
var switchPage = template.Must(template.New("switch").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>{{.Title}}</h1>
<p id="message">{{.TextCurrent}} <code id="current">{{.Current}}</code>.
{{.TextNew}} <code id="new">{{.New}}</code>. {{.Warning}}</p>
<form method="post" action="{{.Action}}"><button type="submit" id="confirm">{{.Continue}} {{.New}}</button></form>
<p><a id="back" href="{{.BackURL}}">{{.Stay}} {{.Current}} {{.StayTail}}</a></p>
<p>{{.LabelReason}}: <code id="reason">{{.Reason}}</code></p>
</body></html>
`))

// sameCustomer: the session and the token name the same platform customer.
func sameCustomer(a, b handoff.Claims) bool {
	return a.XAccountID == b.XAccountID && a.Issuer == b.Issuer
}
