package idp

import (
	"html/template"
	"net/http"
)

// errorPage is what a browser sees when the bridge refuses a request it
// cannot answer with a SAML message. It has no script and loads nothing.
var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>{{.Title}}</h1>
<p id="message">{{.Message}}</p>
{{if .BackURL}}<p><a id="back" href="{{.BackURL}}">Back to the partner platform</a></p>{{end}}
{{if .Reason}}<p>Reason: <code id="reason">{{.Reason}}</code></p>{{end}}
{{if .Reference}}<p>Reference: <code id="reference">{{.Reference}}</code></p>{{end}}
</body></html>
`))

type errorView struct {
	Title     string
	Message   string // what was wrong and what to do; never secret
	Reason    string // the machine reason, as in the audit event
	Reference string // for 5xx: ties the page to the log line
	BackURL   string // optional: a link back to the partner platform
}

// setPageHeaders marks a bridge page as uncacheable and locks it down.
func setPageHeaders(h http.Header, csp string) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", csp)
}

const strictCSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func writeErrorPage(w http.ResponseWriter, status int, v errorView) {
	setPageHeaders(w.Header(), strictCSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = errorPage.Execute(w, v)
}
