package samlreq

import "time"

// ReplayLifetime is the longest a spent request ID must stay spent from
// now: it is kept until IssueInstant + skew + ReplayMargin, and an
// IssueInstant may be up to skew in the future.
func (in *Intake) ReplayLifetime() time.Duration {
	return 2*in.skew() + ReplayMargin
}
