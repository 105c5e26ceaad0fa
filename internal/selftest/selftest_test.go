package selftest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
	"github.com/partneridp/partneridp/idp/handoff"
)

// TestRunnerSkipsAfterAFailure: later steps build on earlier ones, so after
// a failure they are reported as skipped, not run.
func TestRunnerSkipsAfterAFailure(t *testing.T) {
	var out bytes.Buffer
	r := &Runner{out: &out}
	ran := 0
	r.Step("one", func() (string, error) { ran++; return "detail\nsecond line", nil })
	r.Step("two", func() (string, error) { ran++; return "", errors.New("broke\nbecause") })
	r.Step("three", func() (string, error) { ran++; return "", nil })
	if ran != 2 || r.rep != (Report{Passed: 1, Failed: 1, Skipped: 1}) || !r.Failed() {
		t.Fatalf("ran %d steps, report %+v", ran, r.rep)
	}
	want := "[ ok ] one\n       detail\n       second line\n[FAIL] two\n       broke\n       because\n[skip] three\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestRunSetup: an unusable input is returned as it is; a setup whose own
// check failed still prints the flows as skipped and the tally.
func TestRunSetup(t *testing.T) {
	unusable := errors.New("config: 2 problems")
	var out bytes.Buffer
	_, err := Run(context.Background(), Options{Intro: "intro", Setup: func(context.Context, *Runner) (*Env, error) { return nil, unusable }}, &out)
	if err != unusable {
		t.Errorf("err = %v, want the setup's own", err)
	}

	out.Reset()
	closed := 0
	rep, err := Run(context.Background(), Options{Intro: "intro", Setup: func(_ context.Context, r *Runner) (*Env, error) {
		env := &Env{}
		env.OnClose(func() error { closed++; return nil })
		r.Step("platform key", func() (string, error) { return "", errors.New("does not match") })
		env.Close()
		return env, nil
	}}, &out)
	if !errors.Is(err, ErrFailed) || rep.Failed != 1 || rep.Skipped != 4 || closed != 1 {
		t.Errorf("err %v, report %+v, closed %d times", err, rep, closed)
	}
	if !strings.HasPrefix(out.String(), "intro\n[FAIL] platform key") || !strings.Contains(out.String(), "[skip] tampered Response") ||
		!strings.HasSuffix(out.String(), "selftest: 0 passed, 1 failed, 4 skipped\n") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestEnvClosesLastToFirst(t *testing.T) {
	var order []string
	env := &Env{}
	env.OnClose(func() error { order = append(order, "folder"); return nil })
	env.OnClose(func() error { order = append(order, "servers"); return errors.New("busy") })
	if err := env.Close(); err == nil || strings.Join(order, ",") != "servers,folder" {
		t.Errorf("close: %v, order %v", err, order)
	}
	if err := env.Close(); err != nil || len(order) != 2 {
		t.Errorf("a second close: %v, order %v", err, order)
	}
}

// TestTamperXUserID changes the value of the xUserId attribute and nothing
// else, so the signature check is what refuses it.
func TestTamperXUserID(t *testing.T) {
	doc := `<Response><Assertion><Attribute Name="xAccountId"><AttributeValue>alice</AttributeValue></Attribute>` +
		`<Attribute Name="xUserId"><AttributeValue xsi:type="xs:string">alice</AttributeValue></Attribute></Assertion></Response>`
	got, err := tamperXUserID(base64.StdEncoding.EncodeToString([]byte(doc)), "m<allory")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(got)
	want := strings.Replace(doc, `xs:string">alice<`, `xs:string">m&lt;allory<`, 1)
	if string(raw) != want {
		t.Errorf("got  %s\nwant %s", raw, want)
	}
	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte("<Response/>"))} {
		if _, err := tamperXUserID(bad, "x"); err == nil {
			t.Errorf("tamperXUserID(%q): want an error", bad)
		}
	}
}

func TestConsoleAttributes(t *testing.T) {
	body := `<table><tr><th>name</th></tr>` +
		`<tr><td>xUserId</td><td>basic</td><td>1</td><td>alice</td></tr>` +
		`<tr><td>email</td><td>basic</td><td>1</td><td>a&amp;b@example.com</td></tr></table>`
	got := consoleAttributes(body)
	if len(got) != 2 || got["xUserId"] != "alice" || got["email"] != "a&b@example.com" {
		t.Errorf("attributes: %v", got)
	}
}

// TestCopyStore: the copy is verified and the original only read; a store
// that does not exist yet is not an error.
func TestCopyStore(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "partneridp.db")
	msg, err := CopyStore(src, filepath.Join(dir, "copy.db"))
	if err != nil || !strings.Contains(msg, "does not exist yet") {
		t.Errorf("no store: %q, %v", msg, err)
	}
	db, err := bolt.Open(src, bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b := binding.Binding{Key: binding.Key{XAccountType: "shop_IDP", XAccountID: "c1"}, DomainID: strings.Repeat("a", 32), Source: binding.SourceImport}
	if _, err := binding.Put(context.Background(), db, b, "test", nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(src)
	msg, err = CopyStore(src, filepath.Join(dir, "copy2.db"))
	if err != nil || !strings.Contains(msg, "1 binding(s)") {
		t.Errorf("copy: %q, %v", msg, err)
	}
	if after, _ := os.ReadFile(src); !bytes.Equal(before, after) {
		t.Error("CopyStore changed the original")
	}
	if _, err := CopyStore(src, filepath.Join(dir, "copy2.db")); err == nil {
		t.Error("CopyStore overwrote an existing file")
	}
}

// TestCheckMinter: a platform private key that is not the one the bridge
// verifies with is named as such, not as a generic refusal.
func TestCheckMinter(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	platforms := []handoff.Platform{{Name: "shop", Issuer: "https://shop.example", Audience: "https://idp.example",
		Keys: []handoff.PlatformKey{{Alg: handoff.AlgEdDSA, Public: pub}}}}
	minter := func(k ed25519.PrivateKey) *handoff.Minter {
		return &handoff.Minter{Issuer: "https://shop.example", Audience: "https://idp.example", Alg: handoff.AlgEdDSA, Key: k}
	}
	if err := CheckMinter(minter(priv), platforms, "shop", "--platform-key"); err != nil {
		t.Errorf("the matching key: %v", err)
	}
	err := CheckMinter(minter(other), platforms, "shop", "--platform-key")
	if err == nil || !strings.Contains(err.Error(), "does not match the public key the bridge has for platform shop") {
		t.Errorf("another key: %v", err)
	}
}
