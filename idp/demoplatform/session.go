package demoplatform

import (
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"time"
)

// maxSessions bounds the in-memory session table; the demo has a handful.
const maxSessions = 10000

// session is one browser logged in on the platform.
type session struct {
	ID         string
	XAccountID string
	CSRF       string
	Expires    time.Time
}

type sessions struct {
	rand  io.Reader
	clock func() time.Time

	mu   sync.Mutex
	byID map[string]*session
}

func newSessions(r io.Reader, clock func() time.Time) *sessions {
	return &sessions{rand: r, clock: clock, byID: map[string]*session{}}
}

func (s *sessions) randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", fmt.Errorf("demoplatform: random source: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// start logs xAccountID in and returns the new session.
func (s *sessions) start(xAccountID string) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := s.randomHex(32)
	if err != nil {
		return nil, err
	}
	csrf, err := s.randomHex(16)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	s.pruneLocked(now)
	if len(s.byID) >= maxSessions {
		return nil, fmt.Errorf("demoplatform: %d sessions are open; try again later", maxSessions)
	}
	ses := &session{ID: id, XAccountID: xAccountID, CSRF: csrf, Expires: now.Add(SessionLifetime)}
	s.byID[id] = ses
	return ses, nil
}

// get returns the live session with id, or nil.
func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ses := s.byID[id]
	if ses == nil || !s.clock().Before(ses.Expires) {
		return nil
	}
	return ses
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}

func (s *sessions) pruneLocked(now time.Time) {
	for id, ses := range s.byID {
		if !now.Before(ses.Expires) {
			delete(s.byID, id)
		}
	}
}
