package ratelimit

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func mustTrusted(t testing.TB, entries ...string) []netip.Prefix {
	t.Helper()
	p, err := ParseTrustedProxies(entries)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func request(remote string, xff ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/saml/sso", nil)
	r.RemoteAddr = remote
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}

func TestClientIP(t *testing.T) {
	proxies := mustTrusted(t, "10.0.0.0/8", "2001:db8:1::/48", "192.0.2.10")
	many := strings.TrimSuffix(strings.Repeat("10.0.0.9, ", 40), ", ")
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"direct client, no header", "198.51.100.7:4711", nil, proxies, "198.51.100.7"},
		{"untrusted peer cannot spoof", "198.51.100.7:4711", []string{"203.0.113.1"}, proxies, "198.51.100.7"},
		{"no proxies configured: header ignored", "10.0.0.1:4711", []string{"203.0.113.1"}, nil, "10.0.0.1"},
		{"one trusted proxy", "10.0.0.1:4711", []string{"203.0.113.1"}, proxies, "203.0.113.1"},
		{"single trusted address", "192.0.2.10:4711", []string{"203.0.113.1"}, proxies, "203.0.113.1"},
		{"neighbour of trusted address is not trusted", "192.0.2.11:4711", []string{"203.0.113.1"}, proxies, "192.0.2.11"},
		{"chain of proxies, client-written part ignored", "10.0.0.1:4711", []string{"6.6.6.6, 203.0.113.1, 10.1.2.3, 10.0.0.2"}, proxies, "203.0.113.1"},
		{"several header lines form one list", "10.0.0.1:4711", []string{"6.6.6.6", "203.0.113.1, 10.1.2.3"}, proxies, "203.0.113.1"},
		{"spoofed trusted address left of the client is ignored", "10.0.0.1:4711", []string{"10.9.9.9, 203.0.113.1"}, proxies, "203.0.113.1"},
		{"all hops trusted: left-most", "10.0.0.1:4711", []string{"10.0.0.5, 10.0.0.3"}, proxies, "10.0.0.5"},
		{"entry with port", "10.0.0.1:4711", []string{"203.0.113.1:5555"}, proxies, "203.0.113.1"},
		{"IPv6 peer and client", "[2001:db8:1::5]:443", []string{"2001:db8:ffff::9"}, proxies, "2001:db8:ffff::9"},
		{"IPv6 client with port", "[2001:db8:1::5]:443", []string{"[2001:db8:ffff::9]:1234"}, proxies, "2001:db8:ffff::9"},
		{"IPv6 untrusted peer", "[2001:db8:2::5]:443", []string{"2001:db8:ffff::9"}, proxies, "2001:db8:2::5"},
		{"IPv4-mapped peer matches IPv4 prefix", "[::ffff:10.0.0.1]:443", []string{"203.0.113.1"}, proxies, "203.0.113.1"},
		{"IPv4-mapped client is unmapped", "10.0.0.1:4711", []string{"::ffff:203.0.113.1"}, proxies, "203.0.113.1"},
		{"zone dropped", "[fe80::1%eth0]:443", nil, proxies, "fe80::1"},
		{"malformed: garbage", "10.0.0.1:4711", []string{"not-an-ip"}, proxies, "10.0.0.1"},
		{"malformed: on the walked path", "10.0.0.1:4711", []string{"203.0.113.1, junk"}, proxies, "10.0.0.1"},
		{"malformed: left of the client is never read", "10.0.0.1:4711", []string{"junk, 203.0.113.1"}, proxies, "203.0.113.1"},
		{"malformed: empty entry", "10.0.0.1:4711", []string{"203.0.113.1,,10.0.0.2"}, proxies, "10.0.0.1"},
		{"malformed: empty header", "10.0.0.1:4711", []string{""}, proxies, "10.0.0.1"},
		{"malformed: obfuscated identifier", "10.0.0.1:4711", []string{"unknown"}, proxies, "10.0.0.1"},
		{"malformed: CIDR", "10.0.0.1:4711", []string{"203.0.113.0/24"}, proxies, "10.0.0.1"},
		{"too many hops", "10.0.0.1:4711", []string{"203.0.113.1, " + many}, proxies, "10.0.0.1"},
		{"bare address as RemoteAddr", "198.51.100.7", nil, proxies, "198.51.100.7"},
		{"RemoteAddr not an address", "@", []string{"203.0.113.1"}, proxies, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ClientIP(request(tt.remote, tt.xff...), tt.trusted)
			if got.String() != tt.want {
				t.Errorf("ClientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestScheme(t *testing.T) {
	proxies := mustTrusted(t, "10.0.0.0/8")
	tests := []struct {
		name   string
		remote string
		tls    bool
		xfp    []string
		want   string
	}{
		{"plain, direct", "198.51.100.7:1", false, nil, "http"},
		{"TLS, direct", "198.51.100.7:1", true, nil, "https"},
		{"untrusted peer cannot claim https", "198.51.100.7:1", false, []string{"https"}, "http"},
		{"untrusted peer cannot claim http", "198.51.100.7:1", true, []string{"http"}, "https"},
		{"trusted proxy says https", "10.0.0.1:1", false, []string{"https"}, "https"},
		{"trusted proxy, upper case", "10.0.0.1:1", false, []string{"HTTPS"}, "https"},
		{"right-most value wins", "10.0.0.1:1", false, []string{"http, https"}, "https"},
		{"right-most line wins", "10.0.0.1:1", true, []string{"https", "http"}, "http"},
		{"unknown value ignored", "10.0.0.1:1", false, []string{"gopher"}, "http"},
		{"no header from proxy", "10.0.0.1:1", true, nil, "https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(tt.remote)
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for _, v := range tt.xfp {
				r.Header.Add("X-Forwarded-Proto", v)
			}
			if got := Scheme(r, proxies); got != tt.want {
				t.Errorf("Scheme = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies([]string{"10.0.0.7", " 10.1.2.3/8 ", "2001:db8::1", "2001:db8::/32", "::ffff:192.0.2.0/120"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.7/32", "10.0.0.0/8", "2001:db8::1/128", "2001:db8::/32", "192.0.2.0/24"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("[%d] = %s, want %s", i, got[i], want[i])
		}
	}

	_, err = ParseTrustedProxies([]string{"10.0.0.1", "proxy.internal", "10.0.0.0/33", "", "fe80::1%eth0", "10.0.0.0/8"})
	if !errors.Is(err, ErrTrustedProxy) {
		t.Fatalf("err = %v, want ErrTrustedProxy", err)
	}
	for _, bad := range []string{`[1] "proxy.internal"`, `[2] "10.0.0.0/33"`, `[3] ""`, `[4] "fe80::1%eth0"`} {
		if !strings.Contains(err.Error(), bad) {
			t.Errorf("error does not name %s: %v", bad, err)
		}
	}
	if strings.Contains(err.Error(), "[0]") || strings.Contains(err.Error(), "[5]") {
		t.Errorf("error names a good entry: %v", err)
	}
}

// FuzzClientIP feeds arbitrary X-Forwarded-For values and peer addresses.
// Whatever comes in, the answer is the peer or an address that appears in
// the header, and an untrusted peer is always its own answer.
func FuzzClientIP(f *testing.F) {
	seeds := []struct{ remote, xff string }{
		{"10.0.0.1:4711", "203.0.113.1"},
		{"10.0.0.1:4711", "6.6.6.6, 203.0.113.1, 10.1.2.3"},
		{"10.0.0.1:4711", "[2001:db8::9]:1234, 10.0.0.2"},
		{"198.51.100.7:1", "203.0.113.1"},
		{"[2001:db8:1::5]:443", "2001:db8:ffff::9, ::ffff:1.2.3.4"},
		{"10.0.0.1:4711", "junk,,10.0.0.2"},
		{"10.0.0.1:4711", "unknown"},
		{"10.0.0.1:4711", "fe80::1%eth0"},
		{"@", ""},
	}
	for _, s := range seeds {
		f.Add(s.remote, s.xff)
	}
	trusted := mustTrusted(f, "10.0.0.0/8", "2001:db8:1::/48")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		got := ClientIP(r, trusted)
		peer := peerAddr(remote)
		if got.Zone() != "" || got.Is4In6() {
			t.Fatalf("ClientIP = %s: not normalized", got)
		}
		if !peer.IsValid() || !isTrusted(peer, trusted) {
			if got != peer {
				t.Fatalf("untrusted peer %q: ClientIP = %s, want the peer", remote, got)
			}
			return
		}
		if got == peer {
			return
		}
		for _, entry := range strings.Split(xff, ",") {
			if a, ok := parseForwarded(strings.TrimSpace(entry)); ok && a == got {
				return
			}
		}
		t.Fatalf("ClientIP = %s is neither the peer %s nor in X-Forwarded-For %q", got, peer, xff)
	})
}

// FuzzParseTrustedProxies: config entries never panic, and what is accepted
// is a masked prefix that contains the address it was written with.
func FuzzParseTrustedProxies(f *testing.F) {
	for _, s := range []string{"10.0.0.7", "10.1.2.3/8", "2001:db8::/32", "::ffff:192.0.2.0/120", "fe80::1%eth0", "proxy.internal", "10.0.0.0/33", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, entry string) {
		got, err := ParseTrustedProxies([]string{entry})
		if err != nil {
			if !errors.Is(err, ErrTrustedProxy) {
				t.Fatalf("error not ErrTrustedProxy: %v", err)
			}
			return
		}
		if len(got) != 1 || got[0] != got[0].Masked() || got[0].Addr().Is4In6() {
			t.Fatalf("%q parsed to %v", entry, got)
		}
	})
}
