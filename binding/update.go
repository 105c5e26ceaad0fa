package binding

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// MaxMarkLen bounds an update's applied-once mark.
const MaxMarkLen = 128

// CheckMark validates an Update's mark: empty (none), or printable ASCII of
// at most MaxMarkLen bytes.
func CheckMark(mark string) error {
	if len(mark) > MaxMarkLen {
		return fmt.Errorf("%w: mark is %d bytes, more than the %d allowed", ErrInvalid, len(mark), MaxMarkLen)
	}
	for i := 0; i < len(mark); i++ {
		if mark[i] <= 0x20 || mark[i] >= 0x7f {
			return fmt.Errorf("%w: mark has a byte that is not printable ASCII at %d", ErrInvalid, i)
		}
	}
	return nil
}

// Step is what one Edit does to an account, computed by Apply inside a
// backend's transaction.
type Step struct {
	// Next is the binding to store; nil with Delete set removes it.
	Next   *Binding
	Delete bool
	// Change is the history entry to append (its Seq is the backend's to
	// set); nil when nothing changes.
	Change *Change
	Result Result
}

// Apply runs decide on cur and turns its Edit into a Step at now: the one
// rule of what bind and unbind mean, shared by every backend so they cannot
// drift. A bind of the same domain ID and name changes nothing; a bind keeps
// the first CreatedAt; an unbind of an account without a binding changes
// nothing. The Edit is validated and its Extra copied compact.
func Apply(k Key, cur *Binding, mark string, decide Decide, now time.Time) (Step, error) {
	var before *Binding
	if cur != nil {
		c := *cur
		before = &c
	}
	e, err := decide(before)
	if err != nil {
		return Step{}, err
	}
	st := Step{Result: Result{Before: before}}
	if before != nil {
		st.Result.Binding = *before
	}
	switch e.Action {
	case "":
		return st, nil
	case ActionBind:
		b := Binding{Key: k, DomainID: e.DomainID, DomainName: e.DomainName, Source: e.Source, CreatedAt: now, UpdatedAt: now}
		if err := b.Validate(); err != nil {
			return Step{}, err
		}
		extra, err := normalizeExtra(e.Actor, e.Extra)
		if err != nil {
			return Step{}, err
		}
		if before != nil {
			if before.DomainID == b.DomainID && before.DomainName == b.DomainName {
				return st, nil
			}
			b.CreatedAt = before.CreatedAt
		}
		st.Next = &b
		st.Change = &Change{Time: now, Action: ActionBind, Binding: b, Source: e.Source, Actor: e.Actor, Extra: extra, Mark: mark}
		st.Result = Result{Changed: true, Binding: b, Before: before}
		return st, nil
	case ActionUnbind:
		if err := e.Source.Validate(); err != nil {
			return Step{}, err
		}
		extra, err := normalizeExtra(e.Actor, e.Extra)
		if err != nil {
			return Step{}, err
		}
		if before == nil {
			return st, nil
		}
		st.Delete = true
		st.Change = &Change{Time: now, Action: ActionUnbind, Binding: *before, Source: e.Source, Actor: e.Actor, Extra: extra, Mark: mark}
		st.Result = Result{Changed: true, Binding: *before, Before: before}
		return st, nil
	}
	return Step{}, fmt.Errorf("%w: action %.20q is neither bind nor unbind", ErrInvalid, string(e.Action))
}

// normalizeExtra validates the change info and keeps a compact private copy
// of extra (the caller's slice may be reused).
func normalizeExtra(actor string, extra json.RawMessage) (json.RawMessage, error) {
	if err := ValidateChangeInfo(actor, extra); err != nil {
		return nil, err
	}
	if extra == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, extra); err != nil {
		return nil, fmt.Errorf("%w: extra: %v", ErrInvalid, err)
	}
	return buf.Bytes(), nil
}

// Put creates or updates a binding: one Update that changes nothing, and
// reports changed=false, when the stored binding already has the same
// domain ID and name. The store sets CreatedAt and UpdatedAt.
func Put(ctx context.Context, s Store, b Binding, actor string, extra json.RawMessage) (changed bool, err error) {
	if err := b.Validate(); err != nil {
		return false, err
	}
	if err := ValidateChangeInfo(actor, extra); err != nil {
		return false, err
	}
	res, err := s.Update(ctx, b.Key, "", bindTo(b, actor, extra))
	return res.Changed, err
}

// bindTo is the decision of Put: bind to b's domain, whatever is there.
func bindTo(b Binding, actor string, extra json.RawMessage) Decide {
	return func(*Binding) (Edit, error) {
		return Edit{Action: ActionBind, DomainID: b.DomainID, DomainName: b.DomainName, Source: b.Source, Actor: actor, Extra: extra}, nil
	}
}

// Delete removes a binding with a history entry; changed=false when there
// was none.
func Delete(ctx context.Context, s Store, k Key, src Source, actor string, extra json.RawMessage) (changed bool, err error) {
	if err := k.Validate(); err != nil {
		return false, err
	}
	if err := src.Validate(); err != nil {
		return false, err
	}
	if err := ValidateChangeInfo(actor, extra); err != nil {
		return false, err
	}
	res, err := s.Update(ctx, k, "", func(*Binding) (Edit, error) {
		return Edit{Action: ActionUnbind, Source: src, Actor: actor, Extra: extra}, nil
	})
	return res.Changed, err
}

// RunSweeper sweeps expired ephemeral records every interval until ctx ends
// (then it returns nil) or a sweep fails (then it returns the error).
func RunSweeper(ctx context.Context, e Ephemeral, interval time.Duration, clock func() time.Time) error {
	if interval <= 0 {
		return fmt.Errorf("%w: sweep interval must be positive, got %s", ErrInvalid, interval)
	}
	if clock == nil {
		clock = time.Now
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := e.Sweep(ctx, clock()); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("sweep expired ephemeral records: %w", err)
			}
		}
	}
}
