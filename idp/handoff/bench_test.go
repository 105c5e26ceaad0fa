package handoff

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// acceptAll lets one token be verified many times; the replay rule has its own tests.
type acceptAll struct{}

func (acceptAll) MarkUsed(context.Context, string, time.Time) error { return nil }

func benchVerify(b *testing.B, p testPlatform) {
	fx := loadFixture(b)
	v, _ := fx.verifier(t0)
	v.Replay = acceptAll{}
	tok := fx.signFor(b, p, claimsFor(p))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyEdDSA(b *testing.B) { benchVerify(b, pED) }
func BenchmarkVerifyHS256(b *testing.B) { benchVerify(b, pHS) }

// Baselines: golang-jwt's bare Parse of the same tokens. Verify's overhead is the ratio.
func benchBaseline(b *testing.B, p testPlatform, key func(fx *fixture) any) {
	fx := loadFixture(b)
	tok := fx.signFor(b, p, claimsFor(p))
	k := key(fx)
	parser := jwt.NewParser(jwt.WithTimeFunc(fixedClock(t0)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := parser.Parse(tok, func(*jwt.Token) (any, error) { return k, nil }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBaselineJWTParseEdDSA(b *testing.B) {
	benchBaseline(b, pED, func(fx *fixture) any { return fx.edKeys[0].Public })
}

func BenchmarkBaselineJWTParseHS256(b *testing.B) {
	benchBaseline(b, pHS, func(fx *fixture) any { return fx.hs })
}
