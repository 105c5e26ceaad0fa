package platformapi

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"
)

// The read path writes its most frequent answer, one binding, without
// reflection: appendBindingView produces the same bytes as
// json.NewEncoder(w).Encode(BindingView) (TestAppendBindingViewMatchesEncoder).

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

func writeBindingView(w http.ResponseWriter, status int, v BindingView) {
	bp := bufPool.Get().(*[]byte)
	b := appendBindingView((*bp)[:0], v)
	b = append(b, '\n')
	setJSONHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(b)
	*bp = b
	bufPool.Put(bp)
}

func appendBindingView(b []byte, v BindingView) []byte {
	b = append(b, `{"xaccount_type":`...)
	b = appendJSONString(b, v.XAccountType)
	b = append(b, `,"xaccount_id":`...)
	b = appendJSONString(b, v.XAccountID)
	b = append(b, `,"domain_id":`...)
	b = appendJSONString(b, v.DomainID)
	if v.DomainName != "" {
		b = append(b, `,"domain_name":`...)
		b = appendJSONString(b, v.DomainName)
	}
	b = append(b, `,"source":`...)
	b = appendJSONString(b, v.Source)
	b = append(b, `,"created_at":`...)
	b = appendJSONTime(b, v.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendJSONTime(b, v.UpdatedAt)
	return append(b, '}')
}

// appendJSONString appends s as encoding/json would (HTML-escaped); only
// plain printable ASCII takes the fast path.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
