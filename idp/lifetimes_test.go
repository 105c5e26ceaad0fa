package idp

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
)

// shortStore declares a spend lifetime shorter than the bridge needs.
type shortStore struct {
	binding.Store
	max time.Duration
}

func (s shortStore) Limits() binding.Limits {
	l := s.Store.Limits()
	l.MaxSpendLifetime = s.max
	return l
}

// The replay lifetimes are checked against the store's declared limit at
// start, naming the setting to change.
func TestLifetimesCheckedAgainstStore(t *testing.T) {
	e := newEnv(t, envOptions{noTLS: true})
	cases := []struct {
		max  time.Duration
		want []string
	}{
		{time.Hour, nil},
		{6*time.Minute + 30*time.Second, []string{"lower idp.clock_skew"}},
		{5 * time.Minute, []string{"lower idp.clock_skew", "lower platforms[].max_token_lifetime"}},
	}
	for _, tc := range cases {
		cfg := e.cfg
		cfg.Bindings = shortStore{Store: e.db, max: tc.max}
		_, err := New(cfg)
		var ce *ConfigError
		if tc.want == nil {
			if err != nil {
				t.Errorf("limit %s: %v", tc.max, err)
			}
			continue
		}
		if !errors.As(err, &ce) {
			t.Fatalf("limit %s: err=%v, want a ConfigError", tc.max, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("limit %s: %v does not say %q", tc.max, err, w)
			}
		}
	}
}
