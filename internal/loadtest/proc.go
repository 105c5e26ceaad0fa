//go:build linux

package loadtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procSample is the server's memory at a moment of the load: the resident
// set and its two parts, anonymous (Go heap, stacks) and file-backed (the
// store's memory map and the binary).
type procSample struct {
	At       time.Duration
	RSSKiB   int64
	AnonKiB  int64
	FileKiB  int64
	CPUTicks int64 // the process's utime+stime; -1 when unread
}

// readGroupMemory is readProcMemory summed over the instances.
func readGroupMemory(pids []int) (procSample, error) {
	var sum procSample
	for _, pid := range pids {
		m, err := readProcMemory(pid)
		if err != nil {
			return sum, err
		}
		sum.RSSKiB += m.RSSKiB
		sum.AnonKiB += m.AnonKiB
		sum.FileKiB += m.FileKiB
	}
	return sum, nil
}

// readGroupCPUTicks is readProcCPUTicks summed over the instances.
func readGroupCPUTicks(pids []int) (int64, error) {
	var sum int64
	for _, pid := range pids {
		t, err := readProcCPUTicks(pid)
		if err != nil {
			return 0, err
		}
		sum += t
	}
	return sum, nil
}

// readProcMemory reads VmRSS, RssAnon and RssFile of /proc/<pid>/status.
func readProcMemory(pid int) (procSample, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, err
	}
	var s procSample
	for _, f := range []struct {
		name string
		to   *int64
	}{{"VmRSS", &s.RSSKiB}, {"RssAnon", &s.AnonKiB}, {"RssFile", &s.FileKiB}} {
		if *f.to, err = parseProcStatusKiB(data, f.name); err != nil {
			return s, err
		}
	}
	return s, nil
}

// ReadProcStatusKiB reads a "<field>: <n> kB" line of /proc/<pid>/status.
func ReadProcStatusKiB(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStatusKiB(data, field)
}

// errProcFormat is returned for a /proc file that is not as documented in
// proc(5).
var errProcFormat = errors.New("unexpected /proc format")

// maxProcValue bounds each number read from /proc so that sums of them
// cannot overflow: 2^48 ticks at 100 Hz are 89,000 years of CPU time.
const maxProcValue = 1 << 48

func parseProcValue(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0 && n <= maxProcValue
}

// parseProcStatusKiB finds "<field>:" in /proc/<pid>/status and returns its
// value in KiB.
func parseProcStatusKiB(data []byte, field string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("%w: %s is %q, want \"<n> kB\"", errProcFormat, field, strings.TrimSpace(rest))
		}
		n, ok := parseProcValue(fields[0])
		if !ok {
			return 0, fmt.Errorf("%w: %s value %q is not a size", errProcFormat, field, fields[0])
		}
		return n, nil
	}
	return 0, fmt.Errorf("%w: no %s line", errProcFormat, field)
}

// readProcCPUTicks is utime+stime of /proc/<pid>/stat, in clock ticks.
func readProcCPUTicks(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStatCPUTicks(data)
}

// parseProcStatCPUTicks reads utime and stime (fields 14 and 15) of
// /proc/<pid>/stat. The command name (field 2) is in parentheses and may
// hold spaces and parentheses itself, so fields are counted after the last
// ')'.
func parseProcStatCPUTicks(data []byte) (int64, error) {
	s := string(data)
	end := strings.LastIndexByte(s, ')')
	if end < 0 || !strings.Contains(s[:end], "(") {
		return 0, fmt.Errorf("%w: /proc/<pid>/stat has no (comm) field", errProcFormat)
	}
	fields := strings.Fields(s[end+1:])
	// fields[0] is field 3 (state): utime is field 14, stime 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("%w: /proc/<pid>/stat has %d fields after (comm), want at least 13", errProcFormat, len(fields))
	}
	var total int64
	for _, f := range fields[11:13] {
		n, ok := parseProcValue(f)
		if !ok {
			return 0, fmt.Errorf("%w: CPU time %q is not a tick count", errProcFormat, f)
		}
		total += n
	}
	return total, nil
}

// readSystemCPUTicks is the busy and total time of all CPUs from /proc/stat.
func readSystemCPUTicks() (busy, total int64, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseSystemCPUTicks(data)
}

// parseSystemCPUTicks reads the first "cpu " line of /proc/stat: user nice
// system idle iowait irq softirq steal ...; idle and iowait are not busy.
// guest time is already inside user, so only the first eight count.
func parseSystemCPUTicks(data []byte) (busy, total int64, err error) {
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, fmt.Errorf("%w: /proc/stat does not start with a \"cpu\" line", errProcFormat)
	}
	for i, f := range fields[1:min(len(fields), 9)] {
		n, ok := parseProcValue(f)
		if !ok {
			return 0, 0, fmt.Errorf("%w: /proc/stat cpu value %q is not a tick count", errProcFormat, f)
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, nil
}

// pin restricts a process (0: this one) to cpus; no cpus: nothing.
func (r *loadRun) pin(pid int, cpus []int) error {
	if len(cpus) == 0 {
		return nil
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(pid, &set); err != nil {
		return fmt.Errorf("loadtest: pin pid %d to CPUs %v: %w", pid, cpus, err)
	}
	return nil
}
