package demotrace

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
)

// pageCSS is the only style the page carries; the CSP allows it by hash.
const pageCSS = `body{font-family:sans-serif;max-width:64rem;margin:1rem auto;padding:0 1rem;color:#222}` +
	`.banner{background:#dbeafe;border:1px solid #1d4ed8;padding:.5rem;font-weight:bold}` +
	`section.login{border:2px solid #999;border-radius:.5rem;padding:.5rem 1rem;margin:1rem 0}` +
	`section.first-login,section.bind-page{border-color:#b45309;background:#fffbeb}` +
	`section.bound{border-color:#166534;background:#f0fdf4}section.refused{border-color:#b91c1c;background:#fef2f2}` +
	`.outcome{font-weight:bold;font-size:1.1rem}.badge{display:inline-block;padding:0 .4rem;border-radius:.3rem;color:#fff;background:#555}` +
	`.first-login .badge,.bind-page .badge{background:#b45309}.bound .badge{background:#166534}.refused .badge{background:#b91c1c}` +
	`.hop{display:inline-block;border:1px solid #999;border-radius:1rem;padding:0 .5rem;margin:.1rem 0;font-size:.9rem}` +
	`.hop.ok{border-color:#166534;background:#dcfce7}.hop.no{border-color:#b91c1c;background:#fee2e2}.hop.wait{border-style:dashed;color:#777}` +
	`ol.steps>li{margin:.5rem 0}.who{color:#555;font-size:.9rem}.skipped{color:#777}` +
	`.ok{color:#166534;font-weight:bold}.no{color:#b91c1c;font-weight:bold}` +
	`table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .4rem;text-align:left;vertical-align:top}` +
	`pre{background:#f8f8f8;border:1px solid #ddd;padding:.5rem;white-space:pre-wrap;word-break:break-all;font-size:.8rem;line-height:1.3}` +
	`pre .hl{background:#fde68a;display:inline-block;min-width:100%}details{margin:.25rem 0}code{word-break:break-all}`

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// pageCSP: no script, nothing external, no forms.
var pageCSP = "default-src 'none'; style-src " + cspHash(pageCSS) + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var pageTemplate = template.Must(template.New("trace").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Trace of the logins · Demo partner platform</title><style>` + pageCSS + `</style></head>
<body>
<p id="banner" class="banner">Demo partner platform — trace of the logins (newest first)</p>
<h1>Trace of the logins</h1>
<p>Each "Open Huawei Cloud console" as the demo's three parts saw it: the platform that minted the handoff token, the bridge (its audit events), and the mock Huawei IAM (the messages it sent and received). Tokens appear by their claims only; no key, signature of a token or cookie is shown.</p>
<p><a id="home" href="/">Back to the platform</a></p>
{{if not .}}<p id="no-logins">No login yet: log in as a customer and press "Open Huawei Cloud console".</p>{{end}}
{{range .}}{{$l := .}}<section id="login-{{.N}}" class="login {{.Outcome}}">
<h2><span class="badge" id="login-{{.N}}-badge">{{.Outcome.Label}}</span> Login {{.N}}: <code>{{.XAccountID}}</code></h2>
<p class="outcome" id="login-{{.N}}-summary">{{.Summary}}</p>
<p class="hops" id="login-{{.N}}-hops">{{range $i, $h := .Hops}}{{if $i}} → {{end}}<span class="hop {{$h.State}}">{{$h.Label}}</span>{{end}}</p>
<ol class="steps">
<li id="login-{{.N}}-token"><span class="who">platform → browser → bridge</span> <strong>Handoff token</strong> (minted by the {{.Via}}; signature not shown)
<table><tr><th colspan="3">header</th></tr>{{range .Token.Header}}<tr><td>{{.Name}}</td><td><code>{{.Value}}</code></td><td>{{.Note}}</td></tr>{{end}}
<tr><th colspan="3">claims</th></tr>{{range .Token.Claims}}<tr><td>{{.Name}}</td><td><code>{{.Value}}</code></td><td>{{.Note}}</td></tr>{{end}}</table>
{{with .Handoff}}<p>The bridge: <code>{{.Event}}</code> {{.Verdict}}{{if .Reason}} (<code id="login-{{$l.N}}-handoff-reason">{{.Reason}}</code>){{end}}.</p>{{end}}</li>
{{with .LoginLink}}<li id="login-{{$l.N}}-link"><span class="who">bridge → browser → Huawei</span> <strong>Huawei's login link</strong>, <code id="login-{{$l.N}}-isfirstlogin">isFirstLogin={{.IsFirstLogin}}</code>
<pre>{{.URL}}</pre></li>{{end}}
{{with .AuthnRequest}}<li id="login-{{$l.N}}-authnrequest"><span class="who">Huawei → browser → bridge</span> <strong>AuthnRequest</strong> (HTTP-Redirect, signed by Huawei over the query)
{{with $l.SSO}}{{if or (eq .Verdict "issued") (eq .Verdict "deferred")}}<p><span class="ok" id="login-{{$l.N}}-signature">signature verified</span> by the bridge with the SP metadata's certificate; the bridge {{if eq .Verdict "issued"}}answered it{{else}}sent you to the platform's login first{{end}}.</p>{{else}}<p><span class="no" id="login-{{$l.N}}-signature">refused</span> by the bridge: <code>{{.Reason}}</code></p>{{end}}{{else}}<p class="skipped">The bridge's verdict on it is not in the trace.</p>{{end}}
<details open><summary>decoded XML</summary><pre>{{range .Lines}}{{.Text}}
{{end}}</pre></details></li>{{end}}
{{with .Response}}<li id="login-{{$l.N}}-response"><span class="who">bridge → browser (POST form) → Huawei</span> <strong>signed Response</strong>{{with $l.SSO}}{{if .AssertionID}}, assertion <code>{{.AssertionID}}</code>{{end}}{{end}}
{{with $l.ACS}}{{if .Accepted}}<p><span class="ok">accepted</span> by Huawei's ACS (signature, audience, times, InResponseTo).</p>{{else}}<p><span class="no">refused</span> by Huawei's ACS: <code>{{.Reason}}</code> {{.Detail}}</p>{{end}}{{end}}
{{if .Attributes}}<table id="login-{{$l.N}}-attributes"><tr><th>attribute</th><th>FriendlyName</th><th>values</th></tr>{{range .Attributes}}<tr><td>{{.Name}}</td><td>{{.FriendlyName}}</td><td>{{range $i, $v := .Values}}{{if $i}}, {{end}}<code>{{$v}}</code>{{end}}</td></tr>{{end}}</table>{{end}}
<details><summary>decoded XML (attributes highlighted; signature values shortened)</summary><pre>{{range .Lines}}{{if .Highlight}}<span class="hl">{{.Text}}</span>{{else}}{{.Text}}{{end}}
{{end}}</pre></details></li>{{end}}
{{if eq .Outcome "bound"}}<li id="login-{{.N}}-console"><span class="who">Huawei</span> <strong>already bound: straight to the console</strong>{{with .Session}} — Huawei account <code>{{.DomainID}}</code>{{end}}. <span class="skipped">No bind page and no bind notification.</span></li>{{end}}
{{with .Session}}{{if and .Accepted (not .DomainID)}}<li id="login-{{$l.N}}-bindpage"><span class="who">Huawei</span> <strong>bind page</strong>: not bound yet (isFirstLogin=true), so Huawei asks for an account to bind.{{with $l.Bind}} Result: {{if .Accepted}}<span class="ok">{{.Detail}}</span>{{else}}<span class="no">{{.Detail}}</span>{{end}}.{{end}}</li>{{end}}{{end}}
{{with .Notification}}<li id="login-{{$l.N}}-notification"><span class="who">Huawei → browser → bridge</span> <strong>bind notification</strong> (bindRequest, signed by Huawei){{with $l.Stored}}: {{if eq .Verdict "stored"}}<span class="ok">signature verified, binding stored</span>{{else}}<code>{{.Verdict}}</code> {{.Reason}}{{end}}{{end}}
<pre>{{range .Lines}}{{.Text}}
{{end}}</pre></li>{{end}}
{{if or .Binding .BindingError}}<li id="login-{{.N}}-binding"><span class="who">bridge's store</span> <strong>{{if eq .Outcome "first-login"}}binding stored{{else}}binding{{end}}</strong> (as it is now)
{{with .Binding}}<table><tr><th>xaccount_type</th><td>{{.XAccountType}}</td></tr><tr><th>xaccount_id</th><td>{{.XAccountID}}</td></tr><tr><th>domain_id</th><td><code id="login-{{$l.N}}-domain-id">{{.DomainID}}</code></td></tr><tr><th>domain_name</th><td>{{.DomainName}}</td></tr><tr><th>source</th><td>{{.Source}}</td></tr><tr><th>updated</th><td>{{.UpdatedAt.UTC.Format "2006-01-02 15:04:05 UTC"}}</td></tr></table>{{end}}
{{if .BindingError}}<p class="no">{{.BindingError}}</p>{{end}}</li>{{end}}
</ol></section>
{{end}}</body></html>
`))

// render writes the page with a CSP that allows its style only.
func render(w http.ResponseWriter, logins []Login) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, logins); err != nil {
		http.Error(w, "demotrace: page template failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}
