package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/memory"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// delivery is one request the receiver saw.
type delivery struct {
	Header http.Header
	Body   []byte
	Status int
}

// receiver is a real HTTP server that can be down, slow or failing.
type receiver struct {
	mu      sync.Mutex
	addr    string
	srv     *http.Server
	ln      net.Listener
	mode    string // ok | fail500 | slow
	seen    []delivery
	release chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{addr: ln.Addr().String(), mode: "ok", release: make(chan struct{})}
	ln.Close() // down until start
	t.Cleanup(func() { close(r.release); r.stop() })
	return r
}

func (r *receiver) start(t *testing.T) {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		t.Fatalf("re-listen on %s: %v", r.addr, err)
	}
	r.ln = ln
	r.srv = &http.Server{Handler: r}
	go r.srv.Serve(ln)
}

func (r *receiver) stop() {
	if r.srv != nil {
		r.srv.Close()
		r.srv = nil
	}
}

func (r *receiver) setMode(m string) { r.mu.Lock(); r.mode = m; r.mu.Unlock() }

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	mode := r.mode
	r.mu.Unlock()
	status := 200
	switch mode {
	case "fail500":
		status = 500
	case "slow":
		select {
		case <-time.After(2 * time.Second):
		case <-r.release:
		}
	}
	r.mu.Lock()
	r.seen = append(r.seen, delivery{req.Header.Clone(), body, status})
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *receiver) accepted() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []delivery
	for _, d := range r.seen {
		if d.Status == 200 {
			out = append(out, d)
		}
	}
	return out
}

func put(t *testing.T, s binding.Store, typ, id, dom string) {
	t.Helper()
	if _, err := binding.Put(context.Background(), s, binding.Binding{Key: binding.Key{XAccountType: typ, XAccountID: id}, DomainID: dom, Source: binding.SourceOperator}, "test", nil); err != nil {
		t.Fatal(err)
	}
}

func TestDeliveryRetriesDownFailingSlow(t *testing.T) {
	ctx := context.Background()
	st := memory.New(nil)
	secret, err := ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	rcv := newReceiver(t)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	d := &Deliverer{Name: "shop", XAccountType: "T", URL: "http://" + rcv.addr + "/hook", Secret: secret, Store: st,
		Client: &http.Client{Timeout: 300 * time.Millisecond}, Metrics: m}
	if err := d.Check(); err != nil {
		t.Fatal(err)
	}
	put(t, st, "T", "cust-1", "dom-1")
	put(t, st, "OTHER", "cust-x", "dom-x") // another platform's: never sent here
	put(t, st, "T", "cust-1", "dom-2")
	if err := deleteErr(binding.Delete(ctx, st, binding.Key{XAccountType: "T", XAccountID: "cust-1"}, binding.SourceOperator, "test", nil)); err != nil {
		t.Fatal(err)
	}

	// Down: connection refused; the cursor stays.
	if _, err := d.Step(ctx); err == nil {
		t.Fatal("delivery to a down receiver succeeded")
	}
	rcv.start(t)
	rcv.setMode("fail500")
	if _, err := d.Step(ctx); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("500: %v", err)
	}
	rcv.setMode("slow")
	if _, err := d.Step(ctx); err == nil {
		t.Fatal("slow receiver: no timeout")
	}
	if st := d.Status(); st.Cursor != 0 || st.Attempts != 3 {
		t.Fatalf("status after 3 failures: %+v", st)
	}
	if got := metricValue(m.Failures.WithLabelValues("shop")); got != 3 {
		t.Errorf("failure metric %v, want 3", got)
	}
	if b := d.backoff(); b != 4*time.Second {
		t.Errorf("backoff after 3 failures %v, want 4s", b)
	}
	rcv.setMode("ok")
	for range 3 {
		if _, err := d.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := rcv.accepted()
	if len(got) != 3 {
		t.Fatalf("%d accepted deliveries, want 3", len(got))
	}
	wantTypes := []string{"binding.bound/dom-1", "binding.bound/dom-2", "binding.unbound/dom-2"}
	for i, dv := range got {
		var ev Event
		if err := json.Unmarshal(dv.Body, &ev); err != nil {
			t.Fatal(err)
		}
		if s := ev.Type + "/" + ev.Data.DomainID; s != wantTypes[i] {
			t.Errorf("event %d: %s, want %s (order)", i, s, wantTypes[i])
		}
		if ev.Data.XAccountType != "T" {
			t.Errorf("event of type %s delivered", ev.Data.XAccountType)
		}
	}
	// The first event's id is the same in every attempt (receivers dedupe).
	first := rcv.seen[0].Header.Get("webhook-id")
	for _, dv := range rcv.seen[:2] {
		if dv.Header.Get("webhook-id") != first {
			t.Errorf("retry changed webhook-id")
		}
	}
	// Durable cursor: a new deliverer on the same store sends nothing again.
	d2 := &Deliverer{Name: "shop", XAccountType: "T", URL: d.URL, Secret: secret, Store: st}
	if n, err := d2.Step(ctx); n != 0 || err != nil {
		t.Errorf("second deliverer moved %d, %v", n, err)
	}
	if metricValue(m.Pending.WithLabelValues("shop")) != 0 {
		t.Error("pending gauge not 0 after delivery")
	}
	verifyIndependently(t, got)
}

// verifyIndependently checks every signature with Python's hmac module
// and Node's crypto (not this package's code), and with the README's Go,
// Python and Node snippets; a tampered body must fail.
func verifyIndependently(t *testing.T, got []delivery) {
	t.Helper()
	type msg struct {
		Secret  string            `json:"secret"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body_b64"`
	}
	var msgs []msg
	for _, dv := range got {
		h := map[string]string{}
		for _, n := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
			h[n] = dv.Header.Get(n)
		}
		msgs = append(msgs, msg{testSecret, h, base64.StdEncoding.EncodeToString(dv.Body)})
		tampered := append(bytes.Clone(dv.Body), ' ')
		msgs = append(msgs, msg{testSecret, h, base64.StdEncoding.EncodeToString(tampered)})
	}
	input, _ := json.Marshal(msgs)
	want := strings.Repeat("ok\nbad\n", len(got))
	readme := readmeSnippets(t)
	dir := t.TempDir()
	runs := map[string][]string{}

	// Independent of the README: Python's hmac.
	pyIndep := `import sys, json, base64, hmac, hashlib
for m in json.load(sys.stdin):
    key = base64.b64decode(m["secret"][len("whsec_"):])
    h = m["headers"]; body = base64.b64decode(m["body_b64"])
    mac = base64.b64encode(hmac.new(key, (h["webhook-id"] + "." + h["webhook-timestamp"] + ".").encode() + body, hashlib.sha256).digest()).decode()
    print("ok" if h["webhook-signature"] == "v1," + mac else "bad")
`
	runs["python-independent"] = []string{"python3", write(t, dir, "indep.py", pyIndep)}
	runs["python-readme"] = []string{"python3", write(t, dir, "readme.py", readme["python"]+`
import sys, json
for m in json.load(sys.stdin):
    print("ok" if verify_webhook(m["secret"], m["headers"], base64.b64decode(m["body_b64"])) else "bad")
`)}
	runs["node-readme"] = []string{"node", write(t, dir, "readme.js", readme["node"]+`
const msgs = JSON.parse(require("fs").readFileSync(0, "utf8"));
for (const m of msgs) console.log(verifyWebhook(m.secret, m.headers, Buffer.from(m.body_b64, "base64")) ? "ok" : "bad");
`)}
	goDir := filepath.Join(dir, "gosnippet")
	os.MkdirAll(goDir, 0o755)
	goSrc := strings.Replace(readme["go"], "import (", "import (\n\t\"encoding/json\"\n\t\"os\"\n\t\"fmt\"", 1)
	write(t, goDir, "main.go", "package main\n\n"+goSrc+`
func main() {
	var msgs []struct {
		Secret  string            `+"`json:\"secret\"`"+`
		Headers map[string]string `+"`json:\"headers\"`"+`
		Body    string            `+"`json:\"body_b64\"`"+`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&msgs); err != nil {
		panic(err)
	}
	for _, m := range msgs {
		h := http.Header{}
		for k, v := range m.Headers {
			h.Set(k, v)
		}
		body, _ := base64.StdEncoding.DecodeString(m.Body)
		if VerifyWebhook(m.Secret, h, body) {
			fmt.Println("ok")
		} else {
			fmt.Println("bad")
		}
	}
}
`)
	write(t, goDir, "go.mod", "module snippet\n\ngo 1.22\n")
	runs["go-readme"] = []string{"go", "run", "."}
	for name, argv := range runs {
		if _, err := exec.LookPath(argv[0]); err != nil {
			if os.Getenv("CI") != "" {
				t.Errorf("%s: %s not installed (required under CI)", name, argv[0])
			} else {
				t.Logf("SKIP %s: %s not installed", name, argv[0])
			}
			continue
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		if name == "go-readme" {
			cmd.Dir = goDir
			cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		}
		cmd.Stdin = bytes.NewReader(input)
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != want {
			t.Errorf("%s: %v\n%s\nwant:\n%s", name, err, out, want)
		}
	}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readmeSnippets returns the README's verification snippets by language.
func readmeSnippets(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, lang := range []string{"go", "python", "node"} {
		re := regexp.MustCompile("(?s)<!-- webhook-verify-" + lang + ":begin -->\n```[a-z]*\n(.*?)```\n<!-- webhook-verify-" + lang + ":end -->")
		m := re.FindSubmatch(b)
		if m == nil {
			t.Fatalf("README.md has no %s webhook verification snippet", lang)
		}
		out[lang] = string(m[1])
	}
	return out
}

// TestReadmeWebhookSnippets: the README's snippets accept a signature made
// by Sign and refuse a tampered one (the delivery test also runs them on
// real deliveries).
func TestReadmeWebhookSnippets(t *testing.T) {
	secret, _ := ParseSecret(testSecret)
	body := []byte(`{"type":"binding.bound"}`)
	ts := time.Now().Unix()
	h := http.Header{}
	h.Set("webhook-id", "bnd_1")
	h.Set("webhook-timestamp", fmt.Sprint(ts))
	h.Set("webhook-signature", Sign(secret, "bnd_1", ts, body))
	verifyIndependently(t, []delivery{{Header: h, Body: body, Status: 200}})
}

func TestParseSecret(t *testing.T) {
	for _, s := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!", "whsec_c2hvcnQ="} {
		if _, err := ParseSecret(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestRunNeverBlocks: Run against a dead receiver keeps retrying with
// growing backoff, and a change made meanwhile (a login's bind) returns at
// once: delivery is not on the write path.
func TestRunBacksOff(t *testing.T) {
	st := memory.New(nil)
	secret, _ := ParseSecret(testSecret)
	var mu sync.Mutex
	var sleeps []time.Duration
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := &Deliverer{Name: "shop", XAccountType: "T", URL: "http://127.0.0.1:1/hook", Secret: secret, Store: st,
		Sleep: func(ctx context.Context, dd time.Duration) error {
			mu.Lock()
			sleeps = append(sleeps, dd)
			n := len(sleeps)
			mu.Unlock()
			if n >= 6 {
				cancel()
			}
			return ctx.Err()
		}}
	put(t, st, "T", "a", "d")
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	start := time.Now()
	put(t, st, "T", "b", "d") // a write while delivery fails
	if time.Since(start) > time.Second {
		t.Error("a store write waited for webhook delivery")
	}
	<-done
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(sleeps) != fmt.Sprint(want) {
		t.Errorf("backoff %v, want %v", sleeps, want)
	}
}

func deleteErr(_ bool, err error) error { return err }

func metricValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func TestGiveUpAfter(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := memory.New(clock)
	secret, _ := ParseSecret(testSecret)
	rcv := newReceiver(t)
	rcv.start(t)
	rcv.setMode("fail500")
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	var gaveUp []GiveUp
	d := &Deliverer{Name: "shop", XAccountType: "T", URL: "http://" + rcv.addr + "/hook", Secret: secret, Store: st,
		Clock: clock, GiveUpAfter: time.Hour, Metrics: m, OnGiveUp: func(g GiveUp) { gaveUp = append(gaveUp, g) }}
	if err := d.Check(); err != nil {
		t.Fatal(err)
	}
	put(t, st, "T", "cust-1", "dom-1")
	put(t, st, "T", "cust-2", "dom-2")

	// Younger than give_up_after: retried, the cursor stays.
	now = now.Add(59 * time.Minute)
	if _, err := d.Step(ctx); err == nil {
		t.Fatal("delivery to a failing receiver succeeded")
	}
	if first, n, _ := GivenUp(ctx, st, "shop"); first != 0 || n != 0 || d.Status().Cursor != 0 {
		t.Fatalf("given up too early: first %d count %d cursor %d", first, n, d.Status().Cursor)
	}
	// Older: one more try each, then given up; the cursor moves on.
	now = now.Add(2 * time.Minute)
	moved, err := d.Step(ctx)
	if err != nil || moved != 2 {
		t.Fatalf("step past give_up_after: moved %d, %v", moved, err)
	}
	first, n, err := GivenUp(ctx, st, "shop")
	if err != nil || first != 1 || n != 2 {
		t.Fatalf("given-up record: first %d count %d %v", first, n, err)
	}
	if got := metricValue(m.GivenUp.WithLabelValues("shop")); got != 2 {
		t.Errorf("given-up metric %v, want 2", got)
	}
	if len(gaveUp) != 2 || gaveUp[0].EventID != "bnd_1" || gaveUp[0].Err == "" || strings.Contains(gaveUp[0].Err, testSecret) {
		t.Fatalf("audit callbacks %+v", gaveUp)
	}
	// A new event after the give-up is delivered normally once the receiver is back.
	rcv.setMode("ok")
	put(t, st, "T", "cust-3", "dom-3")
	if _, err := d.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rcv.accepted(); len(got) != 1 || got[0].Header.Get("webhook-id") != "bnd_3" {
		t.Fatalf("accepted %d", len(got))
	}
	// Replay: the given-up events (and those after them) are sent again.
	seq, err := ReplayGivenUp(ctx, st, "shop")
	if err != nil || seq != 1 {
		t.Fatalf("replay: %d %v", seq, err)
	}
	if first, n, _ := GivenUp(ctx, st, "shop"); first != 0 || n != 0 {
		t.Fatalf("record not cleared: %d %d", first, n)
	}
	if _, err := d.Step(ctx); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, dv := range rcv.accepted() {
		ids = append(ids, dv.Header.Get("webhook-id"))
	}
	if fmt.Sprint(ids) != "[bnd_3 bnd_1 bnd_2 bnd_3]" {
		t.Fatalf("deliveries %v", ids)
	}
	if _, err := ReplayGivenUp(ctx, st, "shop"); !errors.Is(err, ErrNoneGivenUp) {
		t.Fatalf("replay with nothing given up: %v", err)
	}
	// Too short a give_up_after is a configuration error.
	bad := &Deliverer{Name: "shop", XAccountType: "T", URL: d.URL, Secret: secret, Store: st, GiveUpAfter: time.Second}
	if err := bad.Check(); err == nil || !strings.Contains(err.Error(), "give_up_after") {
		t.Fatalf("give_up_after 1s: %v", err)
	}
}

// countingStore counts cursor saves.
type countingStore struct {
	*memory.Store
	sets int
}

func (s *countingStore) SetCursor(ctx context.Context, name string, seq uint64) error {
	s.sets++
	return s.Store.SetCursor(ctx, name, seq)
}

// TestCursorSavedPerBatch: one cursor save per batch, and a failure saves
// the position before the failed event, so nothing delivered is lost and
// nothing undelivered is skipped.
func TestCursorSavedPerBatch(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{Store: memory.New(nil)}
	secret, _ := ParseSecret(testSecret)
	var n int
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if r.Header.Get("webhook-id") == "bnd_4" && n < 10 {
			w.WriteHeader(500)
			return
		}
		w.WriteHeader(204)
	}))
	defer rcv.Close()
	for i := range 6 {
		put(t, st, "T", fmt.Sprintf("c%d", i), "d")
	}
	d := &Deliverer{Name: "shop", XAccountType: "T", URL: rcv.URL, Secret: secret, Store: st}
	if moved, err := d.Step(ctx); err == nil || moved != 3 {
		t.Fatalf("first step: moved %d, %v", moved, err)
	}
	if cur, _ := st.Cursor(ctx, CursorName("shop")); cur != 3 || st.sets != 1 {
		t.Fatalf("after a failure at seq 4: cursor %d after %d saves, want 3 after 1", cur, st.sets)
	}
	n = 10
	if moved, err := d.Step(ctx); err != nil || moved != 3 {
		t.Fatalf("second step: moved %d, %v", moved, err)
	}
	if cur, _ := st.Cursor(ctx, CursorName("shop")); cur != 6 || st.sets != 2 {
		t.Fatalf("cursor %d after %d saves, want 6 after 2", cur, st.sets)
	}
}
