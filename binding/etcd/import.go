package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/partneridp/partneridp/binding"
)

var (
	_ binding.AccountImporter = (*Store)(nil)
	_ binding.CursorStore     = (*Store)(nil)
)

// maxImportOps keeps an imported history inside one transaction under
// etcd's default --max-txn-ops (128).
const maxImportOps = 120

// ImportAccount: see binding.AccountImporter. One transaction, committed
// only if the account has no history and no binding here and the sequence
// key is as read.
func (s *Store) ImportAccount(ctx context.Context, k binding.Key, history []binding.Change) error {
	final, err := binding.CheckImportedHistory(k, history)
	if err != nil {
		return err
	}
	marks := 0
	for _, ch := range history {
		if ch.Mark != "" {
			marks++
		}
	}
	if n := 2*len(history) + marks + 3; n > maxImportOps {
		return fmt.Errorf("%w: %s/%s has %d history entries, more than one etcd transaction holds (%d operations)", binding.ErrInvalid, k.XAccountType, k.XAccountID, len(history), maxImportOps)
	}
	bk, sk, hp := s.bkey(k), s.p+"seq", s.p+"k/"+acct(k)+"\x00"
	for attempt := 0; attempt < s.opts.MaxRetries; attempt++ {
		done, err := s.importOnce(ctx, k, history, final, bk, sk, hp)
		if done || err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: importing %s/%s lost %d races for the sequence key", binding.ErrConflict, k.XAccountType, k.XAccountID, s.opts.MaxRetries)
}

func (s *Store) importOnce(ctx context.Context, k binding.Key, history []binding.Change, final *binding.Binding, bk, sk, hp string) (bool, error) {
	cctx, cancel, err := s.begin(ctx)
	if err != nil {
		return false, err
	}
	defer cancel()
	rr, err := s.c.Txn(cctx).Then(
		clientv3.OpGet(sk),
		clientv3.OpGet(hp, clientv3.WithPrefix(), clientv3.WithCountOnly()),
		clientv3.OpGet(bk, clientv3.WithCountOnly()),
	).Commit()
	if err != nil {
		return false, s.fail(ctx, "import read", err)
	}
	if rr.Responses[1].GetResponseRange().Count > 0 {
		return false, fmt.Errorf("%w: %s/%s already has a history here", binding.ErrExists, k.XAccountType, k.XAccountID)
	}
	if rr.Responses[2].GetResponseRange().Count > 0 {
		return false, fmt.Errorf("%w: %s/%s is bound here without a history; run verify", binding.ErrCorrupt, k.XAccountType, k.XAccountID)
	}
	var seq uint64
	var seqRev int64
	if kvs := rr.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		if seq, err = strconv.ParseUint(string(kvs[0].Value), 10, 64); err != nil {
			return false, fmt.Errorf("%w: sequence key: %v", binding.ErrCorrupt, err)
		}
		seqRev = kvs[0].ModRevision
	}
	var ops []clientv3.Op
	for _, ch := range history {
		seq++
		ch.Seq = seq
		cj, err := marshal(ch)
		if err != nil {
			return false, err
		}
		ops = append(ops, clientv3.OpPut(s.hkey(seq), cj), clientv3.OpPut(s.kkey(k, seq), ""))
		if ch.Mark != "" {
			ops = append(ops, clientv3.OpPut(s.mkey(ch.Mark), strconv.FormatUint(seq, 10)))
		}
	}
	if final != nil {
		bj, err := marshal(*final)
		if err != nil {
			return false, err
		}
		ops = append(ops, clientv3.OpPut(bk, bj), clientv3.OpPut(s.dkey(final.DomainID, k), ""))
	}
	ops = append(ops, clientv3.OpPut(sk, strconv.FormatUint(seq, 10)))
	tr, err := s.c.Txn(cctx).If(
		clientv3.Compare(clientv3.ModRevision(sk), "=", seqRev),
		clientv3.Compare(clientv3.CreateRevision(hp), "=", 0).WithPrefix(),
		clientv3.Compare(clientv3.CreateRevision(bk), "=", 0),
	).Then(ops...).Commit()
	if err != nil {
		return false, s.fail(ctx, "import", err)
	}
	return tr.Succeeded, nil
}

func (s *Store) ckey(name string) string { return s.p + "c/" + name }

// Cursor: see binding.CursorStore.
func (s *Store) Cursor(ctx context.Context, name string) (uint64, error) {
	if name == "" {
		return 0, fmt.Errorf("%w: cursor name is empty", binding.ErrInvalid)
	}
	cctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	resp, err := s.c.Get(cctx, s.ckey(name))
	if err != nil {
		return 0, s.fail(ctx, "cursor read", err)
	}
	if len(resp.Kvs) == 0 {
		return 0, nil
	}
	v, err := strconv.ParseUint(string(resp.Kvs[0].Value), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: cursor %q: %v", binding.ErrCorrupt, name, err)
	}
	return v, nil
}

// SetCursor: see binding.CursorStore.
func (s *Store) SetCursor(ctx context.Context, name string, seq uint64) error {
	if name == "" {
		return fmt.Errorf("%w: cursor name is empty", binding.ErrInvalid)
	}
	cctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if _, err := s.c.Put(cctx, s.ckey(name), strconv.FormatUint(seq, 10)); err != nil {
		return s.fail(ctx, "cursor write", err)
	}
	return nil
}

func marshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
