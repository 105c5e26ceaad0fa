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
	b = appendJSONTime(b, x.CreatedAt.UTC())
	b = append(b, `,"updated_at":`...)
	b = appendJSONTime(b, x.UpdatedAt.UTC())
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
// writes) take a short path that converts the Unix time to a civil date
// once; the standard formatter costs a tenth of a cached read. The test and
// fuzz target hold it to the standard output.
func appendRFC3339NanoUTC(b []byte, t time.Time) []byte {
	sec := t.Unix()
	if t.Location() != time.UTC || sec < minFastUnix || sec > maxFastUnix {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	days, daySec := floorDiv(sec, 86400)
	y, m, d := civilFromDays(days)
	b = append2(append2(b, int(y/100)), int(y%100))
	b = append2(append(b, '-'), m)
	b = append2(append(b, '-'), d)
	b = append2(append(b, 'T'), int(daySec/3600))
	b = append2(append(b, ':'), int(daySec/60%60))
	b = append2(append(b, ':'), int(daySec%60))
	if ns := t.Nanosecond(); ns != 0 {
		b = append(b, '.', byte('0'+ns/100000000))
		r := ns % 100000000
		b = append2(append2(append2(append2(b, r/1000000), r/10000%100), r/100%100), r%100)
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
	}
	return append(b, 'Z')
}

// The short path's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const (
	minFastUnix = -62135596800
	maxFastUnix = 253402300799
)

func floorDiv(a, b int64) (q, r int64) {
	q, r = a/b, a%b
	if r < 0 {
		q, r = q-1, r+b
	}
	return q, r
}

// civilFromDays turns days since 1970-01-01 into a proleptic Gregorian
// date, counting in 400-year eras from 0000-03-01 so leap days fall last.
func civilFromDays(z int64) (year int64, month, day int) {
	z += 719468
	era, doe := floorDiv(z, 146097)
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day = int(doy - (153*mp+2)/5 + 1)
	month = int(mp + 3)
	if month > 12 {
		month -= 12
	}
	year = yoe + era*400
	if month <= 2 {
		year++
	}
	return year, month, day
}

const twoDigits = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

// append2 appends v (0–99) as two digits.
func append2(b []byte, v int) []byte { return append(b, twoDigits[2*v], twoDigits[2*v+1]) }
