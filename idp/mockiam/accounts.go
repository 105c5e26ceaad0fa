package mockiam

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Errors of the account API and the bind form.
var (
	ErrDomainName    = errors.New("invalid Huawei account (domain) name")
	ErrDomainExists  = errors.New("a Huawei account with that name already exists")
	ErrDomainUnknown = errors.New("no Huawei account with that name")
	ErrDomainBound   = errors.New("that Huawei account is already bound to another user of this partner platform")
	ErrAlreadyBound  = errors.New("the partner user is already bound")
	ErrNotBound      = errors.New("the partner user is not bound")
	ErrAccountKey    = errors.New("invalid xAccountType or xUserId")
)

// Domain is a Huawei Cloud account as the mock keeps it.
type Domain struct {
	ID   string // 32 lower-case hex digits, like Huawei's domain_id
	Name string
}

// Account is a partner user bound to a Huawei account: what Huawei keeps
// after "创建客户" or after the first-login binding.
type Account struct {
	XAccountType string
	XUserID      string
	Domain       Domain
	BoundAt      time.Time
}

type accountKey struct{ xAccountType, xUserID string }

// domainNameRule is create-customer's domain_name rule (section 8.1): 5–32
// characters, a letter, '_' or '-' first, then letters, digits, '_' or '-'.
var domainNameRule = regexp.MustCompile(`^[a-zA-Z_-][a-zA-Z0-9_-]{4,31}$`)

// CheckDomainName applies Huawei's account-name rule.
func CheckDomainName(name string) error {
	if !domainNameRule.MatchString(name) {
		return fmt.Errorf("%w: %.64q must be 5-32 characters of letters, digits, '_' or '-', not starting with a digit", ErrDomainName, name)
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "op_") || strings.HasPrefix(lower, "shadow_") {
		return fmt.Errorf("%w: %q must not start with op_ or shadow_", ErrDomainName, name)
	}
	return nil
}

func checkAccountKey(xAccountType, xUserID string) error {
	if xAccountType == "" || len(xAccountType) > 64 {
		return fmt.Errorf("%w: xAccountType must be 1-64 characters", ErrAccountKey)
	}
	if xUserID == "" || len(xUserID) > 128 {
		return fmt.Errorf("%w: xUserId must be 1-128 characters (create-customer's xaccount_id limit)", ErrAccountKey)
	}
	return nil
}

// Accounts returns every bound partner user, sorted by xAccountType then
// xUserId.
func (m *IAM) Accounts() []Account {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Account, 0, len(m.accounts))
	for _, a := range m.accounts {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].XAccountType != out[j].XAccountType {
			return out[i].XAccountType < out[j].XAccountType
		}
		return out[i].XUserID < out[j].XUserID
	})
	return out
}

// Account returns the binding of one partner user.
func (m *IAM) Account(xAccountType, xUserID string) (Account, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.accounts[accountKey{xAccountType, xUserID}]
	return a, ok
}

// Domains returns every Huawei account the mock knows, sorted by name.
func (m *IAM) Domains() []Domain {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Domain, 0, len(m.domains))
	for _, d := range m.domains {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// CreateDomain creates a Huawei account with a new random domain ID.
func (m *IAM) CreateDomain(name string) (Domain, error) {
	if err := CheckDomainName(name); err != nil {
		return Domain{}, err
	}
	id, err := m.randomHex(16)
	if err != nil {
		return Domain{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.createDomainLocked(name, id)
}

func (m *IAM) createDomainLocked(name, id string) (Domain, error) {
	if _, ok := m.domains[strings.ToLower(name)]; ok {
		return Domain{}, fmt.Errorf("%w: %q", ErrDomainExists, name)
	}
	d := Domain{ID: id, Name: name}
	m.domains[strings.ToLower(name)] = d
	return d, nil
}

// SeedAccount binds a partner user to the Huawei account named domainName,
// creating that account when it does not exist: the effect of the partner's
// "创建客户" call, so the user can log in with isFirstLogin=false.
func (m *IAM) SeedAccount(xAccountType, xUserID, domainName string) (Account, error) {
	if err := checkAccountKey(xAccountType, xUserID); err != nil {
		return Account{}, err
	}
	if err := CheckDomainName(domainName); err != nil {
		return Account{}, err
	}
	id, err := m.randomHex(16)
	if err != nil {
		return Account{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.domains[strings.ToLower(domainName)]
	if !ok {
		if d, err = m.createDomainLocked(domainName, id); err != nil {
			return Account{}, err
		}
	}
	return m.bindLocked(xAccountType, xUserID, d)
}

// RemoveAccount unbinds a partner user without telling the partner; it
// reports whether there was a binding. The Huawei account stays.
func (m *IAM) RemoveAccount(xAccountType, xUserID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := accountKey{xAccountType, xUserID}
	_, ok := m.accounts[k]
	delete(m.accounts, k)
	return ok
}

// bindLocked binds a user to a domain: one Huawei account per partner user,
// and (an inference about Huawei) one partner user per Huawei account and
// platform.
func (m *IAM) bindLocked(xAccountType, xUserID string, d Domain) (Account, error) {
	k := accountKey{xAccountType, xUserID}
	if a, ok := m.accounts[k]; ok {
		return Account{}, fmt.Errorf("%w: %s/%s is bound to %q", ErrAlreadyBound, xAccountType, xUserID, a.Domain.Name)
	}
	for _, a := range m.accounts {
		if a.XAccountType == xAccountType && a.Domain.ID == d.ID {
			return Account{}, fmt.Errorf("%w: %q is bound to xUserId %q", ErrDomainBound, d.Name, a.XUserID)
		}
	}
	a := Account{XAccountType: xAccountType, XUserID: xUserID, Domain: d, BoundAt: m.now()}
	m.accounts[k] = a
	return a, nil
}

// bindNew creates a Huawei account (a random name when name is empty, as
// create-customer does) and binds the user to it.
func (m *IAM) bindNew(xAccountType, xUserID, name string) (Account, error) {
	if name == "" {
		suffix, err := m.randomHex(5)
		if err != nil {
			return Account{}, err
		}
		name = "hwmock_" + suffix
	}
	if err := CheckDomainName(name); err != nil {
		return Account{}, err
	}
	id, err := m.randomHex(16)
	if err != nil {
		return Account{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.accounts[accountKey{xAccountType, xUserID}]; ok {
		return Account{}, fmt.Errorf("%w: %s/%s", ErrAlreadyBound, xAccountType, xUserID)
	}
	d, err := m.createDomainLocked(name, id)
	if err != nil {
		return Account{}, err
	}
	return m.bindLocked(xAccountType, xUserID, d)
}

// bindExisting binds the user to a Huawei account the mock already knows.
func (m *IAM) bindExisting(xAccountType, xUserID, name string) (Account, error) {
	if err := CheckDomainName(name); err != nil {
		return Account{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.domains[strings.ToLower(name)]
	if !ok {
		return Account{}, fmt.Errorf("%w: %q (check the name, or create a new account instead)", ErrDomainUnknown, name)
	}
	return m.bindLocked(xAccountType, xUserID, d)
}

// unbind removes the binding and returns what it was.
func (m *IAM) unbind(xAccountType, xUserID string) (Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := accountKey{xAccountType, xUserID}
	a, ok := m.accounts[k]
	if !ok {
		return Account{}, fmt.Errorf("%w: %s/%s", ErrNotBound, xAccountType, xUserID)
	}
	delete(m.accounts, k)
	return a, nil
}
