// Package binding holds the storage contracts of partner-account ↔
// Huawei-account bindings (Store, Ephemeral, their types, errors and the
// validation every backend shares), Huawei bind-notification decoding and
// verification, and import/export. The backends are sub-packages (bolt,
// memory, etcd) and pass one conformance suite (bindingtest). It knows
// nothing of SAML requests or responses, and no storage engine.
package binding

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Key names a partner account: the platform ID Huawei assigned
// (xAccountType) and the customer's ID on that platform (xaccount_id).
type Key struct {
	XAccountType string `json:"xaccount_type"`
	XAccountID   string `json:"xaccount_id"`
}

// Source says where a binding came from.
type Source string

const (
	SourceNotification Source = "notification" // Huawei's signed bind notification
	SourceImport       Source = "import"       // the partner's create-customer results
	SourceOperator     Source = "operator"     // an operator's CLI command
	// SourceCreateCustomer: the partner's create-customer call made by the
	// bridge through Huawei's partner API.
	SourceCreateCustomer Source = "create_customer"
)

// Binding ties a partner account to a Huawei account (domain).
type Binding struct {
	Key
	DomainID   string    `json:"domain_id"`
	DomainName string    `json:"domain_name,omitempty"`
	Source     Source    `json:"source"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Action is what a history entry did.
type Action string

const (
	ActionBind   Action = "bind"
	ActionUnbind Action = "unbind"
)

// Change is one append-only history entry.
type Change struct {
	Seq     uint64          `json:"seq"`
	Time    time.Time       `json:"time"`
	Action  Action          `json:"action"`
	Binding Binding         `json:"binding"`
	Source  Source          `json:"source"`
	Actor   string          `json:"actor,omitempty"`
	Extra   json.RawMessage `json:"extra,omitempty"` // e.g. unknown notification fields
	// Mark is the applied-once mark of the update that made this change
	// (a bind notification's digest), empty for other changes.
	Mark string `json:"mark,omitempty"`
}

// Errors at the package edge. Backends wrap these, so callers (and the HTTP
// edge) test with errors.Is and never see an engine's own error types.
var (
	ErrNotFound = errors.New("binding not found")
	ErrInvalid  = errors.New("invalid binding")
	// ErrExists: Ephemeral.Add or Spend found an unexpired record or mark.
	ErrExists = errors.New("record already exists")
	// ErrApplied: an Update carried a mark that an earlier update already
	// recorded (an exact replay); nothing was changed.
	ErrApplied = errors.New("update already applied")
	// ErrUnavailable: the store cannot be reached or used now (a locked
	// file, an etcd cluster without a leader, a timeout). Nothing was
	// changed, or the change is reported unknown by ErrUncertain; retry
	// later.
	ErrUnavailable = errors.New("store unavailable")
	// ErrConflict: an Update lost its compare-and-swap more times than the
	// backend retries. Nothing was changed; retry.
	ErrConflict = errors.New("store update conflict")
	// ErrCorrupt: the store holds something this code did not write.
	ErrCorrupt = errors.New("store is inconsistent")
	// ErrSchema: the store was written by a newer partneridp, or is not a
	// partneridp store at all.
	ErrSchema = errors.New("store schema not supported")
)

// Store is the binding storage every backend implements and the conformance
// suite checks. Every method that writes is one atomic step: it reads,
// decides and writes in one transaction (or one compare-and-swap), so
// concurrent writers, in one process or several, see one serial order.
type Store interface {
	// Get returns the binding of a partner account, or ErrNotFound.
	Get(ctx context.Context, k Key) (Binding, error)
	// GetByDomainID returns every binding of a Huawei account, in key order.
	GetByDomainID(ctx context.Context, domainID string) ([]Binding, error)
	// Update is the one write of bindings. It calls decide with the
	// account's current binding (nil when it has none) and applies the
	// Edit it returns together with its history entry, atomically.
	// decide may run more than once (a backend retries a lost
	// compare-and-swap), so it must only compute. When mark is not empty it
	// is recorded permanently with the update, and an update whose mark is
	// already recorded changes nothing and returns an error wrapping
	// ErrApplied. decide's error is returned as is, with nothing changed.
	Update(ctx context.Context, k Key, mark string, decide Decide) (Result, error)
	// List calls fn for every binding whose key sorts after the key after
	// (the zero Key: from the first), in key order; fn's error stops it.
	// It is not a snapshot.
	List(ctx context.Context, after Key, fn func(Binding) error) error
	// History returns a partner account's changes, oldest first.
	History(ctx context.Context, k Key) ([]Change, error)
	// Changes returns up to limit history entries of every account with a
	// sequence number above after, in sequence order: the feed that
	// webhook delivery and replication read.
	Changes(ctx context.Context, after uint64, limit int) ([]Change, error)
	// Count is the number of bindings.
	Count(ctx context.Context) (int, error)
	// Ephemeral is the store of flow records and single-use marks that
	// lives beside the bindings.
	Ephemeral() Ephemeral
	// Limits are this backend's bounds, which the bridge checks its
	// settings against at start.
	Limits() Limits
	Close() error
}

// Decide computes an update from the current binding (nil when none).
type Decide func(cur *Binding) (Edit, error)

// Edit is what a Decide asks for. The zero Edit changes nothing.
type Edit struct {
	// Action: ActionBind stores DomainID and DomainName, ActionUnbind
	// removes the binding; empty leaves it as it is.
	Action     Action
	DomainID   string
	DomainName string
	Source     Source
	Actor      string
	Extra      json.RawMessage // recorded in history
}

// Result is what an Update did.
type Result struct {
	// Changed says a history entry was written.
	Changed bool
	// Binding is the binding after a bind (or the current one when nothing
	// changed), the removed one after an unbind; zero when there is none.
	Binding Binding
	// Before is the binding before the update, nil when there was none.
	Before *Binding
}

// Ephemeral is the store of single-use expiring records kept beside the
// bindings: the SSO flow records and the replay marks. Values are opaque
// bytes to this package.
type Ephemeral interface {
	// Add stores value under (bucket, key) until expires. It returns
	// ErrExists when an unexpired record already holds the key.
	Add(ctx context.Context, bucket, key string, value []byte, expires time.Time) error
	// Get returns an unexpired record without consuming it, or ErrNotFound.
	Get(ctx context.Context, bucket, key string) ([]byte, error)
	// Take returns an unexpired record and deletes it (single use), or
	// ErrNotFound. Concurrent Takes of one key succeed exactly once.
	Take(ctx context.Context, bucket, key string) ([]byte, error)
	// Spend marks (bucket, key) as used until expires, for replay checks:
	// ErrExists when an unexpired mark already holds the key. A mark has no
	// value and is not seen by Get or Take.
	Spend(ctx context.Context, bucket, key string, expires time.Time) error
	// Sweep deletes every record and mark expired at now and says how many.
	Sweep(ctx context.Context, now time.Time) (int, error)
}

// Limits a backend declares. The conformance suite checks that the backend
// keeps them, and the bridge checks its lifetimes against them at start.
type Limits struct {
	// MaxSpendLifetime is how far ahead a Spend may expire.
	MaxSpendLifetime time.Duration
	// MaxEphemeralValue is the largest value Add accepts, in bytes.
	MaxEphemeralValue int
}

// Optional operations. A backend implements those its engine supports;
// the CLI asks with a type assertion and says when one is missing.
type (
	// Backuper writes a consistent copy of the whole store to w.
	Backuper interface {
		Backup(ctx context.Context, w io.Writer) (int64, error)
	}
	// Verifier checks the store's indexes against its data.
	Verifier interface {
		Verify(ctx context.Context) (Report, error)
	}
	// Pinger reports whether the store can serve now (readiness).
	Pinger interface {
		Ping(ctx context.Context) error
	}
	// AccountImporter takes an account's whole history from another store
	// (store migrate): it writes the entries (new sequence numbers, the
	// same times, actors and marks) and the binding they end in, in one
	// step, only when the account has no history here; otherwise it
	// returns an error wrapping ErrExists and changes nothing.
	AccountImporter interface {
		ImportAccount(ctx context.Context, k Key, history []Change) error
	}
	// CursorStore keeps named positions in the Changes feed (the webhook
	// deliverer's: the last sequence number delivered) durably beside the
	// bindings. Cursor returns 0 for a name never set.
	CursorStore interface {
		Cursor(ctx context.Context, name string) (uint64, error)
		SetCursor(ctx context.Context, name string, seq uint64) error
	}
	// BatchUpdater applies many updates as one step (bulk import): each
	// item as Update would, in order, and all of them or none. Stores
	// whose transactions are small (etcd) do not offer it; callers then
	// use Update per item.
	BatchUpdater interface {
		UpdateBatch(ctx context.Context, items []BatchItem) ([]Result, error)
	}
	// Elector is implemented by stores several processes share: of the
	// processes that call Lead with the same name, one at a time leads.
	// Lead blocks until this one does (or ctx ends) and returns a context
	// that ends when the lead is lost, and the release. Without an Elector
	// the one process owning the store always leads.
	Elector interface {
		Lead(ctx context.Context, name string) (context.Context, func(), error)
	}
)

// BatchItem is one update of a BatchUpdater.
type BatchItem struct {
	Key    Key
	Mark   string
	Decide Decide
}

// CheckImportedHistory validates a history given to ImportAccount: every
// entry names k, binds or unbinds, and the entries alternate as a store
// writes them. It returns the binding the history ends in (nil: unbound).
func CheckImportedHistory(k Key, history []Change) (*Binding, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	if len(history) == 0 {
		return nil, fmt.Errorf("%w: an imported history of %s/%s is empty", ErrInvalid, k.XAccountType, k.XAccountID)
	}
	var cur *Binding
	for i, ch := range history {
		if ch.Binding.Key != k {
			return nil, fmt.Errorf("%w: imported history entry %d names another account", ErrInvalid, i)
		}
		if err := CheckMark(ch.Mark); err != nil {
			return nil, err
		}
		if err := ValidateChangeInfo(ch.Actor, ch.Extra); err != nil {
			return nil, err
		}
		switch ch.Action {
		case ActionBind:
			if err := ch.Binding.Validate(); err != nil {
				return nil, err
			}
			b := ch.Binding
			cur = &b
		case ActionUnbind:
			if cur == nil {
				return nil, fmt.Errorf("%w: imported history entry %d unbinds an account that is not bound", ErrInvalid, i)
			}
			cur = nil
		default:
			return nil, fmt.Errorf("%w: imported history entry %d has action %.20q", ErrInvalid, i, string(ch.Action))
		}
	}
	return cur, nil
}
