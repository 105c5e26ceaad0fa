package idp

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Many AuthnRequests at once on one server: each is answered once, with
// its own assertion; two browsers racing to complete one flow get one
// assertion between them.
func TestConcurrentSSO(t *testing.T) {
	e := newEnv(t, envOptions{noTLS: true})
	rec := httptest.NewRecorder()
	if err := e.cfg.Sessions.Start(rec, handoffClaims(e)); err != nil {
		t.Fatal(err)
	}
	session := rec.Result().Cookies()[0]
	const n = 16
	queries := make([]string, n)
	for i := range queries {
		queries[i] = e.newRequest("_concurrent-" + strconv.Itoa(i)).Query(t)
	}
	serve := func(rawURL string, cookie *http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, rawURL, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, req)
		return w
	}
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() { codes[i] = serve(ssoURL+"?"+queries[i], session).Code })
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d: status %d", i, c)
		}
	}
	assertions := map[string]bool{}
	for _, ev := range e.takeEvents() {
		if ev.Verdict != VerdictIssued || assertions[ev.AssertionID] {
			t.Errorf("audit %+v (repeated assertion ID?)", ev)
		}
		assertions[ev.AssertionID] = true
	}
	if len(assertions) != n {
		t.Errorf("%d assertions issued, want %d", len(assertions), n)
	}

	// One deferred flow, completed by two handoffs at once.
	w := serve(ssoURL+"?"+e.newRequest("_race-flow").Query(t), nil)
	returnTo, _ := url.QueryUnescape(strings.TrimPrefix(w.Header().Get("Location"), platformLogin+"&return_to="))
	e.takeEvents()
	tokens := []string{e.token(customer, nil), e.token(customer, nil)}
	results := make([]int, 2)
	for i := range 2 {
		wg.Go(func() { results[i] = serve(returnTo+"&token="+tokens[i], nil).Code })
	}
	wg.Wait()
	if !(results[0] == http.StatusOK && results[1] == http.StatusBadRequest) && !(results[0] == http.StatusBadRequest && results[1] == http.StatusOK) {
		t.Errorf("two completions of one flow: %v, want one 200 and one 400", results)
	}
}
