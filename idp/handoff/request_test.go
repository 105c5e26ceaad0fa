package handoff

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadRequest(t *testing.T) {
	form := func(body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/sso/huawei", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	tests := []struct {
		name       string
		req        *http.Request
		want       Handoff
		wantStatus int
	}{
		{"GET", httptest.NewRequest(http.MethodGet, "/sso/huawei?token=a.b.c&service=https%3A%2F%2Fconsole.huaweicloud.com%2F", nil),
			Handoff{Token: "a.b.c", Service: "https://console.huaweicloud.com/"}, 0},
		{"GET without service", httptest.NewRequest(http.MethodGet, "/sso/huawei?token=a.b.c", nil), Handoff{Token: "a.b.c"}, 0},
		{"POST form", form("token=a.b.c&service=https%3A%2F%2Fconsole.huaweicloud.com%2Fiam%2F"),
			Handoff{Token: "a.b.c", Service: "https://console.huaweicloud.com/iam/"}, 0},
		{"POST form with charset", func() *http.Request {
			r := form("token=a.b.c")
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
			return r
		}(), Handoff{Token: "a.b.c"}, 0},
		{"GET without token", httptest.NewRequest(http.MethodGet, "/sso/huawei?service=x", nil), Handoff{}, 400},
		{"GET token twice", httptest.NewRequest(http.MethodGet, "/sso/huawei?token=a&token=b", nil), Handoff{}, 400},
		{"GET service twice", httptest.NewRequest(http.MethodGet, "/sso/huawei?token=a&service=x&service=y", nil), Handoff{}, 400},
		{"GET bad escape", httptest.NewRequest(http.MethodGet, "/sso/huawei?token=%zz", nil), Handoff{}, 400},
		{"GET semicolon", httptest.NewRequest(http.MethodGet, "/sso/huawei?token=a;service=b", nil), Handoff{}, 400},
		{"GET token too large", httptest.NewRequest(http.MethodGet, "/sso/huawei?token="+strings.Repeat("a", MaxTokenBytes+1), nil), Handoff{}, 413},
		{"POST with query", func() *http.Request {
			r := form("token=a.b.c")
			r.URL.RawQuery = "token=x"
			return r
		}(), Handoff{}, 400},
		{"POST JSON", func() *http.Request {
			r := form(`{"token":"a.b.c"}`)
			r.Header.Set("Content-Type", "application/json")
			return r
		}(), Handoff{}, 415},
		{"POST no content type", func() *http.Request { r := form("token=a"); r.Header.Del("Content-Type"); return r }(), Handoff{}, 415},
		{"POST body too large", form("token=" + strings.Repeat("a", maxHandoffBody)), Handoff{}, 413},
		{"POST empty", form(""), Handoff{}, 400},
		{"PUT", httptest.NewRequest(http.MethodPut, "/sso/huawei?token=a", nil), Handoff{}, 405},
		{"HEAD", httptest.NewRequest(http.MethodHead, "/sso/huawei?token=a", nil), Handoff{}, 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadRequest(tc.req)
			if tc.wantStatus == 0 {
				if err != nil || got != tc.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			var re *RequestError
			if !errors.As(err, &re) || !errors.Is(err, ErrBadRequest) || re.Status != tc.wantStatus {
				t.Fatalf("got %+v, %v; want status %d", got, err, tc.wantStatus)
			}
			if got != (Handoff{}) {
				t.Errorf("handoff returned with error")
			}
		})
	}
}
