//go:build goexperiment.boringcrypto

package metadata

// boringBuild: built with GOEXPERIMENT=boringcrypto; crypto/rsa verifies
// through BoringSSL, which caches its key per *rsa.PublicKey.
const boringBuild = true
