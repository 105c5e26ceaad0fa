//go:build unix

package idp

import (
	"syscall"
	"time"
)

// cpuTime is the process's user+system CPU time. Benchmarks report it per
// op as cpu-ns/op beside the wall-clock ns/op: on a shared, loaded machine
// the wall clock also counts time spent waiting for a core, and GC work on
// the other core is CPU the wall clock does not show.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
