package mockiam

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/partneridp/partneridp/metadata/xmlsectest"
)

// TestBindFlowInChromium runs the first-login flow in a real browser: the
// IdP's auto-post page, the mock's bind page, and the mock's auto-submitting
// notification page, whose script only runs if its CSP hash is right.
func TestBindFlowInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium := xmlsectest.Require(t, "chromium")
	p := newPartner(t, "")
	h := newHarness(t, harnessOpts{notificationURL: p.srv.URL + "/bind"})

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	err := chromedp.Do(ctx,
		chromedp.Navigate(h.iam.LoginURL(xat, true, p.srv.URL+"/done")),
		chromedp.WaitVisible("#create-account"),
		chromedp.SetValue("#create-domain-name", "browser_co"),
		chromedp.Click("#create-account"),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	select {
	case <-p.landed:
	case <-time.After(20 * time.Second):
		t.Fatalf("the browser never reached the partner after the notification page (CSP blocked the auto-submit?); events: %+v", h.iam.Events())
	}
	acct, bound := h.iam.Account(xat, "partner-user-1")
	if !bound || acct.Domain.Name != "browser_co" {
		t.Fatalf("account = %+v, %v", acct, bound)
	}
	got := p.notifications()
	if len(got) != 1 {
		t.Fatalf("partner received %d notifications", len(got))
	}
	want := `{"domainName":"browser_co","domainId":"` + acct.Domain.ID + `","xUserId":"partner-user-1","bindAction":0}`
	if json := decodeNotification(t, got[0], h.spKey.Cert); json != want {
		t.Errorf("notification JSON = %s, want %s", json, want)
	}
}
