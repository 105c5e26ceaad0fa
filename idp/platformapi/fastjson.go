package platformapi

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/partneridp/partneridp/binding"
)

// The read path writes its most frequent answer, one binding, without
// reflection: appendBinding produces the same bytes as
// json.NewEncoder(w).Encode(viewOf(b)) (TestAppendBindingMatchesEncoder).

var (
	headerJSON    = []string{"application/json"}
	headerNoStore = []string{"no-store"}
	bufPool       = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}
)

func setJSONHeaders(w http.ResponseWriter) {
	h := w.Header()
	h["Content-Type"] = headerJSON
	h["Cache-Control"] = headerNoStore
}

// writeBinding writes b as a 200 answer, the bytes encoding/json writes
// for viewOf(*b).
func writeBinding(w http.ResponseWriter, b *binding.Binding) {
	bp := bufPool.Get().(*[]byte)
	buf := append(appendBinding((*bp)[:0], b), '\n')
	setJSONHeaders(w)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
	*bp = buf
	bufPool.Put(bp)
}

func appendBinding(b []byte, x *binding.Binding) []byte {
	b = append(b, `{"xaccount_type":`...)
	b = appendJSONString(b, x.XAccountType)
	b = append(b, `,"xaccount_id":`...)
	b = appendJSONString(b, x.XAccountID)
	b = append(b, `,"domain_id":`...)
	b = appendJSONString(b, x.DomainID)
	if x.DomainName != "" {
		b = append(b, `,"domain_name":`...)
		b = appendJSONString(b, x.DomainName)
	}
	b = append(b, `,"source":`...)
	b = appendJSONString(b, string(x.Source))
	b = append(b, `,"created_at":`...)
	start := len(b)
	b = appendJSONTime(b, x.CreatedAt.UTC())
	end := len(b)
	b = append(b, `,"updated_at":`...)
	if x.UpdatedAt.Equal(x.CreatedAt) {
		// Unchanged since it was made, as most bindings are: the same text.
		b = append(b, b[start:end]...)
	} else {
		b = appendJSONTime(b, x.UpdatedAt.UTC())
	}
	return append(b, '}')
}

// appendJSONString appends s as encoding/json would (HTML-escaped); only
// plain printable ASCII takes the fast path.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainJSON[s[i]] {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plainJSON marks the bytes encoding/json writes as they are: printable
// ASCII other than the quote, the backslash and the HTML-escaped <, >, &.
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = appendRFC3339NanoUTC(b, t)
	return append(b, '"')
}

// appendRFC3339NanoUTC appends t exactly as t.AppendFormat(b,
// time.RFC3339Nano) does. UTC times of years 1–9999 (every time the API
// writes) take a short path in unsigned integer arithmetic, whose
// divisions by constants compile to multiplications; the standard
// formatter costs a tenth of a cached read. The test and fuzz target hold
// it to the standard output.
func appendRFC3339NanoUTC(b []byte, t time.Time) []byte {
	sec := t.Unix()
	if t.Location() != time.UTC || sec < minFastUnix || sec > maxFastUnix {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	// Seconds since 0000-03-01T00:00:00Z: positive on the short path.
	s := uint64(sec - march0Unix)
	y, m, d := civilFromMarch0(uint32(s / 86400))
	daySec := uint32(s % 86400)
	b = append2(append2(b, y/100), y%100)
	b = append2(append(b, '-'), m)
	b = append2(append(b, '-'), d)
	b = append2(append(b, 'T'), daySec/3600)
	b = append2(append(b, ':'), daySec/60%60)
	b = append2(append(b, ':'), daySec%60)
	if ns := uint32(t.Nanosecond()); ns != 0 {
		b = append(b, '.', byte('0'+ns/100000000))
		r := ns % 100000000
		b = append2(append2(append2(append2(b, r/1000000), r/10000%100), r/100%100), r%100)
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
	}
	return append(b, 'Z')
}

const (
	// The short path's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
	minFastUnix = -62135596800
	maxFastUnix = 253402300799
	// march0Unix is 0000-03-01T00:00:00Z, 719,468 days before the Unix
	// epoch. Counting from a March puts the leap day last in its year.
	march0Unix = -719468 * 86400
)

// civilFromMarch0 turns days since 0000-03-01 (under 2^30) into a
// proleptic Gregorian date, by Neri and Schneider's Euclidean affine
// functions ("Euclidean affine functions and their application to
// calendar algorithms", 2022): centuries, then the year in its century,
// then month and day from the day of the (March-based) year.
func civilFromMarch0(n uint32) (year, month, day uint32) {
	n1 := 4*n + 3
	century := n1 / 146097
	n2 := n1%146097 | 3
	p2 := 2939745 * uint64(n2)
	yearOfCentury := uint32(p2 >> 32)
	dayOfYear := uint32(p2) / 2939745 / 4
	n3 := 2141*dayOfYear + 197913
	year, month, day = 100*century+yearOfCentury, n3>>16, n3&0xffff/2141+1
	if dayOfYear >= 306 { // January and February: the next civil year
		year, month = year+1, month-12
	}
	return year, month, day
}

const twoDigits = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

// append2 appends v (0–99) as two digits.
func append2(b []byte, v uint32) []byte { return append(b, twoDigits[2*v], twoDigits[2*v+1]) }
