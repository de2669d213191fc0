package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/internal/testutil"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestEndToEnd starts `baton up --dev` through run() on free ports and
// drives it with the other commands, as a user would.
func TestEndToEnd(t *testing.T) {
	isolate(t)
	dataDir := t.TempDir()
	httpAddr := freeAddr(t)
	build := testutil.BuildDir(t)
	t.Setenv("BATON_DATA_DIR", dataDir)
	t.Setenv("BATON_SERVER", "http://"+httpAddr)

	ctx, cancel := context.WithCancel(context.Background())
	upDone := make(chan int, 1)
	go func() {
		upDone <- run(ctx, []string{"baton", "up", "--dev", "--examples", build, "--http", httpAddr, "--nats-listen", "127.0.0.1:-1", "--cache-dir", testutil.CacheDir(t)},
			strings.NewReader(""), &syncWriter{}, &syncWriter{})
	}()
	defer func() {
		cancel()
		select {
		case code := <-upDone:
			if code != 0 {
				t.Errorf("baton up exited %d after Ctrl-C, want 0", code)
			}
		case <-time.After(30 * time.Second):
			t.Error("baton up did not stop")
		}
	}()
	testutil.Eventually(t, 60*time.Second, "baton up to answer /healthz", func() bool {
		select {
		case code := <-upDone:
			t.Fatalf("baton up exited early with %d", code)
		default:
		}
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	// --dev deployed the examples.
	out, _, code := runCLI(t, "invoke", "hello", "-d", `{"name":"Ada"}`)
	if code != 0 || !strings.Contains(out, "Hello, Ada!") {
		t.Fatalf("invoke hello: exit %d, %q", code, out)
	}
	out, _, code = runCLIInput(t, "shout", "invoke", "upper", "-d", "-")
	if code != 0 || out != "SHOUT" {
		t.Fatalf("invoke upper from stdin: exit %d, %q", code, out)
	}
	out, _, code = runCLI(t, "invoke", "ping")
	if code != 0 || out != "pong" {
		t.Fatalf("invoke ping: exit %d, %q", code, out)
	}

	// Deploy a function of our own, twice (the second is unchanged), then a new spec.
	hello := filepath.Join(build, "hello.wasm")
	out, _, code = runCLI(t, "deploy", hello, "--name", "greet", "--memory", "32", "--timeout", "2s", "--env", "GREETING=Hey")
	if code != 0 || !strings.Contains(out, "greet") || !strings.Contains(out, "version 1") {
		t.Fatalf("deploy: exit %d, %q", code, out)
	}
	out, _, code = runCLI(t, "deploy", hello, "--name", "greet", "--memory", "32", "--timeout", "2s", "--env", "GREETING=Hey")
	if code != 0 || !strings.Contains(out, "unchanged") {
		t.Fatalf("identical deploy: exit %d, %q", code, out)
	}
	out, _, code = runCLI(t, "invoke", "greet", "-d", `{"name":"you"}`)
	if code != 0 || !strings.Contains(out, "Hey, you!") {
		t.Fatalf("invoke greet: exit %d, %q", code, out)
	}
	out, _, code = runCLI(t, "deploy", hello, "--name", "greet", "--memory", "48")
	if code != 0 || !strings.Contains(out, "version 2") {
		t.Fatalf("deploy a new spec: exit %d, %q", code, out)
	}

	out, _, code = runCLI(t, "ls")
	if code != 0 {
		t.Fatalf("ls: exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 6 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("ls printed %q", out)
	}
	col := strings.Index(lines[0], "VERSION")
	for _, l := range lines[1:] {
		if len(l) <= col || l[col-1] != ' ' {
			t.Fatalf("ls columns are not aligned:\n%s", out)
		}
	}
	out, _, code = runCLI(t, "ls", "-o", "json")
	var fns []struct {
		Name   string `json:"name"`
		Latest int    `json:"latest"`
	}
	if err := json.Unmarshal([]byte(out), &fns); err != nil || code != 0 {
		t.Fatalf("ls -o json: exit %d, %v: %q", code, err, out)
	}
	found := false
	for _, f := range fns {
		found = found || (f.Name == "greet" && f.Latest == 2)
	}
	if !found {
		t.Fatalf("ls -o json lacks greet at version 2: %q", out)
	}
	out, _, code = runCLI(t, "get", "greet")
	if code != 0 || !strings.Contains(out, "greet") || !strings.Contains(out, "48") {
		t.Fatalf("get: exit %d, %q", code, out)
	}

	out, _, code = runCLI(t, "nodes")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "NODE") || !strings.Contains(lines[1], httpAddr) {
		t.Fatalf("nodes: exit %d, %q", code, out)
	}

	// Errors: clear messages and exit codes.
	_, errOut, code := runCLI(t, "invoke", "nope")
	if code != 1 || !strings.Contains(errOut, "function_not_found") {
		t.Fatalf("invoke unknown: exit %d, %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "deploy", filepath.Join(build, "testdata", "badimport.wasm"), "--name", "bad")
	if code != 1 || !strings.Contains(errOut, `"env"."foo"`) {
		t.Fatalf("deploy bad import: exit %d, %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "deploy", filepath.Join(t.TempDir(), "missing.wasm"))
	if code != 2 || errOut == "" {
		t.Fatalf("deploy missing file: exit %d, %q", code, errOut)
	}
	_, _, code = runCLI(t, "ls", "--token", "wrong")
	if code != 1 {
		t.Fatalf("ls with a wrong token: exit %d, want 1", code)
	}

	out, _, code = runCLI(t, "rm", "greet")
	if code != 0 {
		t.Fatalf("rm: exit %d, %q", code, out)
	}
	if _, _, code = runCLI(t, "invoke", "greet"); code != 1 {
		t.Fatalf("invoke after rm: exit %d, want 1", code)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "token")); err != nil {
		t.Fatalf("no token file in the data dir: %v", err)
	}
}

// syncWriter collects output written from the server's goroutines.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
