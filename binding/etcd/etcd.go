// Package etcd is the binding backend for several bridge instances sharing
// one etcd v3 cluster. Every write is one etcd transaction guarded by
// compare-and-swap on mod revisions, so instances see one serial order.
//
// Key layout, under Options.Prefix (P):
//
//	P schema                          schema version ("1")
//	P seq                             last history sequence number (decimal)
//	P b/<type>\x00<id>                binding (JSON)
//	P d/<domain>\x00<type>\x00<id>    by-domain index (empty value)
//	P h/<seq, 20 digits>              history entry (JSON Change)
//	P k/<type>\x00<id>\x00<seq>       per-account history index (empty)
//	P m/<mark>                        applied-once mark (permanent; value = seq or "")
//	P e/<bucket>\x00<key>             flow record: 8-byte expiry (unix ns, big endian) + value
//	P s/<bucket>\x00<key>             spent mark: 8-byte expiry
//	P c/<name>                        feed cursor (decimal seq; the webhook deliverers')
//	P lead/<name>/...                 election keys (etcd's concurrency recipe)
//
// Flow records and spent marks carry a shared lease per kind and per time
// slot of their expiry (never one lease per key, never kept alive); the
// expiry stored in the value is checked on every read, and Sweep deletes what
// a lease missed.
package etcd

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/partneridp/partneridp/binding"
)

// SchemaVersion is the version of the key layout this code writes.
const SchemaVersion = 1

// MaxSpendLifetime: a spent mark may live this long (above the longest token
// lifetime the bridge accepts plus leeway).
const MaxSpendLifetime = 2 * time.Hour

// MaxEphemeralValue: flow records are a few hundred bytes; etcd keys stay
// small.
const MaxEphemeralValue = 8 << 10

// Options configure Open.
type Options struct {
	Endpoints []string
	// Prefix namespaces every key, so several deployments share a cluster.
	// Default "/partneridp/".
	Prefix string
	// TLS: CAFile verifies the server; CertFile and KeyFile are the client
	// certificate. TLS is on when any is set.
	CAFile, CertFile, KeyFile string
	Username, Password        string
	DialTimeout               time.Duration // default 5s
	RequestTimeout            time.Duration // deadline of every call; default 5s
	// DialKeepAliveTime and DialKeepAliveTimeout drop the connection to a
	// frozen member (SIGSTOP, GC pause, half-open network); gRPC raises a
	// ping interval below 10s to 10s, so until then RequestTimeout is what
	// bounds a call sent to a frozen member. Defaults 10s and 3s.
	DialKeepAliveTime    time.Duration
	DialKeepAliveTimeout time.Duration
	Clock                func() time.Time
	MaxRetries           int // compare-and-swap attempts of an Update or ephemeral write; default 32
	// LeaseSlot is the width of a lease bucket of ephemeral keys; default 1m.
	LeaseSlot time.Duration
	// Logger for the etcd client; default: errors only.
	Logger *zap.Logger
}

// Store is the etcd binding.Store.
type Store struct {
	c       *clientv3.Client
	p       string
	opts    Options
	clock   func() time.Time
	closeMu sync.RWMutex
	closed  bool

	leaseMu sync.Mutex
	leases  map[leaseSlot]clientv3.LeaseID

	// writer serializes this process's Updates: they all compare-and-swap
	// the one sequence key, so concurrent ones here would only make each
	// other retry. Compare-and-swap still orders instances.
	writer chan struct{}
}

type leaseSlot struct {
	kind byte
	end  int64 // unix seconds of the slot end
}

var (
	_ binding.Store     = (*Store)(nil)
	_ binding.Ephemeral = (*ephemeral)(nil)
	_ binding.Backuper  = (*Store)(nil)
	_ binding.Verifier  = (*Store)(nil)
	_ binding.Pinger    = (*Store)(nil)
)

// Open connects, checks that the cluster answers with these credentials,
// and checks (or writes, on an empty prefix) the schema version.
func Open(ctx context.Context, o Options) (*Store, error) {
	if len(o.Endpoints) == 0 {
		return nil, fmt.Errorf("etcd: no endpoints configured; set store.etcd.endpoints")
	}
	if o.Prefix == "" {
		o.Prefix = "/partneridp/"
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 5 * time.Second
	}
	if o.DialKeepAliveTime <= 0 {
		o.DialKeepAliveTime = 10 * time.Second
	}
	if o.DialKeepAliveTimeout <= 0 {
		o.DialKeepAliveTimeout = 3 * time.Second
	}
	if o.MaxRetries <= 0 {
		o.MaxRetries = 32
	}
	if o.LeaseSlot <= 0 {
		o.LeaseSlot = time.Minute
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	eps := strings.Join(o.Endpoints, ",")
	var tlsCfg *tls.Config
	if o.CAFile != "" || o.CertFile != "" || o.KeyFile != "" {
		if err := checkCAFile(o.CAFile); err != nil {
			return nil, err
		}
		ti := transport.TLSInfo{TrustedCAFile: o.CAFile, CertFile: o.CertFile, KeyFile: o.KeyFile}
		var err error
		tlsCfg, err = ti.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("etcd: TLS settings (ca %q, cert %q, key %q): %v; fix store.etcd.ca_file, cert_file and key_file", o.CAFile, o.CertFile, o.KeyFile, err)
		}
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:            o.Endpoints,
		DialTimeout:          o.DialTimeout,
		DialKeepAliveTime:    o.DialKeepAliveTime,
		DialKeepAliveTimeout: o.DialKeepAliveTimeout,
		TLS:                  tlsCfg,
		Username:             o.Username,
		Password:             o.Password,
		Logger:               o.Logger,
		Context:              context.Background(),
	})
	if err != nil {
		return nil, openError(eps, err)
	}
	s := &Store{c: c, p: o.Prefix, opts: o, clock: o.Clock, leases: map[leaseSlot]clientv3.LeaseID{}, writer: make(chan struct{}, 1)}
	if err := s.checkSchema(ctx); err != nil {
		c.Close()
		if errors.Is(err, binding.ErrSchema) || ctx.Err() != nil {
			return nil, err
		}
		if tlsCfg != nil {
			// gRPC reports a failed handshake as a deadline: ask once
			// more, plainly, so the error names the TLS problem.
			if herr := tlsHandshake(o.Endpoints, tlsCfg, o.DialTimeout); herr != nil {
				err = herr
			}
		}
		return nil, openError(eps, err)
	}
	return s, nil
}

// checkCAFile refuses a CA file without a PEM certificate, which the
// client would otherwise ignore.
func checkCAFile(path string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("etcd: store.etcd.ca_file: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return fmt.Errorf("etcd: store.etcd.ca_file %s holds no PEM certificate", filepath.Base(path))
	}
	return nil
}

// tlsHandshake tries a TLS handshake with each endpoint and returns the
// first failure.
func tlsHandshake(endpoints []string, cfg *tls.Config, timeout time.Duration) error {
	for _, ep := range endpoints {
		u, err := url.Parse(ep)
		if err != nil {
			continue
		}
		c := cfg.Clone()
		if c.ServerName == "" {
			c.ServerName = u.Hostname()
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", u.Host, c)
		if err != nil {
			if _, isNet := err.(net.Error); isNet && !strings.Contains(err.Error(), "tls") {
				continue // not a TLS failure: the plain error says more
			}
			return fmt.Errorf("TLS handshake with %s failed: %w", u.Host, err)
		}
		conn.Close()
	}
	return nil
}

func openError(eps string, err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrAuthFailed), strings.Contains(err.Error(), "authentication failed"):
		return fmt.Errorf("%w: etcd at %s refused the credentials: %v; check store.etcd.username and the password file or variable", binding.ErrUnavailable, eps, err)
	case errors.Is(err, rpctypes.ErrPermissionDenied), strings.Contains(err.Error(), "permission denied"), strings.Contains(err.Error(), "user name is empty"):
		return fmt.Errorf("%w: etcd at %s: %v; grant the user read-write on the key prefix, or set store.etcd.username", binding.ErrUnavailable, eps, err)
	case strings.Contains(err.Error(), "certificate"), strings.Contains(err.Error(), "tls:"), strings.Contains(err.Error(), "TLS handshake"):
		return fmt.Errorf("%w: etcd at %s: %v; check store.etcd.ca_file, cert_file and key_file, and that the endpoints' scheme (https) matches the cluster", binding.ErrUnavailable, eps, err)
	}
	return fmt.Errorf("%w: etcd at %s is unreachable: %v; check store.etcd.endpoints, that the cluster runs and has a leader, and the TLS settings", binding.ErrUnavailable, eps, err)
}

func (s *Store) checkSchema(ctx context.Context) error {
	want := strconv.Itoa(SchemaVersion)
	sk := s.p + "schema"
	cctx, cancel := s.rctx(ctx)
	defer cancel()
	resp, err := s.c.Txn(cctx).
		If(clientv3.Compare(clientv3.CreateRevision(s.p), "=", 0).WithPrefix()).
		Then(clientv3.OpPut(sk, want), clientv3.OpPut(s.p+"seq", "0")).
		Else(clientv3.OpGet(sk)).Commit()
	if err != nil {
		return err
	}
	if resp.Succeeded {
		return nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return fmt.Errorf("%w: etcd prefix %q holds keys but no partneridp schema key; choose another store.etcd.prefix", binding.ErrSchema, s.p)
	}
	if got := string(kvs[0].Value); got != want {
		return fmt.Errorf("%w: etcd prefix %q holds schema version %q, this partneridp reads %q; use the matching release or another prefix", binding.ErrSchema, s.p, got, want)
	}
	return nil
}

// Limits: see binding.Limits.
func (s *Store) Limits() binding.Limits {
	return binding.Limits{MaxSpendLifetime: MaxSpendLifetime, MaxEphemeralValue: MaxEphemeralValue}
}

// Close closes the client; later calls fail with ErrUnavailable.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.c.Close()
}

func (s *Store) now() time.Time { return s.clock().UTC() }

// begin checks the context and that the store is open, and returns a
// context with the request deadline.
func (s *Store) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.closeMu.RLock()
	closed := s.closed
	s.closeMu.RUnlock()
	if closed {
		return nil, nil, fmt.Errorf("%w: etcd store is closed", binding.ErrUnavailable)
	}
	c, cancel := s.rctx(ctx)
	return c, cancel, nil
}

func (s *Store) rctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.RequestTimeout)
}

// fail maps an etcd or gRPC error: the caller's cancellation passes
// through, anything else is ErrUnavailable with the cause.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return fmt.Errorf("%w: etcd %s: %v", binding.ErrUnavailable, op, err)
}

// keys

func acct(k binding.Key) string { return k.XAccountType + "\x00" + k.XAccountID }

func (s *Store) bkey(k binding.Key) string { return s.p + "b/" + acct(k) }
func (s *Store) dkey(domain string, k binding.Key) string {
	return s.p + "d/" + domain + "\x00" + acct(k)
}
func (s *Store) hkey(seq uint64) string { return s.p + "h/" + fmt.Sprintf("%020d", seq) }
func (s *Store) kkey(k binding.Key, seq uint64) string {
	return s.p + "k/" + acct(k) + "\x00" + fmt.Sprintf("%020d", seq)
}
func (s *Store) mkey(mark string) string { return s.p + "m/" + mark }

// Get: see binding.Store.
func (s *Store) Get(ctx context.Context, k binding.Key) (binding.Binding, error) {
	if err := k.Validate(); err != nil {
		return binding.Binding{}, err
	}
	cctx, cancel, err := s.begin(ctx)
	if err != nil {
		return binding.Binding{}, err
	}
	defer cancel()
	resp, err := s.c.Get(cctx, s.bkey(k))
	if err != nil {
		return binding.Binding{}, s.fail(ctx, "get", err)
	}
	if len(resp.Kvs) == 0 {
		return binding.Binding{}, binding.ErrNotFound
	}
	return decodeBinding(resp.Kvs[0].Value)
}

func decodeBinding(v []byte) (binding.Binding, error) {
	var b binding.Binding
	if err := json.Unmarshal(v, &b); err != nil {
		return binding.Binding{}, fmt.Errorf("%w: binding value: %v", binding.ErrCorrupt, err)
	}
	return b, nil
}

// GetByDomainID: see binding.Store.
func (s *Store) GetByDomainID(ctx context.Context, domainID string) ([]binding.Binding, error) {
	if err := binding.CheckDomainID(domainID); err != nil {
		return nil, err
	}
	cctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	pre := s.p + "d/" + domainID + "\x00"
	resp, err := s.c.Get(cctx, pre, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, s.fail(ctx, "get by domain", err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	ops := make([]clientv3.Op, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		ops = append(ops, clientv3.OpGet(s.p+"b/"+strings.TrimPrefix(string(kv.Key), pre)))
	}
	// Read the bindings at the index's revision: one consistent view.
	var out []binding.Binding
	for len(ops) > 0 {
		n := min(len(ops), 100)
		tr, err := s.c.Txn(cctx).Then(ops[:n]...).Commit()
		if err != nil {
			return nil, s.fail(ctx, "get by domain", err)
		}
		for _, r := range tr.Responses {
			kvs := r.GetResponseRange().Kvs
			if len(kvs) == 0 {
				continue // removed since the index read
			}
			b, err := decodeBinding(kvs[0].Value)
			if err != nil {
				return nil, err
			}
			if b.DomainID == domainID {
				out = append(out, b)
			}
		}
		ops = ops[n:]
	}
	return out, nil
}

// Update: see binding.Store. One transaction writes the binding, its
// by-domain index, the history entry, the sequence number and the mark, if
// the binding key, the sequence key and the mark are as read; a lost race is
// retried with jittered backoff up to MaxRetries times, then ErrConflict.
// Updates of one Store run one at a time. A commit that fails with
// ErrUnavailable (a deadline without a leader) may still be applied by the
// cluster later: its outcome is unknown, never half-written.
func (s *Store) Update(ctx context.Context, k binding.Key, mark string, decide binding.Decide) (binding.Result, error) {
	if err := k.Validate(); err != nil {
		return binding.Result{}, err
	}
	if err := binding.CheckMark(mark); err != nil {
		return binding.Result{}, err
	}
	bk, sk := s.bkey(k), s.p+"seq"
	if err := ctx.Err(); err != nil {
		return binding.Result{}, err
	}
	wait := time.NewTimer(2 * s.opts.RequestTimeout)
	defer wait.Stop()
	select {
	case s.writer <- struct{}{}:
		defer func() { <-s.writer }()
	case <-ctx.Done():
		return binding.Result{}, ctx.Err()
	case <-wait.C:
		return binding.Result{}, fmt.Errorf("%w: etcd updates of this instance queued longer than %s", binding.ErrUnavailable, 2*s.opts.RequestTimeout)
	}
	for attempt := 0; attempt < s.opts.MaxRetries; attempt++ {
		if attempt > 0 {
			d := time.Duration(1<<min(attempt, 6)) * time.Millisecond
			d = d/2 + time.Duration(rand.Int64N(int64(d)))
			select {
			case <-ctx.Done():
				return binding.Result{}, ctx.Err()
			case <-time.After(d):
			}
		}
		res, done, err := s.updateOnce(ctx, k, bk, sk, mark, decide)
		if done || err != nil {
			return res, err
		}
	}
	return binding.Result{}, fmt.Errorf("%w: binding %s/%s changed under %d attempts", binding.ErrConflict, k.XAccountType, k.XAccountID, s.opts.MaxRetries)
}

func (s *Store) updateOnce(ctx context.Context, k binding.Key, bk, sk, mark string, decide binding.Decide) (binding.Result, bool, error) {
	cctx, cancel, err := s.begin(ctx)
	if err != nil {
		return binding.Result{}, false, err
	}
	defer cancel()
	reads := []clientv3.Op{clientv3.OpGet(bk), clientv3.OpGet(sk)}
	if mark != "" {
		reads = append(reads, clientv3.OpGet(s.mkey(mark), clientv3.WithKeysOnly()))
	}
	rr, err := s.c.Txn(cctx).Then(reads...).Commit()
	if err != nil {
		return binding.Result{}, false, s.fail(ctx, "update read", err)
	}
	if mark != "" && len(rr.Responses[2].GetResponseRange().Kvs) > 0 {
		return binding.Result{}, false, binding.MarkApplied(mark)
	}
	var cur *binding.Binding
	var bRev int64
	if kvs := rr.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		b, err := decodeBinding(kvs[0].Value)
		if err != nil {
			return binding.Result{}, false, err
		}
		cur, bRev = &b, kvs[0].ModRevision
	}
	var seq uint64
	var seqRev int64
	if kvs := rr.Responses[1].GetResponseRange().Kvs; len(kvs) > 0 {
		seq, err = strconv.ParseUint(string(kvs[0].Value), 10, 64)
		if err != nil {
			return binding.Result{}, false, fmt.Errorf("%w: sequence key: %v", binding.ErrCorrupt, err)
		}
		seqRev = kvs[0].ModRevision
	}
	st, err := binding.Apply(k, cur, mark, decide, s.now())
	if err != nil {
		return binding.Result{}, false, err
	}
	if st.Change == nil && mark == "" {
		return st.Result, true, nil
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(bk), "=", bRev)}
	if mark != "" {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(s.mkey(mark)), "=", 0))
	}
	var ops []clientv3.Op
	markVal := ""
	if st.Change != nil {
		seq++
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(sk), "=", seqRev))
		ch := *st.Change
		ch.Seq = seq
		cj, err := json.Marshal(ch)
		if err != nil {
			return binding.Result{}, false, err
		}
		if cur != nil && (st.Delete || st.Next.DomainID != cur.DomainID) {
			ops = append(ops, clientv3.OpDelete(s.dkey(cur.DomainID, k)))
		}
		if st.Delete {
			ops = append(ops, clientv3.OpDelete(bk))
		} else {
			bj, err := json.Marshal(st.Next)
			if err != nil {
				return binding.Result{}, false, err
			}
			ops = append(ops, clientv3.OpPut(bk, string(bj)), clientv3.OpPut(s.dkey(st.Next.DomainID, k), ""))
		}
		ops = append(ops,
			clientv3.OpPut(s.hkey(seq), string(cj)),
			clientv3.OpPut(s.kkey(k, seq), ""),
			clientv3.OpPut(sk, strconv.FormatUint(seq, 10)))
		markVal = strconv.FormatUint(seq, 10)
	}
	if mark != "" {
		ops = append(ops, clientv3.OpPut(s.mkey(mark), markVal))
	}
	tr, err := s.c.Txn(cctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return binding.Result{}, false, s.fail(ctx, "update", err)
	}
	if !tr.Succeeded {
		return binding.Result{}, false, nil
	}
	return st.Result, true, nil
}

const pageSize = 256

// rangePage pages through [from, end) calling fn for each key-value;
// from is inclusive.
func (s *Store) rangePage(ctx context.Context, op, from, end string, limit int, fn func(k, v []byte) error) error {
	return s.rangeKVs(ctx, op, from, end, limit, func(kv *mvccpb.KeyValue) error { return fn(kv.Key, kv.Value) })
}

// rangeKVs is rangePage with the whole key-value (mod revision, lease).
func (s *Store) rangeKVs(ctx context.Context, op, from, end string, limit int, fn func(kv *mvccpb.KeyValue) error) error {
	for {
		cctx, cancel, err := s.begin(ctx)
		if err != nil {
			return err
		}
		resp, err := s.c.Get(cctx, from, clientv3.WithRange(end), clientv3.WithLimit(int64(limit)))
		cancel()
		if err != nil {
			return s.fail(ctx, op, err)
		}
		for _, kv := range resp.Kvs {
			if err := fn(kv); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

func prefixEnd(p string) string { return clientv3.GetPrefixRangeEnd(p) }

// List: see binding.Store. It reads pages of pageSize bindings.
func (s *Store) List(ctx context.Context, after binding.Key, fn func(binding.Binding) error) error {
	pre := s.p + "b/"
	from := pre
	if after != (binding.Key{}) {
		from = pre + acct(after) + "\x00"
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.rangePage(ctx, "list", from, prefixEnd(pre), pageSize, func(_, v []byte) error {
		b, err := decodeBinding(v)
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(b)
	})
}

// History: see binding.Store.
func (s *Store) History(ctx context.Context, k binding.Key) ([]binding.Change, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	pre := s.p + "k/" + acct(k) + "\x00"
	var seqs []uint64
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	err := s.rangePage(ctx, "history", pre, prefixEnd(pre), 1000, func(key, _ []byte) error {
		n, err := strconv.ParseUint(strings.TrimPrefix(string(key), pre), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: history index key: %v", binding.ErrCorrupt, err)
		}
		seqs = append(seqs, n)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []binding.Change
	for len(seqs) > 0 {
		n := min(len(seqs), 100)
		ops := make([]clientv3.Op, n)
		for i, q := range seqs[:n] {
			ops[i] = clientv3.OpGet(s.hkey(q))
		}
		cctx, cancel, err := s.begin(ctx)
		if err != nil {
			return nil, err
		}
		tr, err := s.c.Txn(cctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			return nil, s.fail(ctx, "history", err)
		}
		for _, r := range tr.Responses {
			kvs := r.GetResponseRange().Kvs
			if len(kvs) == 0 {
				return nil, fmt.Errorf("%w: history index names a missing entry", binding.ErrCorrupt)
			}
			ch, err := decodeChange(kvs[0].Value)
			if err != nil {
				return nil, err
			}
			out = append(out, ch)
		}
		seqs = seqs[n:]
	}
	return out, nil
}

func decodeChange(v []byte) (binding.Change, error) {
	var ch binding.Change
	if err := json.Unmarshal(v, &ch); err != nil {
		return ch, fmt.Errorf("%w: history value: %v", binding.ErrCorrupt, err)
	}
	return ch, nil
}

// Changes: see binding.Store.
func (s *Store) Changes(ctx context.Context, after uint64, limit int) ([]binding.Change, error) {
	if err := binding.CheckChangesLimit(limit); err != nil {
		return nil, err
	}
	cctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	pre := s.p + "h/"
	resp, err := s.c.Get(cctx, s.hkey(after+1), clientv3.WithRange(prefixEnd(pre)), clientv3.WithLimit(int64(limit)))
	if err != nil {
		return nil, s.fail(ctx, "changes", err)
	}
	var out []binding.Change
	for _, kv := range resp.Kvs {
		ch, err := decodeChange(kv.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, nil
}

// Count: see binding.Store.
func (s *Store) Count(ctx context.Context) (int, error) {
	cctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	resp, err := s.c.Get(cctx, s.p+"b/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, s.fail(ctx, "count", err)
	}
	return int(resp.Count), nil
}

// Ping reads the schema key linearizably: it fails without a leader.
func (s *Store) Ping(ctx context.Context) error {
	cctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if _, err := s.c.Get(cctx, s.p+"schema"); err != nil {
		return s.fail(ctx, "ping", err)
	}
	return nil
}

// Backup writes every binding as export lines. It is not a snapshot of
// history or ephemeral records: for a whole-cluster backup use
// `etcdctl snapshot save`.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var buf bytes.Buffer
	if _, err := binding.Export(ctx, s, &buf); err != nil {
		return 0, err
	}
	return io.Copy(w, &buf)
}

// Verify checks the by-domain index against the bindings, both ways, and
// that history replays to the bindings held.
func (s *Store) Verify(ctx context.Context) (binding.Report, error) {
	r := binding.Report{SchemaVersion: SchemaVersion}
	bindings := map[string]binding.Binding{}
	if err := s.rangePage(ctx, "verify", s.p+"b/", prefixEnd(s.p+"b/"), 1000, func(k, v []byte) error {
		b, err := decodeBinding(v)
		if err != nil {
			r.Problem("binding %q: %v", k, err)
			return nil
		}
		if want := s.bkey(b.Key); want != string(k) {
			r.Problem("binding key %q holds account %s/%s", k, b.XAccountType, b.XAccountID)
		}
		bindings[acct(b.Key)] = b
		return nil
	}); err != nil {
		return r, err
	}
	r.Bindings = len(bindings)
	dpre := s.p + "d/"
	indexed := map[string]bool{}
	if err := s.rangePage(ctx, "verify", dpre, prefixEnd(dpre), 1000, func(k, _ []byte) error {
		r.DomainIndex++
		rest := strings.TrimPrefix(string(k), dpre)
		dom, a, ok := strings.Cut(rest, "\x00")
		b, found := bindings[a]
		switch {
		case !ok:
			r.Problem("index key %q is malformed", k)
		case !found:
			r.Problem("index entry for domain %s names a missing binding", dom)
		case b.DomainID != dom:
			r.Problem("index entry for domain %s names %s/%s, bound to %s", dom, b.XAccountType, b.XAccountID, b.DomainID)
		default:
			indexed[a] = true
		}
		return nil
	}); err != nil {
		return r, err
	}
	for a, b := range bindings {
		if !indexed[a] {
			r.Problem("binding %s/%s is missing from the domain index", b.XAccountType, b.XAccountID)
		}
	}
	replayed := map[string]binding.Binding{}
	var last uint64
	if err := s.rangePage(ctx, "verify", s.p+"h/", prefixEnd(s.p+"h/"), 500, func(k, v []byte) error {
		r.History++
		ch, err := decodeChange(v)
		if err != nil {
			r.Problem("history %q: %v", k, err)
			return nil
		}
		if ch.Seq != last+1 {
			r.Problem("history sequence jumps from %d to %d", last, ch.Seq)
		}
		last = ch.Seq
		if ch.Action == binding.ActionBind {
			replayed[acct(ch.Binding.Key)] = ch.Binding
		} else {
			delete(replayed, acct(ch.Binding.Key))
		}
		return nil
	}); err != nil {
		return r, err
	}
	for a, b := range bindings {
		if h, ok := replayed[a]; !ok || h.DomainID != b.DomainID {
			r.Problem("binding %s/%s does not match its history", b.XAccountType, b.XAccountID)
		}
	}
	if len(replayed) != len(bindings) {
		r.Problem("history names %d bindings, the store holds %d", len(replayed), len(bindings))
	}
	for _, pre := range []string{s.p + "e/", s.p + "s/"} {
		cctx, cancel, err := s.begin(ctx)
		if err != nil {
			return r, err
		}
		resp, err := s.c.Get(cctx, pre, clientv3.WithPrefix(), clientv3.WithCountOnly())
		cancel()
		if err != nil {
			return r, s.fail(ctx, "verify", err)
		}
		r.Ephemeral += int(resp.Count)
	}
	return r, r.Err()
}

// Ephemeral returns the flow-record and replay-mark view.
func (s *Store) Ephemeral() binding.Ephemeral { return &ephemeral{s} }

type ephemeral struct{ s *Store }

const (
	kindRecord = 'e'
	kindSpent  = 's'
)

func (s *Store) ekey(kind byte, bucket, key string) string {
	return s.p + string(kind) + "/" + bucket + "\x00" + key
}

func encodeEph(expires time.Time, value []byte) string {
	b := make([]byte, 8, 8+len(value))
	binary.BigEndian.PutUint64(b, uint64(expires.UnixNano()))
	return string(append(b, value...))
}

func decodeEph(v []byte) (time.Time, []byte, error) {
	if len(v) < 8 {
		return time.Time{}, nil, fmt.Errorf("%w: ephemeral value shorter than its expiry", binding.ErrCorrupt)
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), v[8:], nil
}

// lease returns the shared lease of kind for the slot holding expires:
// created once per slot (TTL = slot end - now + one slot of margin), never
// kept alive.
func (s *Store) lease(ctx context.Context, kind byte, expires, now time.Time) (clientv3.LeaseID, error) {
	slot := s.opts.LeaseSlot
	end := expires.Truncate(slot)
	if end.Before(expires) {
		end = end.Add(slot)
	}
	ls := leaseSlot{kind, end.UnixNano()}
	s.leaseMu.Lock()
	id, ok := s.leases[ls]
	s.leaseMu.Unlock()
	if ok {
		return id, nil
	}
	ttl := int64((end.Sub(now)+slot+time.Second-1)/time.Second) + 1
	g, err := s.c.Grant(ctx, ttl)
	if err != nil {
		return 0, err
	}
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	if id, ok := s.leases[ls]; ok {
		// Another call won the race; ours expires unused.
		return id, nil
	}
	s.leases[ls] = g.ID
	// Forget slots whose lease has run out.
	for k := range s.leases {
		if time.Unix(0, k.end).Add(slot).Before(now) {
			delete(s.leases, k)
		}
	}
	return g.ID, nil
}

func (s *Store) dropLease(kind byte, id clientv3.LeaseID) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	for k, v := range s.leases {
		if v == id {
			delete(s.leases, k)
		}
	}
}

// putIfFree writes key if absent or if what it holds expired at now
// (compare-and-swap on its mod revision). ErrExists when an unexpired value
// holds it.
func (s *Store) putIfFree(ctx context.Context, op string, kind byte, key string, val string, expires time.Time) error {
	now := s.now()
	for attempt := 0; attempt < s.opts.MaxRetries; attempt++ {
		cctx, cancel, err := s.begin(ctx)
		if err != nil {
			return err
		}
		err = func() error {
			lid, err := s.lease(cctx, kind, expires, now)
			if err != nil {
				return s.fail(ctx, op, err)
			}
			tr, err := s.c.Txn(cctx).
				If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
				Then(clientv3.OpPut(key, val, clientv3.WithLease(lid))).
				Else(clientv3.OpGet(key)).Commit()
			if err != nil {
				if errors.Is(err, rpctypes.ErrLeaseNotFound) {
					s.dropLease(kind, lid)
					return errRetry
				}
				return s.fail(ctx, op, err)
			}
			if tr.Succeeded {
				return nil
			}
			kvs := tr.Responses[0].GetResponseRange().Kvs
			if len(kvs) == 0 {
				return errRetry
			}
			exp, _, err := decodeEph(kvs[0].Value)
			if err == nil && exp.After(now) {
				return binding.ErrExists
			}
			tr, err = s.c.Txn(cctx).
				If(clientv3.Compare(clientv3.ModRevision(key), "=", kvs[0].ModRevision)).
				Then(clientv3.OpPut(key, val, clientv3.WithLease(lid))).Commit()
			if err != nil {
				if errors.Is(err, rpctypes.ErrLeaseNotFound) {
					s.dropLease(kind, lid)
					return errRetry
				}
				return s.fail(ctx, op, err)
			}
			if tr.Succeeded {
				return nil
			}
			return errRetry
		}()
		cancel()
		if err != errRetry {
			return err
		}
	}
	return fmt.Errorf("%w: ephemeral key changed under %d attempts", binding.ErrConflict, s.opts.MaxRetries)
}

var errRetry = errors.New("retry")

func (e *ephemeral) Add(ctx context.Context, bucket, key string, value []byte, expires time.Time) error {
	s := e.s
	if err := binding.CheckAdd(s.Limits(), bucket, key, value, s.now(), expires); err != nil {
		return err
	}
	return s.putIfFree(ctx, "add", kindRecord, s.ekey(kindRecord, bucket, key), encodeEph(expires, value), expires)
}

func (e *ephemeral) Spend(ctx context.Context, bucket, key string, expires time.Time) error {
	s := e.s
	if err := binding.CheckSpend(s.Limits(), bucket, key, s.now(), expires); err != nil {
		return err
	}
	return s.putIfFree(ctx, "spend", kindSpent, s.ekey(kindSpent, bucket, key), encodeEph(expires, nil), expires)
}

func (e *ephemeral) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	s := e.s
	if err := binding.CheckEphemeralName(bucket, key); err != nil {
		return nil, err
	}
	now := s.now()
	cctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	resp, err := s.c.Get(cctx, s.ekey(kindRecord, bucket, key))
	if err != nil {
		return nil, s.fail(ctx, "get record", err)
	}
	if len(resp.Kvs) == 0 {
		return nil, binding.ErrNotFound
	}
	exp, v, err := decodeEph(resp.Kvs[0].Value)
	if err != nil {
		return nil, err
	}
	if !exp.After(now) {
		return nil, binding.ErrNotFound
	}
	return bytes.Clone(v), nil
}

// Take reads the record and deletes it if its mod revision is unchanged:
// concurrent Takes succeed once.
func (e *ephemeral) Take(ctx context.Context, bucket, key string) ([]byte, error) {
	s := e.s
	if err := binding.CheckEphemeralName(bucket, key); err != nil {
		return nil, err
	}
	now := s.now()
	ek := s.ekey(kindRecord, bucket, key)
	for attempt := 0; attempt < s.opts.MaxRetries; attempt++ {
		cctx, cancel, err := s.begin(ctx)
		if err != nil {
			return nil, err
		}
		v, err := func() ([]byte, error) {
			resp, err := s.c.Get(cctx, ek)
			if err != nil {
				return nil, s.fail(ctx, "take record", err)
			}
			if len(resp.Kvs) == 0 {
				return nil, binding.ErrNotFound
			}
			kv := resp.Kvs[0]
			exp, v, err := decodeEph(kv.Value)
			tr, terr := s.c.Txn(cctx).
				If(clientv3.Compare(clientv3.ModRevision(ek), "=", kv.ModRevision)).
				Then(clientv3.OpDelete(ek)).Commit()
			if terr != nil {
				return nil, s.fail(ctx, "take record", terr)
			}
			if !tr.Succeeded {
				return nil, errRetry
			}
			if err != nil {
				return nil, err
			}
			if !exp.After(now) {
				return nil, binding.ErrNotFound
			}
			return bytes.Clone(v), nil
		}()
		cancel()
		if err != errRetry {
			return v, err
		}
	}
	return nil, fmt.Errorf("%w: flow record changed under %d attempts", binding.ErrConflict, s.opts.MaxRetries)
}

// Sweep deletes, page by page, the records and marks whose stored expiry is
// at or before now (what a lease has not removed yet). Each delete is a
// compare-and-swap on the mod revision read, so a key renewed meanwhile
// stays.
func (e *ephemeral) Sweep(ctx context.Context, now time.Time) (int, error) {
	s := e.s
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	for _, kind := range []byte{kindRecord, kindSpent} {
		pre := s.p + string(kind) + "/"
		err := s.rangeKVs(ctx, "sweep", pre, prefixEnd(pre), 500, func(kv *mvccpb.KeyValue) error {
			exp, _, err := decodeEph(kv.Value)
			if err == nil && exp.After(now) {
				return nil
			}
			cctx, cancel, err := s.begin(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			tr, err := s.c.Txn(cctx).
				If(clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)).
				Then(clientv3.OpDelete(string(kv.Key))).Commit()
			if err != nil {
				return s.fail(ctx, "sweep", err)
			}
			if tr.Succeeded && tr.Responses[0].GetResponseDeleteRange().Deleted > 0 {
				n++
			}
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Prefix is the key prefix this store reads and writes under.
func (s *Store) Prefix() string { return s.p }

// Destroy deletes every key under the store's prefix: for throwaway
// prefixes (selftest), never for a deployment's own.
func (s *Store) Destroy(ctx context.Context) error {
	cctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if _, err := s.c.Delete(cctx, s.p, clientv3.WithPrefix()); err != nil {
		return s.fail(ctx, "destroy", err)
	}
	return nil
}
