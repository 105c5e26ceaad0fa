package platformapi

import (
	"encoding/json"
	"testing"
	"time"
)

func TestAppendRFC3339NanoUTC(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	for _, ts := range []time.Time{
		{},
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2000, 2, 29, 12, 0, 0, 0, time.UTC),
		time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 100000000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 1, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 120, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), // outside RFC 3339: the standard formatter's answer
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 6, shanghai), // not UTC: the standard formatter
	} {
		want := ts.AppendFormat(nil, time.RFC3339Nano)
		if got := appendRFC3339NanoUTC(nil, ts); string(got) != string(want) {
			t.Errorf("%v: got %s, want %s", ts, got, want)
		}
	}
}

func FuzzAppendRFC3339NanoUTC(f *testing.F) {
	f.Add(int64(0), int64(0))
	f.Add(int64(1796558400), int64(123456789))
	f.Add(int64(-62135596800), int64(1))
	f.Add(int64(253402300799), int64(999999999))
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		// Most int64 seconds are outside years 1–9999; fold them into the
		// short path's range so the fuzzer exercises it, not the fallback.
		if sec < minFastUnix || sec > maxFastUnix {
			sec = minFastUnix + int64(uint64(sec)%uint64(maxFastUnix-minFastUnix+1))
		}
		ts := time.Unix(sec, nsec).UTC()
		want := ts.AppendFormat(nil, time.RFC3339Nano)
		if got := appendRFC3339NanoUTC(nil, ts); string(got) != string(want) {
			t.Errorf("%d.%d: got %s, want %s", sec, nsec, got, want)
		}
	})
}

// BenchmarkAppendTime compares the short path with the standard formatter.
func BenchmarkAppendTime(b *testing.B) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	buf := make([]byte, 0, 64)
	b.Run("stdlib", func(b *testing.B) {
		for b.Loop() {
			buf = ts.AppendFormat(buf[:0], time.RFC3339Nano)
		}
	})
	b.Run("short", func(b *testing.B) {
		for b.Loop() {
			buf = appendRFC3339NanoUTC(buf[:0], ts)
		}
	})
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "cust-1", "c<&>\"\\", "名前", "\u2028\x01\x7f", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	})
}
