// Package loadtest owns the load generator behind `partneridp loadtest`:
// it starts serve child processes through a Deployment the command wires,
// puts generations of the mock Huawei IAM in Huawei's place, drives
// complete SSO flows as browsers, measures the SSO-core ceiling, the
// servers' CPU and memory from /proc, and writes the report. The run
// itself is Linux only; on other systems the package holds this comment.
package loadtest

// XAccountType and PlatformURL (on every system, for the tests that
// share them) are what the servers' config names; no
// platform runs at PlatformURL, so a deferral to its login is an error.
const (
	XAccountType = "loadtest_IDP"
	PlatformURL  = "http://platform.loadtest.invalid"
)
