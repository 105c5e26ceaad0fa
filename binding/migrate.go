package binding

import (
	"context"
	"errors"
	"fmt"
	"reflect"
)

// MigrateReport says what Migrate did.
type MigrateReport struct {
	Accounts  int // accounts with a history in the source
	Copied    int // accounts whose history was copied
	Same      int // accounts whose history was already there, equal
	Differing int // accounts whose history differs in the destination
	Rebound   int // differing accounts set to the source's binding (Overwrite)
	Bindings  int // bindings in the source
}

// MigrateOptions control Migrate.
type MigrateOptions struct {
	// Overwrite sets a differing account's binding to the source's with an
	// Update (a new history entry by Actor); without it Migrate refuses.
	Overwrite bool
	Actor     string
	// Progress, when set, is called after each account.
	Progress func(done int)
}

// ErrMigrateDiffers: the destination holds a different history for some
// accounts and Overwrite was off; those accounts were left alone.
var ErrMigrateDiffers = errors.New("destination holds different data")

// Migrate copies every account's binding and history from src to dst,
// account by account, through dst's AccountImporter. It is idempotent: an
// account whose history is already in dst, equal, is left as it is. Then
// it verifies that every binding of src is in dst with the same domain.
func Migrate(ctx context.Context, src, dst Store, o MigrateOptions) (MigrateReport, error) {
	var r MigrateReport
	imp, ok := dst.(AccountImporter)
	if !ok {
		return r, fmt.Errorf("%w: the destination store cannot import histories", ErrInvalid)
	}
	var differing []Key
	seen := map[Key]bool{}
	for after := uint64(0); ; {
		page, err := src.Changes(ctx, after, 1000)
		if err != nil {
			return r, err
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].Seq
		for _, ch := range page {
			k := ch.Binding.Key
			if seen[k] {
				continue
			}
			seen[k] = true
			r.Accounts++
			d, err := migrateAccount(ctx, src, dst, imp, k)
			if err != nil {
				return r, fmt.Errorf("account %s/%s: %w", k.XAccountType, k.XAccountID, err)
			}
			switch d {
			case copied:
				r.Copied++
			case same:
				r.Same++
			case differs:
				r.Differing++
				differing = append(differing, k)
			}
			if o.Progress != nil {
				o.Progress(r.Accounts)
			}
		}
	}
	if len(differing) > 0 && !o.Overwrite {
		return r, fmt.Errorf("%w: %d account(s) have another history in the destination (first: %s/%s); nothing was changed for them; run again with --overwrite to set them to the source's binding",
			ErrMigrateDiffers, len(differing), differing[0].XAccountType, differing[0].XAccountID)
	}
	for _, k := range differing {
		changed, err := overwriteBinding(ctx, src, dst, k, o.Actor)
		if err != nil {
			return r, err
		}
		if changed {
			r.Rebound++
		}
	}
	return r, verifyMigrated(ctx, src, dst, &r)
}

type migrateResult int

const (
	copied migrateResult = iota
	same
	differs
)

func migrateAccount(ctx context.Context, src, dst Store, imp AccountImporter, k Key) (migrateResult, error) {
	h, err := src.History(ctx, k)
	if err != nil {
		return 0, err
	}
	err = imp.ImportAccount(ctx, k, h)
	if err == nil {
		return copied, nil
	}
	if !errors.Is(err, ErrExists) {
		return 0, err
	}
	there, err := dst.History(ctx, k)
	if err != nil {
		return 0, err
	}
	if sameHistory(h, there) {
		return same, nil
	}
	return differs, nil
}

// sameHistory compares everything but the sequence numbers, which each
// store assigns.
func sameHistory(a, b []Change) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		x.Seq, y.Seq = 0, 0
		if !x.Time.Equal(y.Time) || !x.Binding.CreatedAt.Equal(y.Binding.CreatedAt) || !x.Binding.UpdatedAt.Equal(y.Binding.UpdatedAt) {
			return false
		}
		x.Time = y.Time
		x.Binding.CreatedAt, x.Binding.UpdatedAt = y.Binding.CreatedAt, y.Binding.UpdatedAt
		if len(x.Extra) == 0 && len(y.Extra) == 0 {
			x.Extra, y.Extra = nil, nil
		}
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

func overwriteBinding(ctx context.Context, src, dst Store, k Key, actor string) (bool, error) {
	b, err := src.Get(ctx, k)
	if errors.Is(err, ErrNotFound) {
		return Delete(ctx, dst, k, SourceOperator, actor, nil)
	}
	if err != nil {
		return false, err
	}
	b.Source = SourceOperator
	return Put(ctx, dst, b, actor, nil)
}

func verifyMigrated(ctx context.Context, src, dst Store, r *MigrateReport) error {
	missing := 0
	var first Key
	err := src.List(ctx, Key{}, func(b Binding) error {
		r.Bindings++
		got, err := dst.Get(ctx, b.Key)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err != nil || got.DomainID != b.DomainID {
			if missing == 0 {
				first = b.Key
			}
			missing++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if missing > 0 {
		return fmt.Errorf("%w: after the copy %d binding(s) of the source differ in the destination (first: %s/%s)", ErrCorrupt, missing, first.XAccountType, first.XAccountID)
	}
	return nil
}
