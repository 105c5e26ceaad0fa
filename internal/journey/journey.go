// Package journey drives the bridge's flows as a browser would, without a
// browser: a cookie jar, redirects followed among the hosts under test,
// and the POST forms (SAML Response, bind notification) our pages and the
// mock's write. selftest, loadtest and the end-to-end tests share it.
package journey

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/partneridp/partneridp/idp/demoplatform"
)

// Browser is a stand-in for a web browser: a cookie jar, and redirects
// followed only among the hosts under test.
type Browser struct {
	client  *http.Client
	allowed map[string]bool
}

func NewBrowser(transport http.RoundTripper, hosts ...string) *Browser {
	jar, _ := cookiejar.New(nil) // never fails without options
	b := &Browser{
		client: &http.Client{Jar: jar, Transport: transport, Timeout: 15 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		allowed: map[string]bool{},
	}
	for _, h := range hosts {
		b.allowed[h] = true
	}
	return b
}

// Page is where the browser ended: the last response and every URL visited.
type Page struct {
	URL    *url.URL
	Status int
	Header http.Header
	Body   string
	Chain  []*url.URL
}

func (p *Page) Visited(prefix string) bool {
	for _, u := range p.Chain {
		if strings.HasPrefix(u.String(), prefix) {
			return true
		}
	}
	return false
}

func (p *Page) Location() (*url.URL, error) {
	return p.URL.Parse(p.Header.Get("Location"))
}

// Describe says where the browser is and what the page says, for a failure
// message; it leaves out queries, which may hold tokens.
func (p *Page) Describe() string {
	where := p.URL.Scheme + "://" + p.URL.Host + p.URL.Path
	s := fmt.Sprintf("HTTP %d at %s", p.Status, where)
	if p.Status >= 300 && p.Status < 400 {
		if loc, err := p.Location(); err == nil {
			s += " redirecting to " + loc.Scheme + "://" + loc.Host + loc.Path
		}
	}
	for _, id := range []string{"reason", "message", "detail", "error"} {
		if v := Field(p.Body, id); v != "" {
			s += fmt.Sprintf("; %s: %s", id, v)
		}
	}
	return s
}

const maxPageBytes = 2 << 20

func (b *Browser) Get(ctx context.Context, rawURL string) (*Page, error) {
	return b.Fetch(ctx, http.MethodGet, rawURL, nil)
}

func (b *Browser) Post(ctx context.Context, rawURL string, form url.Values) (*Page, error) {
	return b.Fetch(ctx, http.MethodPost, rawURL, form)
}

func (b *Browser) Submit(ctx context.Context, f *Form) (*Page, error) {
	return b.Post(ctx, f.Action, f.Values)
}

// Fetch requests rawURL and follows redirects among the allowed hosts. A
// redirect to any other host is returned as the page, not followed.
func (b *Browser) Fetch(ctx context.Context, method, rawURL string, form url.Values) (*Page, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	var chain []*url.URL
	for hop := 0; hop < 20; hop++ {
		if !b.allowed[u.Host] {
			return nil, fmt.Errorf("the flow left the servers under test for %s://%s%s", u.Scheme, u.Host, u.Path)
		}
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
		if err != nil {
			return nil, err
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := b.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s %s://%s%s: %w", method, u.Scheme, u.Host, u.Path, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBytes))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		chain = append(chain, u)
		p := &Page{URL: u, Status: resp.StatusCode, Header: resp.Header, Body: string(data), Chain: chain}
		if resp.StatusCode < 300 || resp.StatusCode >= 400 || resp.Header.Get("Location") == "" {
			return p, nil
		}
		next, err := p.Location()
		if err != nil {
			return nil, fmt.Errorf("bad redirect from %s: %w", u.Path, err)
		}
		if !b.allowed[next.Host] {
			return p, nil
		}
		u, method, form = next, http.MethodGet, nil
	}
	return nil, errors.New("more than 20 redirects")
}

// Form is an HTML form found on a page.
type Form struct {
	ID     string
	Action string // absolute
	Values url.Values
}

var (
	formRE = regexp.MustCompile(`<form id="([\w-]+)" method="post" action="([^"]*)">`)
)

// FindForm reads the POST form with the given id and its hidden inputs.
func FindForm(p *Page, id string) (*Form, bool) {
	for _, m := range formRE.FindAllStringSubmatchIndex(p.Body, -1) {
		if p.Body[m[2]:m[3]] != id {
			continue
		}
		rest := p.Body[m[1]:]
		if end := strings.Index(rest, "</form>"); end >= 0 {
			rest = rest[:end]
		}
		action, err := p.URL.Parse(html.UnescapeString(p.Body[m[4]:m[5]]))
		if err != nil {
			return nil, false
		}
		f := &Form{ID: id, Action: action.String(), Values: hiddenInputs(rest)}
		return f, true
	}
	return nil, false
}

// hiddenInputs reads <input type="hidden" name="N" value="V"> elements as
// our pages write them. A plain scan, because a regexp capturing the 8 KB
// SAMLResponse value cost the load generator a tenth of its CPU.
func hiddenInputs(s string) url.Values {
	const open, mid = `<input type="hidden" name="`, `" value="`
	v := url.Values{}
	for {
		i := strings.Index(s, open)
		if i < 0 {
			return v
		}
		s = s[i+len(open):]
		name, rest, ok := strings.Cut(s, mid)
		if !ok || !validInputName(name) {
			continue
		}
		value, rest, ok := strings.Cut(rest, `"`)
		if !ok || !strings.HasPrefix(rest, ">") {
			continue
		}
		v.Add(name, html.UnescapeString(value))
		s = rest
	}
}

func validInputName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// Field is the text of the element with id (up to its first tag).
func Field(body, id string) string {
	re := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.TrimSpace(html.UnescapeString(m[1]))
}

// OpenConsoleOnDemoPlatform plays the platform's customer on the demo
// platform at platformURL: log in as xAccountID and press "Open Huawei
// Cloud console". The page is where the browser ends: the bridge's POST
// form when all is well.
func OpenConsoleOnDemoPlatform(ctx context.Context, b *Browser, platformURL, xAccountID string) (*Page, error) {
	p, err := b.Post(ctx, platformURL+demoplatform.PathLogin, url.Values{"customer": {xAccountID}})
	if err != nil {
		return nil, err
	}
	open, ok := FindForm(p, "open-console-form")
	if p.Status != http.StatusOK || !ok {
		return nil, fmt.Errorf("demo platform login: no console button: %s", p.Describe())
	}
	return b.Submit(ctx, open)
}

// HostOf is the host (with port) of one of the caller's own URLs, as
// NewBrowser takes them; it panics on a URL that does not parse, which is a
// bug in the caller, not outside input.
func HostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	return u.Host
}
