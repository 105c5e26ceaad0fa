package handoff

import (
	"errors"
	"strings"
	"testing"
)

var cnPolicy = ServicePolicy{
	AllowedHosts: []string{"console.huaweicloud.com"},
	Default:      "https://console.huaweicloud.com/",
}

func TestServicePolicyResolve(t *testing.T) {
	dev := ServicePolicy{AllowedHosts: []string{"localhost:8080", "console.huaweicloud.com"}, Default: "http://localhost:8080/", AllowHTTP: true}
	tests := []struct {
		name    string
		policy  ServicePolicy
		in      string
		want    string // when accepted
		wantErr string // reason when refused
	}{
		{"empty gives default", cnPolicy, "", "https://console.huaweicloud.com/", ""},
		{"console root", cnPolicy, "https://console.huaweicloud.com/", "https://console.huaweicloud.com/", ""},
		{"console without slash", cnPolicy, "https://console.huaweicloud.com", "https://console.huaweicloud.com", ""},
		{"deep link", cnPolicy, "https://console.huaweicloud.com/iam/?region=cn-north-4#/iam/users", "https://console.huaweicloud.com/iam/?region=cn-north-4#/iam/users", ""},
		{"encoded path", cnPolicy, "https://console.huaweicloud.com/a%20b/", "https://console.huaweicloud.com/a%20b/", ""},
		{"upper-case scheme and host", cnPolicy, "HTTPS://Console.HuaweiCloud.COM/", "HTTPS://Console.HuaweiCloud.COM/", ""},
		{"suffix trick", cnPolicy, "https://console.huaweicloud.com.evil.com/", "", "host_not_allowed"},
		{"backslash userinfo trick", cnPolicy, `https://evil.com\@console.huaweicloud.com`, "", "bad_characters"},
		{"backslash path trick", cnPolicy, `https://console.huaweicloud.com\.evil.com/`, "", "bad_characters"},
		{"protocol-relative", cnPolicy, "//evil.com", "", "not_absolute"},
		{"protocol-relative to console", cnPolicy, "//console.huaweicloud.com/", "", "not_absolute"},
		{"javascript", cnPolicy, "javascript:alert(1)", "", "not_absolute"},
		{"javascript with slashes", cnPolicy, "javascript://console.huaweicloud.com/%0aalert(1)", "", "scheme_not_allowed"},
		{"data URL", cnPolicy, "data:text/html,<script>alert(1)</script>", "", "not_absolute"},
		{"ftp", cnPolicy, "ftp://console.huaweicloud.com/", "", "scheme_not_allowed"},
		{"http not allowed", cnPolicy, "http://console.huaweicloud.com/", "", "scheme_not_allowed"},
		{"userinfo", cnPolicy, "https://user:pass@console.huaweicloud.com/", "", "userinfo"},
		{"userinfo naming the console", cnPolicy, "https://console.huaweicloud.com@evil.com/", "", "userinfo"},
		{"empty userinfo", cnPolicy, "https://@console.huaweicloud.com/", "", "userinfo"},
		{"console in path", cnPolicy, "https://evil.com/console.huaweicloud.com", "", "host_not_allowed"},
		{"console in query", cnPolicy, "https://evil.com?https://console.huaweicloud.com", "", "host_not_allowed"},
		{"console in fragment", cnPolicy, "https://evil.com#console.huaweicloud.com", "", "host_not_allowed"},
		{"explicit port", cnPolicy, "https://console.huaweicloud.com:443/", "", "host_not_allowed"},
		{"trailing dot", cnPolicy, "https://console.huaweicloud.com./", "", "host_not_allowed"},
		{"subdomain", cnPolicy, "https://a.console.huaweicloud.com/", "", "host_not_allowed"},
		{"parent domain", cnPolicy, "https://huaweicloud.com/", "", "host_not_allowed"},
		{"percent-encoded dot", cnPolicy, "https://console%2ehuaweicloud.com/", "", "host_not_allowed"},
		{"empty host", cnPolicy, "https:///console.huaweicloud.com/", "", "host_not_allowed"},
		{"no slashes", cnPolicy, "https:console.huaweicloud.com", "", "not_absolute"},
		{"relative path", cnPolicy, "/iam/", "", "not_absolute"},
		{"tab inside host", cnPolicy, "https://console.huaweicloud.com\t.evil.com/", "", "bad_characters"},
		{"newline", cnPolicy, "https://console.huaweicloud.com/\nx", "", "bad_characters"},
		{"leading space", cnPolicy, " https://console.huaweicloud.com/", "", "bad_characters"},
		{"non-ASCII host", cnPolicy, "https://cоnsole.huaweicloud.com/", "", "bad_characters"},
		{"NUL", cnPolicy, "https://console.huaweicloud.com/\x00", "", "bad_characters"},
		{"too long", cnPolicy, "https://console.huaweicloud.com/" + strings.Repeat("a", maxServiceLen), "", "too_long"},
		{"malformed percent in path", cnPolicy, "https://console.huaweicloud.com/%zz", "", "not_absolute"},
		{"empty scheme", cnPolicy, "://console.huaweicloud.com/", "", "not_absolute"},
		{"no default configured", ServicePolicy{AllowedHosts: []string{"console.huaweicloud.com"}}, "", "", "no_default"},
		{"dev http with port", dev, "http://localhost:8080/console", "http://localhost:8080/console", ""},
		{"dev http wrong port", dev, "http://localhost:8081/", "", "host_not_allowed"},
		{"dev http no port", dev, "http://localhost/", "", "host_not_allowed"},
		{"dev https still fine", dev, "https://console.huaweicloud.com/", "https://console.huaweicloud.com/", ""},
		{"dev empty gives default", dev, "", "http://localhost:8080/", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.policy.Resolve(tc.in)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Fatalf("got %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			var se *ServiceError
			if !errors.As(err, &se) || !errors.Is(err, ErrServiceNotAllowed) {
				t.Fatalf("got %q, %v; want a *ServiceError %s", got, err, tc.wantErr)
			}
			if se.Reason != tc.wantErr || got != "" {
				t.Errorf("reason %q (%v), result %q; want %q", se.Reason, err, got, tc.wantErr)
			}
		})
	}
}

func TestServicePolicyValidate(t *testing.T) {
	if err := cnPolicy.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []ServicePolicy{
		{Default: "https://console.huaweicloud.com/"},
		{AllowedHosts: []string{"https://console.huaweicloud.com"}, Default: "https://console.huaweicloud.com/"},
		{AllowedHosts: []string{"*.huaweicloud.com"}, Default: "https://console.huaweicloud.com/"},
		{AllowedHosts: []string{"console.huaweicloud.com/"}, Default: "https://console.huaweicloud.com/"},
		{AllowedHosts: []string{""}, Default: "https://console.huaweicloud.com/"},
		{AllowedHosts: []string{"console.huaweicloud.com"}},
		{AllowedHosts: []string{"console.huaweicloud.com"}, Default: "https://evil.com/"},
		{AllowedHosts: []string{"console.huaweicloud.com"}, Default: "http://console.huaweicloud.com/"},
	}
	for i, p := range bad {
		if err := p.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("#%d %+v: got %v, want ErrConfig", i, p, err)
		}
	}
}
