package binding

import (
	"fmt"
	"strings"
)

// Report is what a Verifier found.
type Report struct {
	SchemaVersion int
	Bindings      int // bindings
	DomainIndex   int // entries in the index by domain
	History       int // history entries
	Ephemeral     int // ephemeral records and marks, expired or not
	// Problems lists each inconsistency found (at most MaxProblems); empty
	// when the store is sound.
	Problems []string
}

// OK says the store passed every check.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// MaxProblems bounds Report.Problems.
const MaxProblems = 100

// Problem records one inconsistency.
func (r *Report) Problem(format string, args ...any) {
	if len(r.Problems) < MaxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// Err is nil for a sound store, else ErrCorrupt with the first problems.
func (r Report) Err() error {
	if r.OK() {
		return nil
	}
	shown := r.Problems
	more := ""
	if len(shown) > 5 {
		more = fmt.Sprintf(" (and %d more)", len(shown)-5)
		shown = shown[:5]
	}
	return fmt.Errorf("%w: %d problem(s): %s%s; restore a backup or repair from history", ErrCorrupt, len(r.Problems), strings.Join(shown, "; "), more)
}
