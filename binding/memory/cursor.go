package memory

import (
	"context"
	"fmt"

	"github.com/partneridp/partneridp/binding"
)

var _ binding.CursorStore = (*Store)(nil)

// Cursor: see binding.CursorStore.
func (s *Store) Cursor(ctx context.Context, name string) (uint64, error) {
	if name == "" {
		return 0, fmt.Errorf("%w: cursor name is empty", binding.ErrInvalid)
	}
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	return s.cursors[name], nil
}

// SetCursor: see binding.CursorStore.
func (s *Store) SetCursor(ctx context.Context, name string, seq uint64) error {
	if name == "" {
		return fmt.Errorf("%w: cursor name is empty", binding.ErrInvalid)
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.cursors == nil {
		s.cursors = map[string]uint64{}
	}
	s.cursors[name] = seq
	return nil
}
