package idp

import "github.com/partneridp/partneridp/idp/samlreq"

// checkLifetimes is the one place where the lifetimes that must agree are
// compared, at start: a spent AuthnRequest ID or token ID must stay spent
// as long as the message could be accepted, and the store must keep a mark
// that long. Each problem names the setting to change.
func (cfg *Config) checkLifetimes(p *problems) {
	if cfg.Bindings == nil || cfg.Intake == nil || cfg.Verifier == nil {
		return
	}
	l := cfg.Bindings.Limits()
	if d := cfg.Intake.ReplayLifetime(); d > l.MaxSpendLifetime {
		p.add("the clock skew keeps AuthnRequest IDs spent for %s (2 × skew + %s), longer than the store keeps a mark (%s): lower idp.clock_skew",
			d, samlreq.ReplayMargin, l.MaxSpendLifetime)
	}
	if d := cfg.Verifier.ReplayLifetime(); d > l.MaxSpendLifetime {
		p.add("handoff tokens stay acceptable for up to %s (max token lifetime + 2 × leeway), longer than the store keeps a mark (%s): lower platforms[].max_token_lifetime",
			d, l.MaxSpendLifetime)
	}
}
