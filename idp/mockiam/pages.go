package mockiam

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
)

// The only style and script the pages carry; the CSP allows them by hash.
const (
	pageCSS = `body{font-family:sans-serif;max-width:52rem;margin:1rem auto;padding:0 1rem;color:#222}` +
		`.banner{background:#fde68a;border:1px solid #b45309;padding:.5rem;font-weight:bold}` +
		`.refused{color:#b91c1c;font-weight:bold}.accepted{color:#166534;font-weight:bold}` +
		`table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}` +
		`form{margin:.75rem 0}`
	autoSubmitJS = `document.getElementById("notify").submit();`
)

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

var (
	// cspPage: no script at all; forms post back to the mock only.
	cspPage = "default-src 'none'; style-src " + cspHash(pageCSS) + "; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
	// cspAutoPost: the one auto-submit script. No form-action: the partner
	// answers the notification with a redirect onwards, and browsers apply
	// form-action to that redirect too.
	cspAutoPost = "default-src 'none'; style-src " + cspHash(pageCSS) + "; script-src " + cspHash(autoSubmitJS) + "; base-uri 'none'; frame-ancestors 'none'"
)

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<title>{{.Title}} · Mock Huawei Cloud IAM</title><style>` + pageCSS + `</style></head>
<body>
<p id="banner" class="banner">Mock Huawei Cloud IAM — not Huawei</p>
<h1>{{.Title}}</h1>
{{if .Verdict}}<p id="verdict" class="{{.Verdict}}">{{.Verdict}}</p>{{end}}
{{if .Reason}}<p>Reason: <code id="reason">{{.Reason}}</code></p>{{end}}
{{if .Detail}}<p id="detail">{{.Detail}}</p>{{end}}
{{range .Notes}}<p class="note">{{.}}</p>{{end}}
{{with .Account}}<h2>Huawei Cloud account</h2>
<table id="account">
<tr><th>Domain ID</th><td id="domain-id">{{.Domain.ID}}</td></tr>
<tr><th>Domain name</th><td id="domain-name">{{.Domain.Name}}</td></tr>
<tr><th>xAccountType</th><td id="xaccounttype">{{.XAccountType}}</td></tr>
<tr><th>xUserId</th><td id="xuserid">{{.XUserID}}</td></tr>
</table>{{end}}
{{with .Bind}}<h2>Bind a Huawei Cloud account</h2>
<p>Partner user <code id="xuserid">{{.XUserID}}</code> of <code id="xaccounttype">{{.XAccountType}}</code> has no Huawei Cloud account bound yet.</p>
{{if .Error}}<p id="bind-error" class="refused">{{.Error}}</p>{{end}}
<form id="create-form" method="post" action="/authui/saml/bind">
<input type="hidden" name="token" value="{{.Token}}"><input type="hidden" name="action" value="create">
<label>New account name <input name="domainName" id="create-domain-name"></label> (5–32 letters, digits, _ or -; empty: a random name)
<button type="submit" id="create-account">Create a new account</button>
</form>
<form id="existing-form" method="post" action="/authui/saml/bind">
<input type="hidden" name="token" value="{{.Token}}"><input type="hidden" name="action" value="bind-existing">
<label>Existing account name <input name="domainName" id="existing-domain-name" required></label>
<button type="submit" id="bind-existing">Bind an existing account</button>
</form>{{end}}
{{if .ShowAttributes}}<h2>Attributes received</h2>
<p>NameID: <code id="nameid">{{.NameID}}</code></p>
<table id="attributes"><tr><th>Name</th><th>FriendlyName</th><th>NameFormat</th><th>Values</th></tr>
{{range .Attributes}}<tr><td>{{.Name}}</td><td>{{.FriendlyName}}</td><td>{{.NameFormat}}</td><td>{{range $i, $v := .Values}}{{if $i}}<br>{{end}}{{$v}}{{end}}</td></tr>
{{end}}</table>{{end}}
{{if .Service}}{{if .Bind}}<p>Once an account is bound, Huawei continues to <code id="service">{{.Service}}</code>.</p>{{else}}<p>Huawei would now continue to <a id="service" href="{{.Service}}">{{.Service}}</a>.</p>{{end}}{{end}}
{{with .Notify}}<p>Sending the {{.What}} notification to the partner platform at <code id="notification-url">{{.Action}}</code>…</p>
<form id="notify" method="post" action="{{.Action}}">
<input type="hidden" name="bindRequest" value="{{.BindRequest}}">
<input type="hidden" name="SigAlg" value="{{.SigAlg}}">
<input type="hidden" name="Signature" value="{{.Signature}}">
<noscript><button type="submit" id="notify-continue">Continue to the partner platform</button></noscript>
</form>
<script>` + autoSubmitJS + `</script>{{end}}
{{if .CSRF}}<form id="unbind-form" method="post" action="/authui/saml/unbind"><input type="hidden" name="csrf" value="{{.CSRF}}">
<button type="submit" id="unbind">Unbind this Huawei Cloud account</button></form>{{end}}
{{if .ConsoleLink}}<p><a id="console" href="/console">Mock console</a></p>{{end}}
{{if .LogoutURL}}<p><a id="logout" href="{{.LogoutURL}}">Log out</a></p>{{end}}
</body></html>
`))

type page struct {
	Title          string
	Verdict        string // "accepted" or "refused"
	Reason         Reason
	Detail         string
	Notes          []string
	Account        *Account
	Bind           *bindPage
	ShowAttributes bool
	NameID         string
	Attributes     []Attribute
	Service        string
	Notify         *notifyPage
	CSRF           string
	ConsoleLink    bool
	LogoutURL      string
}

type bindPage struct {
	XAccountType string
	XUserID      string
	Token        string
	Error        string
}

type notifyPage struct {
	What   string // "bind" or "unbind"
	Action string
	SignedBindNotification
}

// render writes a page with the headers every mock page carries.
func render(w http.ResponseWriter, status int, p page) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, p); err != nil {
		http.Error(w, "mockiam: page template failed", http.StatusInternalServerError)
		return
	}
	csp := cspPage
	if p.Notify != nil {
		csp = cspAutoPost
	}
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
