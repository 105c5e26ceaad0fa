// Package memory is the in-memory binding backend: for tests, and for demo
// and selftest runs that need no file. Everything is lost when the process
// ends. It keeps the same contract as the durable backends (and passes the
// same conformance suite), under one mutex.
package memory

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/partneridp/partneridp/binding"
)

// MaxSpendLifetime is this backend's longest spend lifetime: a mark lives
// in a map, so any bound works; the same as the file backend's keeps
// settings portable.
const MaxSpendLifetime = 2 * time.Hour

// Store is an in-memory binding.Store.
type Store struct {
	clock func() time.Time

	mu       sync.Mutex
	bindings map[binding.Key]binding.Binding
	history  []binding.Change        // by Seq-1
	byKey    map[binding.Key][]int   // indexes into history
	marks    map[string]struct{}     // applied-once marks
	records  map[recordKey]record    // Add/Get/Take
	spent    map[recordKey]time.Time // Spend marks → expiry
	cursors  map[string]uint64       // CursorStore (cursor.go)
	closed   bool
}

type recordKey struct{ bucket, key string }

type record struct {
	value   []byte
	expires time.Time
}

var (
	_ binding.Store     = (*Store)(nil)
	_ binding.Ephemeral = (*ephemeral)(nil)
	_ binding.Backuper  = (*Store)(nil)
	_ binding.Verifier  = (*Store)(nil)

	_ binding.AccountImporter = (*Store)(nil)
)

// New returns an empty store; clock stamps changes (time.Now when nil).
func New(clock func() time.Time) *Store {
	if clock == nil {
		clock = time.Now
	}
	return &Store{
		clock:    clock,
		bindings: map[binding.Key]binding.Binding{},
		byKey:    map[binding.Key][]int{},
		marks:    map[string]struct{}{},
		records:  map[recordKey]record{},
		spent:    map[recordKey]time.Time{},
	}
}

func (s *Store) now() time.Time { return s.clock().UTC() }

// lock takes the mutex unless the context is done or the store closed.
func (s *Store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return binding.ErrUnavailable
	}
	return nil
}

// Limits: see binding.Limits.
func (s *Store) Limits() binding.Limits {
	return binding.Limits{MaxSpendLifetime: MaxSpendLifetime, MaxEphemeralValue: binding.DefaultMaxEphemeralValue}
}

// Close makes every later call fail with ErrUnavailable.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// Get: see binding.Store.
func (s *Store) Get(ctx context.Context, k binding.Key) (binding.Binding, error) {
	if err := k.Validate(); err != nil {
		return binding.Binding{}, err
	}
	if err := s.lock(ctx); err != nil {
		return binding.Binding{}, err
	}
	defer s.mu.Unlock()
	b, ok := s.bindings[k]
	if !ok {
		return binding.Binding{}, binding.ErrNotFound
	}
	return b, nil
}

// GetByDomainID: see binding.Store.
func (s *Store) GetByDomainID(ctx context.Context, domainID string) ([]binding.Binding, error) {
	if err := binding.CheckDomainID(domainID); err != nil {
		return nil, err
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []binding.Binding
	for _, b := range s.bindings {
		if b.DomainID == domainID {
			out = append(out, b)
		}
	}
	sortBindings(out)
	return out, nil
}

func sortBindings(bs []binding.Binding) {
	sort.Slice(bs, func(i, j int) bool { return binding.CompareKeys(bs[i].Key, bs[j].Key) < 0 })
}

// Update: see binding.Store.
func (s *Store) Update(ctx context.Context, k binding.Key, mark string, decide binding.Decide) (binding.Result, error) {
	if err := k.Validate(); err != nil {
		return binding.Result{}, err
	}
	if err := binding.CheckMark(mark); err != nil {
		return binding.Result{}, err
	}
	if err := s.lock(ctx); err != nil {
		return binding.Result{}, err
	}
	defer s.mu.Unlock()
	if mark != "" {
		if _, ok := s.marks[mark]; ok {
			return binding.Result{}, binding.MarkApplied(mark)
		}
	}
	var cur *binding.Binding
	if b, ok := s.bindings[k]; ok {
		cur = &b
	}
	st, err := binding.Apply(k, cur, mark, decide, s.now())
	if err != nil {
		return binding.Result{}, err
	}
	if mark != "" {
		s.marks[mark] = struct{}{}
	}
	if st.Change == nil {
		return st.Result, nil
	}
	if st.Delete {
		delete(s.bindings, k)
	} else {
		s.bindings[k] = *st.Next
	}
	ch := *st.Change
	ch.Seq = uint64(len(s.history) + 1)
	s.history = append(s.history, ch)
	s.byKey[k] = append(s.byKey[k], len(s.history)-1)
	return st.Result, nil
}

// List: see binding.Store. fn runs outside the lock, on a copy.
func (s *Store) List(ctx context.Context, after binding.Key, fn func(binding.Binding) error) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	all := make([]binding.Binding, 0, len(s.bindings))
	for _, b := range s.bindings {
		if after == (binding.Key{}) || binding.CompareKeys(b.Key, after) > 0 {
			all = append(all, b)
		}
	}
	s.mu.Unlock()
	sortBindings(all)
	for _, b := range all {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// History: see binding.Store.
func (s *Store) History(ctx context.Context, k binding.Key) ([]binding.Change, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []binding.Change
	for _, i := range s.byKey[k] {
		out = append(out, s.history[i])
	}
	return out, nil
}

// Changes: see binding.Store.
func (s *Store) Changes(ctx context.Context, after uint64, limit int) ([]binding.Change, error) {
	if err := binding.CheckChangesLimit(limit); err != nil {
		return nil, err
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if after >= uint64(len(s.history)) {
		return nil, nil
	}
	end := min(int(after)+limit, len(s.history))
	return slices.Clone(s.history[after:end]), nil
}

// Count: see binding.Store.
func (s *Store) Count(ctx context.Context) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	return len(s.bindings), nil
}

// Backup writes every binding as export lines (the store has no file).
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var buf bytes.Buffer
	if _, err := binding.Export(ctx, s, &buf); err != nil {
		return 0, err
	}
	return io.Copy(w, &buf)
}

// Verify checks that history replays to the bindings held.
func (s *Store) Verify(ctx context.Context) (binding.Report, error) {
	if err := s.lock(ctx); err != nil {
		return binding.Report{}, err
	}
	defer s.mu.Unlock()
	r := binding.Report{Bindings: len(s.bindings), DomainIndex: len(s.bindings), History: len(s.history), Ephemeral: len(s.records) + len(s.spent)}
	replayed := map[binding.Key]binding.Binding{}
	for _, ch := range s.history {
		if ch.Action == binding.ActionBind {
			replayed[ch.Binding.Key] = ch.Binding
		} else {
			delete(replayed, ch.Binding.Key)
		}
	}
	for k, b := range s.bindings {
		if h, ok := replayed[k]; !ok || h.DomainID != b.DomainID {
			r.Problem("binding %s/%s does not match its history", k.XAccountType, k.XAccountID)
		}
	}
	if len(replayed) != len(s.bindings) {
		r.Problem("history names %d bindings, the store holds %d", len(replayed), len(s.bindings))
	}
	return r, r.Err()
}

// Ephemeral returns the flow-record and replay-mark view.
func (s *Store) Ephemeral() binding.Ephemeral { return &ephemeral{s} }

type ephemeral struct{ s *Store }

func (e *ephemeral) Add(ctx context.Context, bucket, key string, value []byte, expires time.Time) error {
	s := e.s
	now := s.now()
	if err := binding.CheckAdd(s.Limits(), bucket, key, value, now, expires); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	rk := recordKey{bucket, key}
	if old, ok := s.records[rk]; ok && old.expires.After(now) {
		return binding.ErrExists
	}
	s.records[rk] = record{value: bytes.Clone(value), expires: expires}
	return nil
}

func (e *ephemeral) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	return e.read(ctx, bucket, key, false)
}

func (e *ephemeral) Take(ctx context.Context, bucket, key string) ([]byte, error) {
	return e.read(ctx, bucket, key, true)
}

func (e *ephemeral) read(ctx context.Context, bucket, key string, take bool) ([]byte, error) {
	s := e.s
	if err := binding.CheckEphemeralName(bucket, key); err != nil {
		return nil, err
	}
	now := s.now()
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	rk := recordKey{bucket, key}
	r, ok := s.records[rk]
	if take {
		delete(s.records, rk)
	}
	if !ok || !r.expires.After(now) {
		return nil, binding.ErrNotFound
	}
	return bytes.Clone(r.value), nil
}

func (e *ephemeral) Spend(ctx context.Context, bucket, key string, expires time.Time) error {
	s := e.s
	now := s.now()
	if err := binding.CheckSpend(s.Limits(), bucket, key, now, expires); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	rk := recordKey{bucket, key}
	if old, ok := s.spent[rk]; ok && old.After(now) {
		return binding.ErrExists
	}
	s.spent[rk] = expires
	return nil
}

func (e *ephemeral) Sweep(ctx context.Context, now time.Time) (int, error) {
	s := e.s
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for k, r := range s.records {
		if !r.expires.After(now) {
			delete(s.records, k)
			n++
		}
	}
	for k, exp := range s.spent {
		if !exp.After(now) {
			delete(s.spent, k)
			n++
		}
	}
	return n, nil
}

// ImportAccount: see binding.AccountImporter.
func (s *Store) ImportAccount(ctx context.Context, k binding.Key, history []binding.Change) error {
	final, err := binding.CheckImportedHistory(k, history)
	if err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if len(s.byKey[k]) > 0 {
		return fmt.Errorf("%w: %s/%s already has a history here", binding.ErrExists, k.XAccountType, k.XAccountID)
	}
	for _, ch := range history {
		ch.Seq = uint64(len(s.history) + 1)
		s.history = append(s.history, ch)
		s.byKey[k] = append(s.byKey[k], len(s.history)-1)
		if ch.Mark != "" {
			s.marks[ch.Mark] = struct{}{}
		}
	}
	if final != nil {
		s.bindings[k] = *final
	}
	return nil
}
