package idp

import (
	"net/http"
	"strings"
	"testing"
)

// TestPagesInBothLanguages renders every page a customer can see from the
// bridge (refusals of each kind, replayed and expired links, the
// account-switch confirmation, an internal failure) in zh-CN and en by
// Accept-Language; the reason code stays visible (issue 13 item 9).
func TestPagesInBothLanguages(t *testing.T) {
	langs := []struct {
		accept, lang, back, reasonLabel string
	}{
		{"en-US,en;q=0.9", LangEN, "Back to the partner platform", "Reason:"},
		{"zh-CN,zh;q=0.9,en;q=0.8", LangZH, "返回合作伙伴平台", "原因代码:"},
	}
	type pageCase struct {
		name   string
		reason string
		send   func(e *env, h map[string]string) page
		en, zh string // a phrase of the page in each language
	}
	cases := []pageCase{
		{"foreign origin", ReasonForeignOrigin, func(e *env, h map[string]string) page {
			h["Referer"] = "https://evil.example/"
			return e.getWith(handoffURL(e.token("customer-1", nil), ""), h)
		}, "not the partner platform", "不是从合作伙伴平台打开的"},
		{"replayed link", reasonTokenPrefix + "replay", func(e *env, h map[string]string) page {
			tok := e.token("customer-1", nil)
			e.getWith(handoffURL(tok, ""), map[string]string{})
			return e.getWith(handoffURL(tok, ""), h)
		}, "already used", "已被使用"},
		{"expired flow", ReasonFlowNotFound, func(e *env, h map[string]string) page {
			return e.getWith(publicURL+PathHandoff+"?flow=00112233445566778899aabbccddeeff&token="+e.token("customer-1", nil), h)
		}, "already been completed or has expired", "已完成或已过期"},
		{"generic refusal", ReasonBadHandoffRequest, func(e *env, h map[string]string) page {
			return e.getWith(publicURL+PathHandoff, h)
		}, "Request refused", "无法受理此请求"},
		{"not found", ReasonNotFound, func(e *env, h map[string]string) page {
			return e.getWith(publicURL+"/nope", h)
		}, "nothing at this address", "此地址没有内容"},
		{"account switch", ReasonAccountSwitch, func(e *env, h map[string]string) page {
			e.login("customer-1")
			return e.getWith(handoffURL(e.token("customer-2", nil), ""), h)
		}, "Switch account?", "切换账号？"},
	}
	for _, tc := range cases {
		for _, l := range langs {
			t.Run(tc.name+"/"+l.lang, func(t *testing.T) {
				e := newEnv(t, envOptions{})
				p := tc.send(e, map[string]string{"Accept-Language": l.accept})
				want := tc.en
				if l.lang == LangZH {
					want = tc.zh
				}
				for _, s := range []string{`<html lang="` + l.lang + `">`, want, `id="reason">` + tc.reason + `<`, l.reasonLabel} {
					if !strings.Contains(p.Body, s) {
						t.Errorf("page lacks %q:\n%s", s, p.Body)
					}
				}
				if tc.reason == ReasonForeignOrigin && !strings.Contains(p.Body, l.back) {
					t.Errorf("page lacks the back link text %q", l.back)
				}
				if l.lang == LangZH && tc.reason != ReasonAccountSwitch && !strings.Contains(p.Body, `id="detail" lang="en"`) {
					t.Errorf("the Chinese page does not keep the English detail for support:\n%s", p.Body)
				}
			})
		}
	}
}

// TestPageLanguageDefaultAndOverrides: without a supported Accept-Language
// the operator's default applies; q-values are honoured; operator texts
// replace the built-in ones; unknown keys and languages are refused.
func TestPageLanguageDefaultAndOverrides(t *testing.T) {
	e := newEnv(t, envOptions{tweak: func(c *Config) {
		c.PageLanguage = LangZH
		c.PageTexts = PageTexts{LangEN: {"msg." + ReasonNotFound: "Nothing here; go back to shop.example."}}
	}})
	for accept, lang := range map[string]string{"": LangZH, "fr-FR": LangZH, "fr;q=1, en;q=0.5": LangEN, "en;q=0.4, zh;q=0.8": LangZH, "zh-TW": LangZH} {
		p := e.getWith(publicURL+"/nope", map[string]string{"Accept-Language": accept})
		if !strings.Contains(p.Body, `<html lang="`+lang+`">`) {
			t.Errorf("Accept-Language %q: want %s:\n%s", accept, lang, p.Body)
		}
	}
	p := e.getWith(publicURL+"/nope", map[string]string{"Accept-Language": "en"})
	if !strings.Contains(p.Body, "Nothing here; go back to shop.example.") || p.Status != http.StatusNotFound {
		t.Errorf("override not used:\n%s", p.Body)
	}
	e.takeEvents()
	cfg := e.cfg
	cfg.PageLanguage = "fr"
	cfg.PageTexts = PageTexts{"de": {}, LangZH: {"msg.no_such_reason": "x"}}
	_, err := New(cfg)
	for _, want := range []string{`PageLanguage "fr"`, `language "de"`, `key "msg.no_such_reason"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New: %v; want %s", err, want)
		}
	}
}
