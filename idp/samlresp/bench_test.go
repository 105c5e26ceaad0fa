//go:build unix

package samlresp

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time. Benchmarks report it per
// op as cpu-ns/op beside the wall-clock ns/op: on a shared, loaded machine
// the wall clock also counts time spent waiting for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loopWithCPU(b *testing.B, op func() error) {
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkBuild is the SSO-core figure: CPU time to build and sign one
// Response (assertion signed, RSA-2048). Compare it with BenchmarkRSASign,
// the bare signature every response needs, measured in the same run.
func BenchmarkBuild(b *testing.B) {
	key := loadKey(b, "idp-current")
	builder := &Builder{IssuerEntityID: testIdP, Key: key, Clock: func() time.Time { return fixedNow }}
	req, u := huaweiRequest(), testUser()
	loopWithCPU(b, func() error {
		_, err := builder.Build(req, u)
		return err
	})
}

// BenchmarkBuildSignResponse signs the Response as well: two RSA signatures.
func BenchmarkBuildSignResponse(b *testing.B) {
	key := loadKey(b, "idp-current")
	builder := &Builder{IssuerEntityID: testIdP, Key: key, SignResponse: true, Clock: func() time.Time { return fixedNow }}
	req, u := huaweiRequest(), testUser()
	loopWithCPU(b, func() error {
		_, err := builder.Build(req, u)
		return err
	})
}

// BenchmarkRSASign is the baseline: one RSA-2048 PKCS#1 v1.5 signature of a
// SHA-256 digest with the same key.
func BenchmarkRSASign(b *testing.B) {
	key := loadKey(b, "idp-current")
	digest := sha256.Sum256([]byte("baseline"))
	loopWithCPU(b, func() error {
		_, err := rsa.SignPKCS1v15(nil, key.Key, crypto.SHA256, digest[:])
		return err
	})
}
