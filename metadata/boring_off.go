//go:build !goexperiment.boringcrypto

package metadata

// boringBuild: built with GOEXPERIMENT=boringcrypto (see boring_on.go).
const boringBuild = false
