package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nonrootUID is distroless "nonroot", the user the Dockerfile runs as.
const nonrootUID = 65532

// TestContainerLayout builds the image's layout without Docker (there is no
// engine here): the static binary in usr/local/bin, the config and keys in a
// read-only etc/partneridp, a writable var/lib/partneridp as the volume and
// working directory, and the Dockerfile's ENV. It starts `serve` as the
// image does (as uid 65532 when the test runs as root), waits for /healthz,
// and runs `healthcheck`, the image's HEALTHCHECK.
func TestContainerLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH")
	}
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "USER 65532:65532", `VOLUME ["/var/lib/partneridp"]`,
		"PARTNERIDP_CONFIG=/etc/partneridp/partneridp.yaml", "PARTNERIDP_DATA_DIR=/var/lib/partneridp", `"healthcheck"`} {
		if !bytes.Contains(dockerfile, []byte(want)) {
			t.Errorf("the Dockerfile lacks %s", want)
		}
	}

	// The build context leaves out keys, stores, demo data and local configs.
	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"**/*.key", "**/*.pem", "**/*.secret", "**/*.db", "partneridp.yaml", "partneridp-data/", "partneridp-demo/", "mock-huawei-data/"} {
		if !strings.Contains("\n"+string(ignore)+"\n", "\n"+want+"\n") {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}

	root := t.TempDir()
	bin := filepath.Join(root, "usr/local/bin/partneridp")
	build := exec.Command(goTool, "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}

	// etc/partneridp: the deployment brokenDeployment writes, unbroken,
	// whose data_dir ("data", beside the config) the ENV moves to the volume.
	src := filepath.Dir(brokenDeployment(t, nil))
	etc := filepath.Join(root, "etc/partneridp")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	asRoot := os.Geteuid() == 0
	for _, e := range entries {
		st, _ := e.Info()
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(etc, e.Name())
		if err := os.WriteFile(dst, data, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		if asRoot && st.Mode().Perm() == 0o600 {
			// The documented ownership: private keys belong to 65532.
			if err := os.Chown(dst, nonrootUID, nonrootUID); err != nil {
				t.Fatal(err)
			}
		}
	}
	volume := filepath.Join(root, "var/lib/partneridp")
	if err := os.MkdirAll(volume, 0o700); err != nil {
		t.Fatal(err)
	}
	if asRoot {
		if err := os.Chown(volume, nonrootUID, nonrootUID); err != nil {
			t.Fatal(err)
		}
		// t.TempDir's folders (and anything made under a 077 umask) are
		// 0700: let 65532 reach the layout and run the binary, as in the image.
		for _, d := range []string{"usr", "usr/local", "usr/local/bin", "usr/local/bin/partneridp", "var", "var/lib", "etc"} {
			if err := os.Chmod(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for d := root; d != filepath.Dir(d); d = filepath.Dir(d) {
			if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o005 != 0o005 {
				os.Chmod(d, st.Mode().Perm()|0o005)
			}
			if d == os.TempDir() {
				break
			}
		}
	}
	if err := os.Chmod(etc, 0o555); err != nil { // mounted read-only
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(etc, 0o755) })

	port := freePort(t)
	env := []string{
		"PATH=/usr/bin:/bin",
		"PARTNERIDP_CONFIG=/etc/partneridp/partneridp.yaml",
		"PARTNERIDP_DATA_DIR=/var/lib/partneridp",
		"PARTNERIDP_LISTEN=127.0.0.1:" + port,
	}
	// Paths as in the image, rooted in the temporary folder.
	rebase := func(s string) string {
		s = strings.ReplaceAll(s, "=/etc/", "="+root+"/etc/")
		return strings.ReplaceAll(s, "=/var/", "="+root+"/var/")
	}
	for i := range env {
		env[i] = rebase(env[i])
	}
	command := func(args ...string) *exec.Cmd {
		c := exec.Command(bin, args...)
		c.Dir = volume
		c.Env = env
		if asRoot {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nonrootUID, Gid: nonrootUID}}
		}
		return c
	}

	var logs bytes.Buffer
	serve := command("serve")
	serve.Stdout, serve.Stderr = &logs, &logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve.Wait() }()
	t.Cleanup(func() {
		serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			serve.Process.Kill()
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%s/healthz", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 200 from %s within 30 s:\n%s", url, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := command("healthcheck").CombinedOutput(); err != nil || !strings.Contains(string(out), "/healthz: 200") {
		t.Errorf("healthcheck: %v\n%s", err, out)
	}
	if out, err := command("healthcheck", "--ready").CombinedOutput(); err != nil {
		t.Errorf("healthcheck --ready: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(volume, "partneridp.db")); err != nil {
		t.Errorf("the store is not on the volume: %v", err)
	}
	if asRoot {
		st, err := os.Stat(filepath.Join(volume, "partneridp.db"))
		if err == nil && st.Sys().(*syscall.Stat_t).Uid != nonrootUID {
			t.Errorf("the store belongs to uid %d, want %d", st.Sys().(*syscall.Stat_t).Uid, nonrootUID)
		}
	} else {
		t.Logf("not root: serve ran as uid %d, not %d", os.Geteuid(), nonrootUID)
	}
	serve.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Errorf("serve did not stop on SIGTERM")
	}
	// After the stop: healthcheck fails.
	if err := command("healthcheck", "--timeout", "1s").Run(); err == nil {
		t.Errorf("healthcheck passed with serve stopped")
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
