package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/servertest"
	"github.com/baton-run/baton/internal/testutil"
)

// TestTriggerAddStream adds a stream trigger with every flag on a real
// node and checks that the flags reach its spec.
func TestTriggerAddStream(t *testing.T) {
	isolate(t)
	srv := servertest.Start(t, server.Config{})
	t.Setenv("BATON_SERVER", "http://"+srv.HTTPAddr())
	t.Setenv("BATON_TOKEN", srv.Token())
	if _, _, code := runCLI(t, "deploy", filepath.Join(testutil.BuildDir(t), "hello.wasm")); code != 0 {
		t.Fatalf("deploy: exit %d", code)
	}
	nc, err := nats.Connect(srv.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := runCLI(t, "trigger", "add", "stream", "--stream", "ORDERS", "--filter", "orders.new.>",
		"--concurrency", "3", "--batch", "7", "--max-deliver", "2", "--backoff", "250ms", "--ack-wait", "5s", "--function", "hello", "--id", "orders")
	if code != 0 || out != "added trigger orders: stream ORDERS orders.new.> → hello\n" {
		t.Fatalf("add stream: exit %d %q %q", code, out, errOut)
	}
	out, _, code = runCLI(t, "-o", "json", "trigger", "get", "orders")
	var got map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("get: exit %d %q", code, out)
	}
	for k, v := range map[string]any{"stream": "ORDERS", "filter": "orders.new.>", "concurrency": 3.0, "batch": 7.0, "maxDeliver": 2.0, "backoff": "250ms", "ackWait": "5s", "running": true} {
		if got[k] != v {
			t.Errorf("get: %s = %v, want %v (%s)", k, got[k], v, out)
		}
	}

	_, errOut, code = runCLI(t, "trigger", "add", "stream", "--stream", "ORDERS", "--max-deliver", "-1", "--function", "hello")
	if code != 1 || !strings.Contains(errOut, "maxDeliver:") {
		t.Fatalf("bad --max-deliver: exit %d %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "trigger", "add", "stream", "--stream", "ORDERS", "--ack-wait", "500ms", "--function", "hello")
	if code != 1 || !strings.Contains(errOut, "ackWait:") {
		t.Fatalf("bad --ack-wait: exit %d %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "trigger", "add", "stream", "--function", "hello")
	if code != 1 || !strings.Contains(errOut, "stream: required") {
		t.Fatalf("no --stream: exit %d %q", code, errOut)
	}
	// A stream that does not exist: stored, but not running, and why.
	if _, _, code := runCLI(t, "trigger", "add", "stream", "--stream", "NOPE", "--function", "hello", "--id", "nope"); code != 0 {
		t.Fatalf("add on a missing stream: exit %d", code)
	}
	out, _, _ = runCLI(t, "trigger", "ls")
	if !strings.Contains(out, `stream "NOPE" does not exist`) {
		t.Fatalf("ls does not say why nope failed:\n%s", out)
	}
}
