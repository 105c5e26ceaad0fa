package demoplatform

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
)

// pageCSS is the only style the pages carry; the CSP allows it by hash.
const pageCSS = `body{font-family:sans-serif;max-width:52rem;margin:1rem auto;padding:0 1rem;color:#222}` +
	`.banner{background:#dbeafe;border:1px solid #1d4ed8;padding:.5rem;font-weight:bold}` +
	`.error{color:#b91c1c;font-weight:bold}` +
	`table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}` +
	`form{display:inline;margin:0}button{margin:.25rem 0}`

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// pageCSP allows no script and nothing external. It has no form-action:
// the console and login forms answer with a redirect to the bridge (and on
// through Huawei), and browsers apply form-action to every redirect of a
// form submission, so any list here would break the hand-over.
var pageCSP = "default-src 'none'; style-src " + cspHash(pageCSS) + "; base-uri 'none'; frame-ancestors 'none'"

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Title}} · Demo partner platform</title><style>` + pageCSS + `</style></head>
<body>
<p id="banner" class="banner">Demo partner platform — customers here are made up</p>
<h1>{{.Title}}</h1>
{{if .Error}}<p id="error" class="error">{{.Error}}</p>{{end}}
{{with .Current}}<p>Logged in as <strong id="logged-in-as">{{.XAccountID}}</strong> ({{.Name}}).</p>
<form id="open-console-form" method="post" action="/open-console"><input type="hidden" name="csrf" value="{{$.CSRF}}">
<button type="submit" id="open-console">Open Huawei Cloud console</button></form>
<form id="logout-form" method="post" action="/logout"><input type="hidden" name="csrf" value="{{$.CSRF}}">
<button type="submit" id="logout">Log out</button></form>
<p>The button asks this platform's backend for a one-minute handoff token and sends you to the SSO bridge at <code id="bridge-url">{{$.BridgeURL}}</code>.</p>
{{with $.Registered}}<p id="registered">You registered here: the platform had the bridge create your Huawei account <code id="registered-domain-name">{{.DomainName}}</code>, domain_id <code id="registered-domain-id">{{.DomainID}}</code>. Your first console visit skips Huawei's bind page.</p>
{{end}}{{end}}
{{if .Picker}}{{if .ReturnTo}}<p id="return-note">The SSO bridge at <code>{{.BridgeOrigin}}</code> asked you to log in. Pick a customer; you will be sent back to the bridge.</p>{{end}}
<h2>Log in as a demo customer</h2>
<table id="customers"><tr><th>xaccount_id</th><th>Name</th><th>Mobile</th><th>E-mail</th><th></th></tr>
{{range .Customers}}<tr><td>{{.XAccountID}}</td><td>{{.Name}}</td><td>{{.Mobile}}</td><td>{{.Email}}</td>
<td><form method="post" action="/login"><input type="hidden" name="customer" value="{{.XAccountID}}">{{if $.ReturnTo}}<input type="hidden" name="return_to" value="{{$.ReturnTo}}">{{end}}
<button type="submit" id="customer-{{.XAccountID}}">Log in as {{.XAccountID}}</button></form></td></tr>
{{end}}</table>{{end}}{{if .CanRegister}}
<h2>Register a new customer</h2>
<p>The platform's backend asks the SSO bridge (POST /api/v1/customers) to create the customer's Huawei account through Huawei's partner API; the bridge stores the binding and sends this platform a webhook.</p>
<form id="register-form" method="post" action="/register"><label>xaccount_id <input type="text" name="xaccount_id" id="register-xaccount-id" required maxlength="128"></label>
<label>Name <input type="text" name="name" id="register-name" maxlength="64"></label>
<button type="submit" id="register">Register and create the Huawei account</button></form>{{end}}{{if .WebhooksOn}}
<h2>Webhooks received from the bridge</h2>
<table id="webhooks"><tr><th>webhook-id</th><th>type</th><th>xaccount_id</th><th>domain_id</th><th>source</th></tr>
{{range .Events}}<tr id="webhook-{{.ID}}"><td>{{.ID}}</td><td>{{.Type}}</td><td>{{.XAccountID}}</td><td>{{.DomainID}}</td><td>{{.Source}}</td></tr>
{{end}}</table>{{end}}
{{if .TraceOn}}<p><a id="trace-link" href="/trace">Trace of the logins</a>: what the token, the bridge and Huawei exchanged at each console visit.</p>
{{end}}{{if .HomeLink}}<p><a id="home" href="/">Back to the platform</a></p>{{end}}
</body></html>
`))

type page struct {
	Title        string
	Error        string
	Current      *Customer
	CSRF         string
	BridgeURL    string
	Picker       bool
	Customers    []Customer
	ReturnTo     string
	BridgeOrigin string
	HomeLink     bool
	CanRegister  bool
	WebhooksOn   bool
	Events       []ReceivedEvent
	Registered   *Registered
	TraceOn      bool
}

// setHeaders marks a platform page uncacheable and locked down. Referrer
// policy strict-origin gives the bridge the platform's origin only (never
// its URLs): the bridge's login-CSRF check needs it to accept the handoff.
func setHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "strict-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", pageCSP)
}

func render(w http.ResponseWriter, status int, p page) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, p); err != nil {
		http.Error(w, "demoplatform: page template failed", http.StatusInternalServerError)
		return
	}
	setHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func renderError(w http.ResponseWriter, status int, title, msg string) {
	render(w, status, page{Title: title, Error: msg, HomeLink: true})
}
