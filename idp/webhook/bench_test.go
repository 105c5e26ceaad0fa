package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
	"github.com/partneridp/partneridp/binding/memory"
)

// BenchmarkDelivery measures webhook delivery against a local receiver
// (an httptest server that reads the body and answers 204), in one run:
//
//   - bare_post: the same client POSTing a body of the same size to the
//     receiver: the receiver's and the loopback round trip's own cost, the
//     baseline.
//   - deliver/memory, deliver/bolt: Deliverer.Step from a store holding
//     b.N changes until all are delivered: reading the feed, the JSON
//     body, the Standard Webhooks signature, the POST, and the durable
//     cursor write after each event (on bolt, one fsync'd transaction per
//     event).
//
// Each reports deliveries/s.
func BenchmarkDelivery(b *testing.B) {
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	client := rcv.Client()
	secret, err := ParseSecret(testSecret)
	if err != nil {
		b.Fatal(err)
	}
	sample := eventOf(binding.Change{Seq: 12345, Action: binding.ActionBind, Source: binding.SourceNotification, Time: time.Now(),
		Binding: binding.Binding{Key: binding.Key{XAccountType: "T", XAccountID: "cust-000001"}, DomainID: "0123456789abcdef0123456789abcdef"}})
	body := []byte(fmt.Sprintf("%+v", sample)) // about the size of a real event body

	b.Run("bare_post", func(b *testing.B) {
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodPost, rcv.URL, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	})
	for _, backend := range []string{"memory", "bolt"} {
		b.Run("deliver/"+backend, func(b *testing.B) {
			ctx := context.Background()
			var st binding.Store = memory.New(nil)
			if backend == "bolt" {
				db, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), bolt.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				st = db
			}
			for i := range b.N {
				if _, err := binding.Put(ctx, st, binding.Binding{Key: binding.Key{XAccountType: "T", XAccountID: fmt.Sprintf("cust-%06d", i)},
					DomainID: "0123456789abcdef0123456789abcdef", Source: binding.SourceNotification}, "bench", nil); err != nil {
					b.Fatal(err)
				}
			}
			d := &Deliverer{Name: "bench", XAccountType: "T", URL: rcv.URL, Secret: secret, Store: st, Client: client}
			b.ResetTimer()
			delivered := 0
			for delivered < b.N {
				n, err := d.Step(ctx)
				if err != nil {
					b.Fatal(err)
				}
				delivered += n
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
