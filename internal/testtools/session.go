package testtools

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// One `go test` run is one session: the go command runs each package's test
// binary as its child, so the go command's PID and start time name a folder
// where every package leaves its skipped cross-checks for SummaryMain. This
// works on Linux (it reads /proc); elsewhere each package's summary is only
// in its -v output.

// goCommand returns the parent's PID and start time (clock ticks after
// boot), or ok false when /proc cannot tell.
func goCommand() (pid int, start string, ok bool) {
	pid = os.Getppid()
	_, start, ok = procStat(pid)
	return pid, start, ok
}

// procStat reads the parent PID and the start time of process pid.
func procStat(pid int) (ppid int, start string, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", false
	}
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, "", false
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[19] field 22 (starttime).
	if len(f) < 20 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[19], err == nil
}

const sessionPrefix = "partneridp-testtools-"

// sessionDir is the folder of this go test run, or "".
func sessionDir() string {
	pid, start, ok := goCommand()
	if !ok {
		return ""
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("%s%d-%s", sessionPrefix, pid, start))
}

// record writes this package's skipped cross-checks into the session
// folder as lines "tool<TAB>test".
func record(pkg string) {
	dir := sessionDir()
	if dir == "" || os.MkdirAll(dir, 0o700) != nil {
		return
	}
	removeStaleSessions()
	var b strings.Builder
	mu.Lock()
	for tool, names := range skipped {
		for _, n := range slices.Compact(slices.Sorted(slices.Values(names))) {
			fmt.Fprintf(&b, "%s\t%s\t%s\n", tool, pkg, n)
		}
	}
	mu.Unlock()
	name := strings.NewReplacer("/", "_", ".", "_").Replace(pkg) + ".txt"
	_ = os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o600)
}

// removeStaleSessions removes the folders of go commands that have ended
// (a run of only some packages never reaches SummaryMain).
func removeStaleSessions() {
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), sessionPrefix+"*"))
	for _, d := range old {
		pidStart := strings.TrimPrefix(filepath.Base(d), sessionPrefix)
		pidText, start, _ := strings.Cut(pidStart, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil {
			continue
		}
		if _, s, ok := procStat(pid); !ok || s != start {
			os.RemoveAll(d)
		}
	}
}

// SummaryMain is TestMain for the one package that `go test ./...` runs
// last (metadata/xmlsectest/summary; its test checks that it is last). After
// its own tests it waits until the go command has no other child process
// (every other package's tests have ended), then prints one summary of the
// skipped cross-checks of the whole run, with the apt-get line, on the go
// command's terminal, just before the run's last "ok" line.
func SummaryMain(m *testing.M) {
	code := m.Run()
	dir := sessionDir()
	if dir != "" {
		waitForSiblings(5 * time.Minute)
		if s := sessionSummary(dir); s != "" {
			fmt.Print(s)
			if w := goCommandTerminal(); w != nil {
				fmt.Fprint(w, s)
				w.Close()
			}
		}
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// waitForSiblings waits until the go command has had no child but this
// process for a moment (compilers, linkers and test binaries are its
// children), or until limit.
func waitForSiblings(limit time.Duration) {
	goPID, self := os.Getppid(), os.Getpid()
	deadline := time.Now().Add(limit)
	quiet := 0
	for quiet < 3 && time.Now().Before(deadline) {
		busy := false
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			pid, err := strconv.Atoi(filepath.Base(p))
			if err != nil || pid == self {
				continue
			}
			if ppid, _, ok := procStat(pid); ok && ppid == goPID {
				busy = true
				break
			}
		}
		if busy {
			quiet = 0
		} else {
			quiet++
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sessionSummary merges what the packages of this run recorded.
func sessionSummary(dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	tests := map[string][]string{} // tool -> "pkg test"
	pkgs := map[string]map[string]bool{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			parts := strings.SplitN(sc.Text(), "\t", 3)
			if len(parts) != 3 {
				continue
			}
			tool, pkg, test := parts[0], parts[1], parts[2]
			tests[tool] = append(tests[tool], pkg+" "+test)
			if pkgs[tool] == nil {
				pkgs[tool] = map[string]bool{}
			}
			pkgs[tool][pkg] = true
		}
		fh.Close()
	}
	if len(tests) == 0 {
		return ""
	}
	tools := make([]string, 0, len(tests))
	for t := range tests {
		tools = append(tools, t)
	}
	slices.Sort(tools)
	var b strings.Builder
	b.WriteString("--- external cross-checks skipped in this run (the project's own assertions all ran):\n")
	for _, t := range tools {
		var ps []string
		for p := range pkgs[t] {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		fmt.Fprintf(&b, "    %-16s %3d test(s) in %s\n", t, len(tests[t]), strings.Join(ps, " "))
	}
	fmt.Fprintf(&b, "    to run them: %s\n    (go test -v names each test; with CI=true a missing tool fails the run)\n", AptLine)
	return b.String()
}
