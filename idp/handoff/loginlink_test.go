package handoff

import (
	"errors"
	"net/url"
	"testing"
)

func TestLoginLinkURL(t *testing.T) {
	cn := LoginLink{LoginURL: "https://auth.huaweicloud.com/authui/saml/login", XAccountType: "example_IDP"}
	tests := []struct {
		name    string
		link    LoginLink
		first   bool
		service string
		want    string
	}{
		{"first login", cn, true, "https://console.huaweicloud.com/iam/",
			"https://auth.huaweicloud.com/authui/saml/login?xAccountType=example_IDP&isFirstLogin=true&service=https%3A%2F%2Fconsole.huaweicloud.com%2Fiam%2F"},
		{"bound", cn, false, "https://console.huaweicloud.com/iam/",
			"https://auth.huaweicloud.com/authui/saml/login?xAccountType=example_IDP&isFirstLogin=false&service=https%3A%2F%2Fconsole.huaweicloud.com%2Fiam%2F"},
		{"service with query and fragment", cn, false, "https://console.huaweicloud.com/console/?region=cn-north-4&locale=zh-cn#/home",
			"https://auth.huaweicloud.com/authui/saml/login?xAccountType=example_IDP&isFirstLogin=false&service=https%3A%2F%2Fconsole.huaweicloud.com%2Fconsole%2F%3Fregion%3Dcn-north-4%26locale%3Dzh-cn%23%2Fhome"},
		{"intl site", LoginLink{LoginURL: "https://auth-intl.huaweicloud.com/authui/saml/login", XAccountType: "acme_IDP"}, true, "https://console-intl.huaweicloud.com/",
			"https://auth-intl.huaweicloud.com/authui/saml/login?xAccountType=acme_IDP&isFirstLogin=true&service=https%3A%2F%2Fconsole-intl.huaweicloud.com%2F"},
		{"no service", cn, true, "",
			"https://auth.huaweicloud.com/authui/saml/login?xAccountType=example_IDP&isFirstLogin=true"},
		{"xAccountType escaped", LoginLink{LoginURL: "https://auth.huaweicloud.com/authui/saml/login", XAccountType: "a&b=c"}, false, "",
			"https://auth.huaweicloud.com/authui/saml/login?xAccountType=a%26b%3Dc&isFirstLogin=false"},
		{"login URL with a query (mock IAM)", LoginLink{LoginURL: "http://127.0.0.1:9000/authui/saml/login?mock=1", XAccountType: "t_IDP"}, true, "",
			"http://127.0.0.1:9000/authui/saml/login?mock=1&xAccountType=t_IDP&isFirstLogin=true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.link.URL(tc.first, tc.service); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// Huawei's doc shows service=https%3a%2f%2fconsole.huaweicloud.com%2fiam%2f (encodeURIComponent
// style, lower-case hex). Ours must decode to the same value.
func TestLoginLinkMatchesHuaweiExample(t *testing.T) {
	link := LoginLink{LoginURL: "https://auth.huaweicloud.com/authui/saml/login", XAccountType: "csdndev_IDP"}
	ours, err := url.Parse(link.URL(false, "https://console.huaweicloud.com/iam/"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := url.Parse("https://auth.huaweicloud.com/authui/saml/login?xAccountType=csdndev_IDP&isFirstLogin=false&service=https%3a%2f%2fconsole.huaweicloud.com%2fiam%2f")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"xAccountType", "isFirstLogin", "service"} {
		if ours.Query().Get(k) != doc.Query().Get(k) {
			t.Errorf("%s: ours %q, doc %q", k, ours.Query().Get(k), doc.Query().Get(k))
		}
	}
}

func TestLoginLinkValidate(t *testing.T) {
	good := LoginLink{LoginURL: "https://auth.huaweicloud.com/authui/saml/login", XAccountType: "example_IDP"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, l := range []LoginLink{
		{LoginURL: "", XAccountType: "x"},
		{LoginURL: "/authui/saml/login", XAccountType: "x"},
		{LoginURL: "javascript:alert(1)", XAccountType: "x"},
		{LoginURL: "https://u@auth.huaweicloud.com/authui/saml/login", XAccountType: "x"},
		{LoginURL: "https://auth.huaweicloud.com/authui/saml/login", XAccountType: ""},
	} {
		if err := l.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: got %v, want ErrConfig", l, err)
		}
	}
}
