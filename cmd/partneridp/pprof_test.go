package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Go's profiler is on the admin listener only, and only with admin.pprof:
// true; the public listener never serves it.
func TestServePProfOnAdminListenerOnly(t *testing.T) {
	cases := []struct {
		name      string
		pprof     bool
		wantAdmin int // status of /debug/pprof/ paths on the admin listener
	}{
		{"off by default", false, http.StatusNotFound},
		{"admin.pprof: true", true, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := serveConfig(t, "store: {path: bridge.db}\n")
			cfg.Admin.PProf = tc.pprof
			ctx, cancel := context.WithCancel(context.Background())
			ready, adminAddr, done := make(chan string, 1), make(chan string, 1), make(chan error, 1)
			adminReadyHook = func(a string) { adminAddr <- a }
			t.Cleanup(func() { adminReadyHook = nil })
			var logs lockedBuffer
			go func() { done <- serve(ctx, cfg, &logs, ready) }()
			defer func() {
				cancel()
				select {
				case <-done:
				case <-time.After(15 * time.Second):
					t.Error("serve did not stop")
				}
			}()
			var public, admin string
			for public == "" || admin == "" {
				select {
				case a := <-ready:
					public = "http://" + a
				case a := <-adminAddr:
					admin = "http://" + a
				case err := <-done:
					t.Fatalf("serve ended: %v\n%s", err, logs.String())
				case <-time.After(20 * time.Second):
					t.Fatal("serve did not start")
				}
			}
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline", "/debug/pprof/heap"} {
				if st, body := httpGet(t, public+path); st != http.StatusNotFound || strings.Contains(body, "goroutine") {
					t.Errorf("public %s: %d, want the bridge's 404", path, st)
				}
				if st, _ := httpGet(t, admin+path); st != tc.wantAdmin {
					t.Errorf("admin %s: %d, want %d", path, st, tc.wantAdmin)
				}
			}
			if tc.pprof {
				if _, body := httpGet(t, admin+"/debug/pprof/goroutine?debug=1"); !strings.Contains(body, "goroutine") {
					t.Errorf("admin goroutine profile: %.200q", body)
				}
				if st, _ := httpGet(t, admin+"/debug/pprof/profile?seconds=1"); st != http.StatusOK {
					t.Errorf("admin CPU profile: %d", st)
				}
			}
		})
	}
}

// admin.pprof needs the admin listener.
func TestConfigPProfNeedsAdminListener(t *testing.T) {
	_, err := ParseConfig([]byte(minimalConfig+"admin: {listen: \"off\", pprof: true}\n"), t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "admin.pprof") {
		t.Fatalf("pprof with admin.listen off: %v", err)
	}
	cfg, err := ParseConfig([]byte(minimalConfig), t.TempDir(), nil)
	if err != nil || cfg.Admin.PProf {
		t.Fatalf("default: pprof %v, %v", cfg != nil && cfg.Admin.PProf, err)
	}
}

func TestIsLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9464": true, "[::1]:9464": true, "localhost:9464": true,
		":9464": false, "0.0.0.0:9464": false, "10.0.0.5:9464": false, "nope": false,
	} {
		if got := isLoopbackAddr(addr); got != want {
			t.Errorf("isLoopbackAddr(%q) = %t", addr, got)
		}
	}
}
