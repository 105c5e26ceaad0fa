//go:build goexperiment.boringcrypto

package metadata

import (
	"crypto/boring"
	"testing"
)

// TestBoringBuild: in a GOEXPERIMENT=boringcrypto build, crypto/rsa runs on
// BoringSSL and verifyPKCS1v15 leaves every verification to it.
func TestBoringBuild(t *testing.T) {
	if !boring.Enabled() {
		t.Fatal("built with boringcrypto but crypto/boring is not enabled")
	}
	if !boringBuild {
		t.Fatal("boringBuild is false in a boringcrypto build: the math/big fast path would bypass BoringSSL")
	}
}
