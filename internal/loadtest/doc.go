// Package loadtest owns the load generator behind `partneridp loadtest`:
// it starts serve child processes through a Deployment the command wires,
// puts generations of the mock Huawei IAM in Huawei's place, drives
// complete SSO flows as browsers, measures the SSO-core ceiling, the
// servers' CPU and memory from /proc, and writes the report. The run
// itself is Linux only; on other systems the package holds this comment.
package loadtest
