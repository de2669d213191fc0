// Package testutil has the helpers baton's tests share: the real wasm
// modules built from functions/, an embedded NATS server with JetStream,
// and polling with a deadline.
package testutil

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

var (
	rootOnce sync.Once
	root     string
)

// RepoRoot returns the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				root = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
	if root == "" {
		t.Fatal("cannot find the repository root (go.mod)")
	}
	return root
}

// BuildDir is where `go tool task wasm` puts the modules.
func BuildDir(t testing.TB) string {
	return filepath.Join(RepoRoot(t), "functions", "build")
}

// Module returns the bytes of a built module: "hello" for an example,
// "testdata/loop" for a test fixture. A missing module fails the test:
// the modules are built from source by `go tool task wasm`, which
// `go tool task test` runs first.
func Module(t testing.TB, name string) []byte {
	t.Helper()
	p := filepath.Join(BuildDir(t), filepath.FromSlash(name)+".wasm")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("module %s is not built (%v): run `go tool task wasm` (or `go tool task test`, which builds them first)", name, err)
	}
	return b
}

// NATS starts an embedded NATS server with JetStream storing in storeDir
// (a fresh temp dir when empty), on a free port, stopped when the test
// ends. It returns the server and a connection to it.
func NATS(t testing.TB, storeDir string) (*natsserver.Server, *nats.Conn) {
	t.Helper()
	if storeDir == "" {
		storeDir = t.TempDir()
	}
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  storeDir,
		NoSigs:    true,
		NoLog:     true,
	})
	if err != nil {
		t.Fatalf("starting NATS: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS did not start")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatalf("connecting to NATS: %v", err)
	}
	t.Cleanup(func() {
		nc.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns, nc
}

// Eventually polls cond every 10ms until it is true or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// CacheDir is a compilation cache shared by the tests of one run, so that
// each module is compiled once per run rather than once per test. Tests
// that are about the cache itself use their own t.TempDir().
func CacheDir(t testing.TB) string {
	dir := filepath.Join(os.TempDir(), "baton-test-wazero-cache")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}
