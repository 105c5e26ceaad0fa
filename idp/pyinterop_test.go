package idp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/idp/samlreq"
	"github.com/partneridp/partneridp/internal/testtools"
	"github.com/partneridp/partneridp/metadata"
)

// Interoperability with an SP implementation we did not write: OneLogin's
// python3-saml (Debian's python3-onelogin-saml2), driven by
// testdata/interop/onelogin_sp.py. These tests use the real clock: the
// library checks every instant against the system time.

const oneLoginScript = "../testdata/interop/onelogin_sp.py"

// defaultInteropPython is Debian's interpreter: the package installs the
// library for it only, and a python3 earlier on PATH (pyenv, a venv) may
// not have it. INTEROP_PYTHON names another interpreter that has it.
const defaultInteropPython = "/usr/bin/python3"

// requirePython returns an interpreter that can import python3-saml,
// skipping the test when there is none outside CI and failing it in CI.
func requirePython(t testing.TB) string {
	t.Helper()
	python := defaultInteropPython
	if p := os.Getenv("INTEROP_PYTHON"); p != "" {
		python = p
	}
	out, err := exec.Command(python, "-c", "import onelogin.saml2.auth, onelogin.saml2.response").CombinedOutput()
	if err == nil {
		return python
	}
	if len(out) > 500 {
		out = out[len(out)-500:]
	}
	testtools.Missing(t, "python3-onelogin", fmt.Sprintf("%s cannot import onelogin.saml2 (%v: %s)", python, err, bytes.TrimSpace(out)))
	t.SkipNow()
	return ""
}

// oneLoginSP is python3-saml configured as Huawei's SP (the test SP's key)
// trusting our IdP: our entityID, SSO URL and current certificate.
type oneLoginSP struct {
	python string
	sp     oneLoginSPConfig
	idp    oneLoginIdPConfig
}

type oneLoginSPConfig struct {
	EntityID string `json:"entity_id"`
	ACSURL   string `json:"acs_url"`
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
}

type oneLoginIdPConfig struct {
	EntityID string `json:"entity_id"`
	SSOURL   string `json:"sso_url"`
	CertFile string `json:"cert_file"`
}

// oneLoginInput is what onelogin_sp.py reads on stdin.
type oneLoginInput struct {
	Mode               string            `json:"mode"`
	SP                 oneLoginSPConfig  `json:"sp"`
	IdP                oneLoginIdPConfig `json:"idp"`
	WantMessagesSigned bool              `json:"want_messages_signed"`
	SAMLResponse       string            `json:"saml_response,omitempty"`
	RelayState         string            `json:"relay_state,omitempty"`
	RequestID          string            `json:"request_id,omitempty"`
	ReturnTo           string            `json:"return_to,omitempty"`
}

// oneLoginVerdict is python3-saml's judgement of a Response.
type oneLoginVerdict struct {
	Valid      bool                `json:"valid"`
	Error      *string             `json:"error"`
	NameID     *string             `json:"nameid"`
	Attributes map[string][]string `json:"attributes"`
}

func (v oneLoginVerdict) err() string {
	if v.Error == nil {
		return ""
	}
	return *v.Error
}

// oneLoginRequest is a signed HTTP-Redirect AuthnRequest python3-saml made.
type oneLoginRequest struct {
	URL        string `json:"url"`
	RequestID  string `json:"request_id"`
	RequestXML string `json:"request_xml"`
}

func newOneLoginSP(t *testing.T) *oneLoginSP {
	t.Helper()
	return &oneLoginSP{
		python: requirePython(t),
		sp: oneLoginSPConfig{EntityID: spEntityID, ACSURL: acsURL, CertFile: filepath.Join(keysDir, "sp-test.crt"),
			KeyFile: privateCopy(t, keysDir, "sp-test.key")},
		idp: oneLoginIdPConfig{EntityID: idpEntityID, SSOURL: ssoURL, CertFile: filepath.Join(keysDir, "idp-current.crt")},
	}
}

// run feeds in to the script and decodes its answer into out.
func (s *oneLoginSP) run(t *testing.T, in oneLoginInput, out any) {
	t.Helper()
	in.SP, in.IdP = s.sp, s.idp
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.python, oneLoginScript)
	cmd.Stdin = bytes.NewReader(body)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("onelogin_sp.py (%s mode) failed: %v\n%s", in.Mode, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("onelogin_sp.py (%s mode) printed no JSON: %v\nstdout: %s\nstderr: %s", in.Mode, err, stdout.String(), stderr.String())
	}
}

// checkResponse is the SP's ACS receiving the POST form.
func (s *oneLoginSP) checkResponse(t *testing.T, samlResponse, relayState, requestID string, wantMessagesSigned bool) oneLoginVerdict {
	t.Helper()
	var v oneLoginVerdict
	s.run(t, oneLoginInput{Mode: "response", SAMLResponse: samlResponse, RelayState: relayState, RequestID: requestID,
		WantMessagesSigned: wantMessagesSigned}, &v)
	return v
}

// authnRequest is the SP's login: a signed redirect to our SSO URL.
func (s *oneLoginSP) authnRequest(t *testing.T, returnTo string) oneLoginRequest {
	t.Helper()
	var r oneLoginRequest
	s.run(t, oneLoginInput{Mode: "request", ReturnTo: returnTo}, &r)
	if r.URL == "" || r.RequestID == "" {
		t.Fatalf("onelogin_sp.py made no AuthnRequest: %+v", r)
	}
	return r
}

// responseFromBridge runs the whole flow through the bridge's handler on
// the real clock: the platform handoff, an AuthnRequest from the test SP,
// the POST form.
func responseFromBridge(t *testing.T, signResponse bool, requestID string) postForm {
	t.Helper()
	e := newEnv(t, envOptions{now: time.Now(), tweak: func(c *Config) { c.Builder.SignResponse = signResponse }})
	e.login(customer)
	req := e.newRequest(requestID)
	f := readSAMLForm(t, e.get(ssoURL+"?"+req.Query(t)))
	if f.Action != acsURL || f.RelayState != consoleURL {
		t.Fatalf("the form posts to %q with RelayState %q, want %q and %q", f.Action, f.RelayState, acsURL, consoleURL)
	}
	return f
}

// changeOnce replaces the single occurrence of old in the Response and
// re-encodes it as the form field.
func changeOnce(t *testing.T, f postForm, old, replacement string) string {
	t.Helper()
	if n := bytes.Count(f.SAMLResponse, []byte(old)); n != 1 {
		t.Fatalf("%q occurs %d times in the Response, want once", old, n)
	}
	return base64.StdEncoding.EncodeToString(bytes.Replace(f.SAMLResponse, []byte(old), []byte(replacement), 1))
}

// wantOneLoginAttributes is what a Huawei-like SP reads from our Assertion.
var wantOneLoginAttributes = map[string][]string{
	"xUserId": {customer}, "xAccountId": {customer}, "name": {"Zhang San"}, "mobile": {"86-13800000000"},
	"email": {"zhang.san@example.com"}, "bpId": {"0f1e2d3c4b5a69788796a5b4c3d2e1f0"},
}

// checkAccepted insists python3-saml accepted the Response and read our
// NameID and attributes from it.
func checkAccepted(t *testing.T, v oneLoginVerdict, f postForm) {
	t.Helper()
	if !v.Valid {
		t.Fatalf("python3-saml refused our Response: %s\n%s", v.err(), f.SAMLResponse)
	}
	ourNameID := parseResponse(t, f.SAMLResponse).text("./Assertion/Subject/NameID")
	if v.NameID == nil || *v.NameID != ourNameID || ourNameID == "" {
		t.Errorf("python3-saml read NameID %v, want %q", v.NameID, ourNameID)
	}
	if !reflect.DeepEqual(v.Attributes, wantOneLoginAttributes) {
		t.Errorf("python3-saml read attributes %v, want %v", v.Attributes, wantOneLoginAttributes)
	}
}

// python3-saml, as a strict SP wanting signed assertions, accepts the
// Response the bridge posts (with and without the Response itself signed)
// and refuses it once altered, signed where it wants it, or answering
// another request.
func TestOneLoginSPChecksOurResponses(t *testing.T) {
	sp := newOneLoginSP(t)
	const requestID = "_pyinterop-0123456789abcdef"

	t.Run("Assertion signed", func(t *testing.T) {
		f := responseFromBridge(t, false, requestID)
		checkAccepted(t, sp.checkResponse(t, f.RawResponse, f.RelayState, requestID, false), f)

		refusals := []struct {
			name               string
			response           string
			requestID          string
			wantMessagesSigned bool
			wantError          string
		}{
			{"one attribute value changed", changeOnce(t, f, ">Zhang San<", ">Zhang Sun<"), requestID, false,
				"Signature validation failed"},
			{"the SP wants the Response signed too", f.RawResponse, requestID, true,
				"The Message of the Response is not signed"},
			{"the SP sent another AuthnRequest", f.RawResponse, "_pyinterop-another-request", false,
				"does not match the ID of the AuthNRequest"},
		}
		for _, tc := range refusals {
			t.Run(tc.name, func(t *testing.T) {
				v := sp.checkResponse(t, tc.response, f.RelayState, tc.requestID, tc.wantMessagesSigned)
				if v.Valid || !strings.Contains(v.err(), tc.wantError) {
					t.Errorf("python3-saml says valid=%t error=%q, want refused with %q", v.Valid, v.err(), tc.wantError)
				}
			})
		}
	})

	t.Run("Response and Assertion signed", func(t *testing.T) {
		f := responseFromBridge(t, true, requestID)
		checkAccepted(t, sp.checkResponse(t, f.RawResponse, f.RelayState, requestID, true), f)

		// Outside the Assertion only the Response signature protects
		// the IssueInstant; the first one in the document is the Response's.
		d := parseResponse(t, f.SAMLResponse)
		issued := d.root.SelectAttrValue("IssueInstant", "")
		t0, err := time.Parse(time.RFC3339Nano, issued)
		if err != nil {
			t.Fatal(err)
		}
		responseInstant := `IssueInstant="` + issued + `"`
		changedInstant := `IssueInstant="` + t0.Add(-time.Second).UTC().Format("2006-01-02T15:04:05.000Z") + `"`
		changedResponse := bytes.Replace(f.SAMLResponse, []byte(responseInstant), []byte(changedInstant), 1)
		if bytes.Index(f.SAMLResponse, []byte(responseInstant)) > bytes.Index(f.SAMLResponse, []byte("Assertion ")) {
			t.Fatalf("the first IssueInstant is not the Response's:\n%s", f.SAMLResponse)
		}

		refusals := []struct {
			name     string
			response string
		}{
			{"one attribute value changed", changeOnce(t, f, ">Zhang San<", ">Zhang Sun<")},
			{"the Response IssueInstant changed", base64.StdEncoding.EncodeToString(changedResponse)},
		}
		for _, tc := range refusals {
			t.Run(tc.name, func(t *testing.T) {
				v := sp.checkResponse(t, tc.response, f.RelayState, requestID, true)
				if v.Valid || !strings.Contains(v.err(), "Signature validation failed") {
					t.Errorf("python3-saml says valid=%t error=%q, want refused for its signature", v.Valid, v.err())
				}
			})
		}
	})
}

// The intake accepts an AuthnRequest python3-saml encoded and signed for
// the HTTP-Redirect binding, sent byte for byte, and answers it with a
// Response python3-saml accepts; the same request with RelayState changed
// after signing is refused.
func TestIntakeAcceptsOneLoginAuthnRequests(t *testing.T) {
	sp := newOneLoginSP(t)
	e := newEnv(t, envOptions{now: time.Now()})
	e.login(customer)
	e.takeEvents()

	r := sp.authnRequest(t, consoleURL)
	rawQuery, ok := strings.CutPrefix(r.URL, ssoURL+"?")
	if !ok {
		t.Fatalf("python3-saml redirects to %q, want our SSO URL %s", r.URL, ssoURL)
	}
	if sigAlg := rawParam(t, rawQuery, "SigAlg"); sigAlg != url.QueryEscape(metadata.SigAlgRSASHA256) {
		t.Fatalf("python3-saml signed with SigAlg %q, want rsa-sha256", sigAlg)
	}
	tampered := withRawParam(t, rawQuery, "RelayState", url.QueryEscape("https://console.huaweicloud.com/evil"))

	// The tampered copy goes first: its refusal must come from the
	// signature, not from the request ID having been spent.
	p := e.getRawQuery(ssoURL, tampered)
	if p.Status != http.StatusBadRequest || pageReason(p) != samlreq.ReasonBadSignature {
		t.Fatalf("RelayState changed after signing: got %d %q, want 400 %q:\n%s", p.Status, pageReason(p), samlreq.ReasonBadSignature, p.Body)
	}
	noResponse(t, p)
	checkEvent(t, e.oneEvent(), AuditEvent{Event: EventSSO, RequestID: r.RequestID, SP: spEntityID, Verdict: VerdictRefused,
		Reason: samlreq.ReasonBadSignature})

	f := readSAMLForm(t, e.getRawQuery(ssoURL, rawQuery))
	d := parseResponse(t, f.SAMLResponse)
	if got := d.root.SelectAttrValue("InResponseTo", ""); got != r.RequestID {
		t.Errorf("InResponseTo %q, want python3-saml's request ID %q", got, r.RequestID)
	}
	if f.Action != acsURL || f.RelayState != consoleURL {
		t.Errorf("the form posts to %q with RelayState %q, want %q and %q", f.Action, f.RelayState, acsURL, consoleURL)
	}
	checkEvent(t, e.oneEvent(), AuditEvent{Event: EventSSO, RequestID: r.RequestID, SP: spEntityID, XAccountID: customer,
		Verdict: VerdictIssued, AssertionID: d.attr("./Assertion", "ID")})
	checkAccepted(t, sp.checkResponse(t, f.RawResponse, f.RelayState, r.RequestID, false), f)
}

// getRawQuery sends rawQuery exactly as given: the signature covers the
// bytes as encoded by the SP.
func (e *env) getRawQuery(endpoint, rawQuery string) page {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, endpoint+"?"+rawQuery, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if req.URL.RawQuery != rawQuery {
		e.t.Fatalf("net/url changed the query:\n got %s\nwant %s", req.URL.RawQuery, rawQuery)
	}
	return e.do(req)
}

// rawParam is the still-encoded value of name in a raw query.
func rawParam(t *testing.T, rawQuery, name string) string {
	t.Helper()
	for part := range strings.SplitSeq(rawQuery, "&") {
		if v, ok := strings.CutPrefix(part, name+"="); ok {
			return v
		}
	}
	t.Fatalf("the query has no %s parameter: %s", name, rawQuery)
	return ""
}

// withRawParam replaces the encoded value of name, leaving every other
// byte of the query as it was.
func withRawParam(t *testing.T, rawQuery, name, rawValue string) string {
	t.Helper()
	parts := strings.Split(rawQuery, "&")
	for i, part := range parts {
		if strings.HasPrefix(part, name+"=") {
			parts[i] = name + "=" + rawValue
			return strings.Join(parts, "&")
		}
	}
	t.Fatalf("the query has no %s parameter: %s", name, rawQuery)
	return ""
}
