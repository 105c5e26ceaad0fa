package handoff

import (
	"context"
	"sync"
	"time"
)

// MemoryReplay is an in-process ReplayStore for tests, the demo and single-instance development.
// Production uses the bbolt-backed store so used ids survive restarts.
type MemoryReplay struct {
	Clock func() time.Time

	mu   sync.Mutex
	used map[string]time.Time
}

// MarkUsed records id until expires; a second call with the same live id returns ErrReplay.
func (m *MemoryReplay) MarkUsed(_ context.Context, id string, expires time.Time) error {
	now := time.Now()
	if m.Clock != nil {
		now = m.Clock()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used == nil {
		m.used = map[string]time.Time{}
	}
	if until, ok := m.used[id]; ok && now.Before(until) {
		return ErrReplay
	}
	m.purge(now)
	m.used[id] = expires
	return nil
}

// purge drops expired ids; ids are only added for verified tokens, so the map stays small.
func (m *MemoryReplay) purge(now time.Time) {
	for id, until := range m.used {
		if !now.Before(until) {
			delete(m.used, id)
		}
	}
}
