package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/servertest"
	"github.com/baton-run/baton/internal/testutil"
)

// TestObjectTriggerCommands adds an object trigger and a function with
// buckets through the CLI on a node without MinIO: both are stored, and
// the trigger reports why it does not run.
func TestObjectTriggerCommands(t *testing.T) {
	isolate(t)
	srv := servertest.Start(t, server.Config{})
	t.Setenv("BATON_SERVER", "http://"+srv.HTTPAddr())
	t.Setenv("BATON_TOKEN", srv.Token())

	if _, stderr, code := runCLI(t, "deploy", filepath.Join(testutil.BuildDir(t), "csv2json.wasm"), "--bucket", "uploads,converted"); code != 0 {
		t.Fatalf("deploy: exit %d %q", code, stderr)
	}
	if out, _, code := runCLI(t, "-o", "json", "get", "csv2json"); code != 0 || !strings.Contains(out, `"uploads"`) || !strings.Contains(out, `"converted"`) {
		t.Fatalf("get: exit %d %s", code, out)
	}
	if _, stderr, code := runCLI(t, "deploy", filepath.Join(testutil.BuildDir(t), "csv2json.wasm"), "--name", "bad", "--bucket", "No_Such"); code != 1 || !strings.Contains(stderr, "buckets:") {
		t.Fatalf("bad bucket: exit %d %q", code, stderr)
	}
	out, stderr, code := runCLI(t, "trigger", "add", "object", "--bucket", "uploads", "--suffix", ".csv", "--events", "created,removed", "--function", "csv2json", "--id", "csv")
	if code != 0 || out != "added trigger csv: object uploads/*.csv → csv2json\n" {
		t.Fatalf("add object: exit %d %q %q", code, out, stderr)
	}
	out, _, code = runCLI(t, "trigger", "ls")
	if code != 0 || !strings.Contains(out, "no object store configured") {
		t.Fatalf("ls: exit %d\n%s", code, out)
	}
	if _, stderr, code := runCLI(t, "trigger", "add", "object", "--bucket", "uploads", "--mode", "poll", "--function", "csv2json"); code != 1 || !strings.Contains(stderr, "mode:") {
		t.Fatalf("bad mode: exit %d %q", code, stderr)
	}
	if _, _, code := runCLI(t, "trigger", "rm", "csv"); code != 0 {
		t.Fatalf("rm: exit %d", code)
	}
}
