package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/servertest"
	"github.com/baton-run/baton/internal/testutil"
)

// TestTriggerCommands adds, lists and removes triggers of every kind on a
// real node, and reaches a nats trigger from an outside NATS client.
func TestTriggerCommands(t *testing.T) {
	isolate(t)
	srv := servertest.Start(t, server.Config{})
	t.Setenv("BATON_SERVER", "http://"+srv.HTTPAddr())
	t.Setenv("BATON_TOKEN", srv.Token())
	if _, _, code := runCLI(t, "deploy", filepath.Join(testutil.BuildDir(t), "hello.wasm")); code != 0 {
		t.Fatalf("deploy: exit %d", code)
	}

	if out, _, code := runCLI(t, "trigger", "ls"); code != 0 || !strings.Contains(out, "no triggers") {
		t.Fatalf("ls empty: exit %d %q", code, out)
	}
	out, _, code := runCLI(t, "trigger", "add", "nats", "--subject", "greet.*", "--function", "hello", "--id", "greet")
	if code != 0 || out != "added trigger greet: nats greet.* → hello\n" {
		t.Fatalf("add nats: exit %d %q", code, out)
	}
	if _, _, code := runCLI(t, "trigger", "add", "cron", "--schedule", "@every 1h", "--function", "hello", "--id", "hourly"); code != 0 {
		t.Fatalf("add cron: exit %d", code)
	}
	if _, _, code := runCLI(t, "trigger", "add", "http", "--method", "POST", "--path", "/greet/{name}", "--function", "hello", "--id", "route"); code != 0 {
		t.Fatalf("add http: exit %d", code)
	}
	_, errOut, code := runCLI(t, "trigger", "add", "nats", "--subject", "a..b", "--function", "hello")
	if code != 1 || !strings.Contains(errOut, "subject:") {
		t.Fatalf("bad subject: exit %d %q", code, errOut)
	}
	if _, _, code := runCLI(t, "trigger", "add", "nats", "--subject", "x"); code != 2 {
		t.Fatalf("no --function: exit %d, want 2", code)
	}

	out, _, code = runCLI(t, "trigger", "ls")
	if code != 0 || !strings.Contains(out, "greet") || !strings.Contains(out, "POST /greet/{name}") || !strings.Contains(out, "@every 1h") || !strings.Contains(out, "running") {
		t.Fatalf("ls: exit %d\n%s", code, out)
	}
	out, _, code = runCLI(t, "-o", "json", "trigger", "ls")
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 3 {
		t.Fatalf("ls json: exit %d %q", code, out)
	}

	// An outside publisher on the node's NATS listener.
	nc, err := nats.Connect(srv.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	reply, err := nc.Request("greet.cli", []byte(`{"name":"NATS"}`), 5*time.Second)
	if err != nil || !strings.Contains(string(reply.Data), "NATS") {
		t.Fatalf("request: %v %v", reply, err)
	}

	if out, _, code := runCLI(t, "trigger", "rm", "greet"); code != 0 || out != "removed trigger greet\n" {
		t.Fatalf("rm: exit %d %q", code, out)
	}
	if _, errOut, code := runCLI(t, "trigger", "rm", "greet"); code != 1 || !strings.Contains(errOut, "no trigger") {
		t.Fatalf("rm again: exit %d %q", code, errOut)
	}
	if _, err := nc.Request("greet.cli", nil, 500*time.Millisecond); err == nil {
		t.Fatal("the removed trigger still answers")
	}
}
