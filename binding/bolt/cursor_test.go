package bolt_test

import (
	"path/filepath"
	"testing"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bindingtest"
	"github.com/partneridp/partneridp/binding/bolt"
)

func TestBoltCursorConformance(t *testing.T) {
	var path string
	bindingtest.RunCursor(t, func(t *testing.T) binding.Store {
		path = filepath.Join(t.TempDir(), "bindings.db")
		db, err := bolt.Open(path, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}, func(t *testing.T, s binding.Store) binding.Store {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(path, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}
