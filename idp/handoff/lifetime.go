package handoff

import "time"

// ReplayLifetime is the longest a spent token ID must stay spent from
// now: a token is accepted while exp + leeway is ahead, exp is at most
// iat + the platform's cap, and iat at most leeway in the future.
func (v *Verifier) ReplayLifetime() time.Duration {
	longest := time.Duration(0)
	for i := range v.Platforms {
		longest = max(longest, v.Platforms[i].maxLifetime())
	}
	return longest + 2*v.leeway()
}
