package idp

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Page languages (issue 13 item 9). A customer sees the bridge's pages in
// Simplified Chinese or English, chosen from Accept-Language, else the
// operator's default; the reason code stays visible for support.
const (
	LangEN = "en"
	LangZH = "zh-CN"
)

// PageTexts overrides page texts: language → key → text. Keys are those of
// the built-in catalogue (see PageTextKeys).
type PageTexts map[string]map[string]string

// builtinTexts is the catalogue. "msg.<reason>" is what a customer reads
// for that reason; without one, English pages show the bridge's detailed
// message and Chinese pages a generic sentence followed by that message.
var builtinTexts = map[string]map[string]string{
	LangEN: {
		"title.refused":          "Request refused",
		"title.signin_refused":   "Sign-in refused",
		"title.already_used":     "Already used",
		"title.not_found":        "Not found",
		"title.not_used":         "Sign-in link not used",
		"title.error":            "Something went wrong",
		"label.reason":           "Reason",
		"label.reference":        "Reference",
		"label.detail":           "Details",
		"label.back":             "Back to the partner platform",
		"label.continue":         "Continue",
		"title.already_recorded": "Already recorded",
		"generic.refusal":        "This request could not be accepted. Open the Huawei Cloud console from the partner platform again.",
		"generic.internal":       "The bridge could not finish this request. Try again; if it repeats, give the operator the reference below.",
		"switch.title":           "Switch account?",
		"switch.current":         "This browser is signed in to the Huawei Cloud console as partner customer",
		"switch.new":             "The link you followed signs in as",
		"switch.warning":         "If you did not just choose to switch accounts, do not continue.",
		"switch.continue":        "Continue as",
		"switch.stay":            "Stay signed in as",
		"switch.stay_tail":       "and go back to the partner platform",
	},
	LangZH: {
		"title.refused":          "请求被拒绝",
		"title.signin_refused":   "登录被拒绝",
		"title.already_used":     "链接已被使用",
		"title.not_found":        "页面不存在",
		"title.not_used":         "登录链接未被使用",
		"title.error":            "出现错误",
		"label.reason":           "原因代码",
		"label.reference":        "参考编号",
		"label.detail":           "详细信息",
		"label.back":             "返回合作伙伴平台",
		"label.continue":         "继续",
		"title.already_recorded": "已经处理过",
		"generic.refusal":        "无法受理此请求。请从合作伙伴平台重新打开华为云控制台。",
		"generic.internal":       "暂时无法完成此请求，请重试；如果问题持续出现，请将下方参考编号提供给运维人员。",
		"switch.title":           "切换账号？",
		"switch.current":         "此浏览器当前以合作伙伴客户身份登录华为云控制台：",
		"switch.new":             "您打开的链接将以以下身份登录：",
		"switch.warning":         "如果不是您本人刚刚选择切换账号，请不要继续。",
		"switch.continue":        "继续，以此身份登录：",
		"switch.stay":            "保持以",
		"switch.stay_tail":       "身份登录并返回合作伙伴平台",

		"msg." + ReasonForeignOrigin:           "此登录链接不是从合作伙伴平台打开的。为了您的安全，链接未被使用。请从合作伙伴平台本身打开华为云控制台。",
		"msg." + ReasonOriginUnknown:           "您的浏览器没有说明是哪个网站打开了此登录链接，因此链接未被使用。请从合作伙伴平台重新打开华为云控制台。",
		"msg." + ReasonSwitchExpired:           "此账号切换已过期或已被使用。请从合作伙伴平台重新打开华为云控制台。",
		"msg." + ReasonSwitchNotOurs:           "此账号切换不是在本浏览器中通过本服务的页面确认的。请从合作伙伴平台重新打开华为云控制台。",
		"msg." + ReasonFlowNotFound:            "此次登录已完成或已过期。请从合作伙伴平台重新打开华为云控制台链接。",
		"msg." + ReasonNotificationReplay:      "华为云之前已发送过此账号绑定通知，本服务已经处理过，因此没有做任何更改。您可以继续。",
		"msg." + ReasonNotFound:                "此地址没有内容。",
		"msg." + ReasonRequestTooLarge:         "请求过大。请清除此网站的 Cookie 后重试。",
		"msg." + reasonTokenPrefix + "replay":  "此登录链接已被使用（例如点击了两次或使用了浏览器的后退按钮）。请从合作伙伴平台重新打开华为云控制台。",
		"msg." + reasonTokenPrefix + "expired": "此登录链接已过期。请从合作伙伴平台重新打开华为云控制台。",
	},
}

// PageTextKeys lists every key an operator may override.
func PageTextKeys() []string {
	seen := map[string]bool{}
	for _, texts := range builtinTexts {
		for k := range texts {
			seen[k] = true
		}
	}
	for _, r := range reasonRegistry {
		seen["msg."+r.Code] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkPageConfig reports unknown languages and keys.
func checkPageConfig(def string, texts PageTexts, p *problems) {
	if def != "" && def != LangEN && def != LangZH {
		p.add("PageLanguage %q is not supported (use %s or %s)", def, LangEN, LangZH)
	}
	keys := map[string]bool{}
	for _, k := range PageTextKeys() {
		keys[k] = true
	}
	for lang, m := range texts {
		if lang != LangEN && lang != LangZH {
			p.add("PageTexts: language %q is not supported (use %s or %s)", lang, LangEN, LangZH)
		}
		for k := range m {
			if !keys[k] {
				p.add("PageTexts[%s]: key %q is unknown (see idp.PageTextKeys)", lang, k)
			}
		}
	}
}

// pageLang picks the page language: the first supported tag of
// Accept-Language by preference (q), else the operator's default.
func (s *Server) pageLang(r *http.Request) string {
	best, bestQ := "", 0.0
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		lang := ""
		switch t := strings.ToLower(tag); {
		case t == "zh" || strings.HasPrefix(t, "zh-cn") || strings.HasPrefix(t, "zh-hans") || t == "zh-sg":
			lang = LangZH
		case t == "en" || strings.HasPrefix(t, "en-"):
			lang = LangEN
		}
		if lang != "" && q > bestQ {
			best, bestQ = lang, q
		}
	}
	if best != "" {
		return best
	}
	return s.pageDefault
}

// text is the page text key in lang: the operator's override, the
// catalogue's, or English.
func (s *Server) text(lang, key string) string {
	if t, ok := s.cfg.PageTexts[lang][key]; ok {
		return t
	}
	if t, ok := builtinTexts[lang][key]; ok {
		return t
	}
	return builtinTexts[LangEN][key]
}

// localize fills the view's texts in the request's language. detail is the
// bridge's own (English) message.
func (s *Server) localize(r *http.Request, v *errorView, status int, internal bool) {
	lang := s.pageLang(r)
	v.Lang = lang
	v.Title = s.text(lang, titleKey(status))
	v.LabelReason, v.LabelReference, v.LabelBack, v.LabelDetail, v.LabelContinue =
		s.text(lang, "label.reason"), s.text(lang, "label.reference"), s.text(lang, "label.back"), s.text(lang, "label.detail"), s.text(lang, "label.continue")
	key := "msg." + v.Reason
	custom, ok := s.cfg.PageTexts[lang][key]
	if !ok {
		custom, ok = builtinTexts[lang][key]
	}
	switch {
	case ok:
		v.Detail, v.Message = v.Message, custom
	case lang != LangEN:
		generic := "generic.refusal"
		if internal {
			generic = "generic.internal"
		}
		v.Detail, v.Message = v.Message, s.text(lang, generic)
	}
	if v.Detail == v.Message {
		v.Detail = ""
	}
}

func titleKey(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "title.signin_refused"
	case status == http.StatusConflict:
		return "title.already_used"
	case status == http.StatusForbidden:
		return "title.not_used"
	case status == http.StatusNotFound:
		return "title.not_found"
	case status >= 500:
		return "title.error"
	}
	return "title.refused"
}
