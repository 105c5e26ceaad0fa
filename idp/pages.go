package idp

import (
	"html/template"
	"net/http"
)

// errorPage is what a browser sees when the bridge refuses a request it
// cannot answer with a SAML message. It has no script and loads nothing.
var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>{{.Title}}</h1>
<p id="message">{{.Message}}</p>
{{if .Detail}}<p>{{.LabelDetail}}: <span id="detail" lang="en">{{.Detail}}</span></p>{{end}}
{{if .Continue}}<p><a id="continue" href="{{.Continue}}">{{.LabelContinue}}</a></p>{{end}}
{{if .BackURL}}<p><a id="back" href="{{.BackURL}}">{{.LabelBack}}</a></p>{{end}}
{{if .Reason}}<p>{{.LabelReason}}: <code id="reason">{{.Reason}}</code></p>{{end}}
{{if .Reference}}<p>{{.LabelReference}}: <code id="reference">{{.Reference}}</code></p>{{end}}
</body></html>
`))

type errorView struct {
	Title     string
	Message   string // what was wrong and what to do; never secret
	Reason    string // the machine reason, as in the audit event
	Reference string // for 5xx: ties the page to the log line
	BackURL   string // optional: a link back to the partner platform
	Continue  string // optional: where the user goes on when the refusal harms nothing
	Detail    string // the bridge's own (English) message when Message is a translation

	Lang                                                               string
	LabelReason, LabelReference, LabelBack, LabelDetail, LabelContinue string
}

func (v *errorView) defaults() {
	if v.Lang == "" {
		v.Lang = LangEN
		v.LabelReason, v.LabelReference, v.LabelBack, v.LabelDetail, v.LabelContinue = "Reason", "Reference", "Back to the partner platform", "Details", "Continue"
	}
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
	v.defaults()
	_ = errorPage.Execute(w, v)
}
