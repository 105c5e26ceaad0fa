// Package binding keeps partner-account ↔ Huawei-account bindings: the Store
// interface, its bbolt implementation, a conformance suite every backend
// passes, Huawei bind-notification decoding and verification, and
// import/export. It knows nothing of SAML requests or responses.
package binding

import (
	"context"
	"encoding/json"
	"errors"
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
}

// Errors at the package edge.
var (
	ErrNotFound = errors.New("binding not found")
	ErrInvalid  = errors.New("invalid binding")
	ErrLocked   = errors.New("store file is locked by another process")
)

// Store is the binding storage every backend implements and the conformance
// suite checks.
type Store interface {
	// Get returns the binding of a partner account, or ErrNotFound.
	Get(ctx context.Context, k Key) (Binding, error)
	// GetByDomainID returns every binding of a Huawei account.
	GetByDomainID(ctx context.Context, domainID string) ([]Binding, error)
	// Put creates or updates a binding and appends a history entry. It
	// reports changed=false, and appends nothing, when the stored binding
	// already has the same domain ID and name.
	Put(ctx context.Context, b Binding, actor string, extra json.RawMessage) (changed bool, err error)
	// Delete removes a binding and appends a history entry; changed=false when
	// there was none.
	Delete(ctx context.Context, k Key, src Source, actor string, extra json.RawMessage) (changed bool, err error)
	// List calls fn for every binding in key order; fn's error stops it.
	List(ctx context.Context, fn func(Binding) error) error
	// History returns a partner account's changes, oldest first.
	History(ctx context.Context, k Key) ([]Change, error)
	// Count is the number of bindings.
	Count(ctx context.Context) (int, error)
	Close() error
}

// Ephemeral is a store of single-use expiring records kept in the same file as
// the bindings: the SSO flow records and the request-ID replay entries. The
// values are opaque bytes to this package.
type Ephemeral interface {
	// Add stores value under (bucket, key) until expires. It returns
	// ErrExists when an unexpired record already holds the key.
	Add(ctx context.Context, bucket, key string, value []byte, expires time.Time) error
	// Get returns an unexpired record without consuming it, or ErrNotFound.
	Get(ctx context.Context, bucket, key string) ([]byte, error)
	// Take returns an unexpired record and deletes it (single use), or
	// ErrNotFound.
	Take(ctx context.Context, bucket, key string) ([]byte, error)
	// Spend marks (bucket, key) as used until expires, for replay checks:
	// ErrExists when an unexpired mark already holds the key. A mark has no
	// value and is not seen by Get or Take.
	Spend(ctx context.Context, bucket, key string, expires time.Time) error
	// Sweep deletes every record and mark expired at now and says how many.
	Sweep(ctx context.Context, now time.Time) (int, error)
}

// ErrExists is returned by Ephemeral.Add for a key already present.
var ErrExists = errors.New("record already exists")
