package ratelimit

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ErrTrustedProxy is wrapped by ParseTrustedProxies for entries that are
// neither an IP address nor a CIDR prefix.
var ErrTrustedProxy = errors.New("trusted proxy entry is not an IP address or CIDR prefix")

// ParseTrustedProxies reads the configured trusted proxies: IP addresses
// ("10.0.0.7", "2001:db8::1") and CIDR prefixes ("10.0.0.0/8"). Every bad
// entry is named in one error.
func ParseTrustedProxies(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var bad []string
	for i, raw := range entries {
		p, err := parseTrustedProxy(strings.TrimSpace(raw))
		if err != nil {
			bad = append(bad, fmt.Sprintf("[%d] %.64q: %v", i, raw, err))
			continue
		}
		out = append(out, p)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: %s (use addresses like 10.0.0.7 or prefixes like 10.0.0.0/8)", ErrTrustedProxy, strings.Join(bad, "; "))
	}
	return out, nil
}

func parseTrustedProxy(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, errors.New("empty")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not a CIDR prefix")
		}
		// An IPv4 range written in its IPv6-mapped form matches the
		// unmapped addresses we compare with.
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not an IP address")
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errors.New("zoned addresses are not allowed")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ClientIP is the address a request is charged to. It is the TCP peer,
// unless the peer is a trusted proxy: then X-Forwarded-For is read from the
// right (each proxy appends the address it received from), skipping trusted
// proxies, and the first untrusted address is the client. Everything left of
// it was written by the client and is ignored. A malformed entry on that
// path makes the header unusable and the peer is used.
//
// The result is invalid (IsValid false) only when RemoteAddr itself is not
// an address, as with some test requests or Unix sockets.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := peerAddr(r.RemoteAddr)
	if !peer.IsValid() || !isTrusted(peer, trusted) {
		return peer
	}
	if client, ok := forwardedFor(r.Header.Values("X-Forwarded-For"), trusted); ok {
		return client
	}
	return peer
}

// Scheme is "https" or "http": the request's own, unless the peer is a
// trusted proxy that sent X-Forwarded-Proto, whose right-most value (the one
// the nearest proxy set) is used. Values other than http and https are
// ignored.
func Scheme(r *http.Request, trusted []netip.Prefix) string {
	own := "http"
	if r.TLS != nil {
		own = "https"
	}
	peer := peerAddr(r.RemoteAddr)
	if !peer.IsValid() || !isTrusted(peer, trusted) {
		return own
	}
	values := r.Header.Values("X-Forwarded-Proto")
	if len(values) == 0 {
		return own
	}
	last := values[len(values)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	switch strings.ToLower(strings.TrimSpace(last)) {
	case "https":
		return "https"
	case "http":
		return "http"
	}
	return own
}

// peerAddr reads RemoteAddr ("ip:port", or a bare ip from tests).
func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return normalize(ap.Addr())
	}
	if a, err := netip.ParseAddr(remote); err == nil {
		return normalize(a)
	}
	return netip.Addr{}
}

// normalize drops the zone and unmaps IPv4-in-IPv6, so that one client has
// one key and IPv4 prefixes match.
func normalize(a netip.Addr) netip.Addr {
	return a.WithZone("").Unmap()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// maxForwardedHops bounds the walk: no real chain of proxies is this long.
const maxForwardedHops = 32

// forwardedFor walks the X-Forwarded-For values from the right. Several
// header lines form one list, in order. It reports false when the header is
// absent or malformed on the walked path, or the walk is too long.
func forwardedFor(values []string, trusted []netip.Prefix) (netip.Addr, bool) {
	var last netip.Addr
	hops := 0
	for v := len(values) - 1; v >= 0; v-- {
		rest := values[v]
		for {
			entry := rest
			i := strings.LastIndexByte(rest, ',')
			if i >= 0 {
				entry, rest = rest[i+1:], rest[:i]
			}
			hops++
			if hops > maxForwardedHops {
				return netip.Addr{}, false
			}
			a, ok := parseForwarded(strings.TrimSpace(entry))
			if !ok {
				return netip.Addr{}, false
			}
			if !isTrusted(a, trusted) {
				return a, true
			}
			last = a
			if i < 0 {
				break
			}
		}
	}
	// Every hop is a trusted proxy: the request began at the left-most one.
	return last, last.IsValid()
}

// parseForwarded reads one X-Forwarded-For entry: an address, optionally
// with a port ("203.0.113.5:4711", "[2001:db8::1]:4711").
func parseForwarded(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return normalize(a), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalize(ap.Addr()), true
	}
	return netip.Addr{}, false
}
