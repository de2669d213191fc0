package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/client"
	"github.com/baton-run/baton/internal/testutil"
)

// TestAsyncCommands drives async invocations, their records and the
// dead-letter queue through the command line against `baton up`.
func TestAsyncCommands(t *testing.T) {
	isolate(t)
	dataDir := t.TempDir()
	httpAddr := freeAddr(t)
	t.Setenv("BATON_DATA_DIR", dataDir)
	t.Setenv("BATON_SERVER", "http://"+httpAddr)
	ctx, cancel := context.WithCancel(context.Background())
	upDone := make(chan int, 1)
	go func() {
		upDone <- run(ctx, []string{"baton", "up", "--http", httpAddr, "--nats-listen", "127.0.0.1:-1", "--cache-dir", testutil.CacheDir(t)},
			strings.NewReader(""), &syncWriter{}, &syncWriter{})
	}()
	defer func() {
		cancel()
		select {
		case <-upDone:
		case <-time.After(30 * time.Second):
			t.Error("baton up did not stop")
		}
	}()
	testutil.Eventually(t, 60*time.Second, "baton up to answer /healthz", func() bool {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	flaky := filepath.Join(testutil.BuildDir(t), "testdata", "flaky.wasm")
	if _, _, code := runCLI(t, "deploy", flaky, "--max-retries", "1", "--retry-backoff", "10ms", "--on-success", "subject:done.flaky"); code != 0 {
		t.Fatalf("deploy: exit %d", code)
	}
	fn, err := clientFor(t).Get(context.Background(), "flaky")
	if err != nil || fn.Spec.MaxRetries == nil || *fn.Spec.MaxRetries != 1 || fn.Spec.RetryBackoff != "10ms" || fn.Spec.OnSuccess == nil || fn.Spec.OnSuccess.Subject != "done.flaky" {
		t.Fatalf("deployed spec %+v (%v)", fn, err)
	}

	get := func(id string) client.Invocation {
		t.Helper()
		out, _, code := runCLI(t, "invocations", "get", id, "-o", "json")
		var inv client.Invocation
		if err := json.Unmarshal([]byte(out), &inv); code != 0 || err != nil {
			t.Fatalf("invocations get: exit %d (%v)", code, err)
		}
		return inv
	}
	await := func(id, status string) {
		t.Helper()
		testutil.Eventually(t, 30*time.Second, id+" to be "+status, func() bool { return get(id).Status == status })
	}

	out, _, code := runCLI(t, "invoke", "flaky", "--async", "--idempotency-key", "k1", "-d", "1")
	id := strings.TrimSpace(out)
	if code != 0 || id == "" {
		t.Fatalf("invoke --async: exit %d %q", code, out)
	}
	if out, _, _ := runCLI(t, "invoke", "flaky", "--async", "--idempotency-key", "k1", "-d", "1"); strings.TrimSpace(out) != id {
		t.Fatalf("same idempotency key: %q, want %s", out, id)
	}
	await(id, "succeeded")
	out, _, code = runCLI(t, "invocations", "get", id)
	for _, want := range []string{"status:", "succeeded", "ATTEMPT", "function_error: failing attempt 1", "result: 200", "ok after 1"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("invocations get: exit %d, %q lacks %q", code, out, want)
		}
	}

	// Dead, listed, redriven after a deploy with more retries.
	out, _, _ = runCLI(t, "invoke", "flaky", "--async", "-d", "3")
	dead := strings.TrimSpace(out)
	await(dead, "dead")
	out, _, code = runCLI(t, "dlq", "ls", "flaky")
	if code != 0 || !strings.Contains(out, dead) || !strings.Contains(out, "failing attempt 2") {
		t.Fatalf("dlq ls: exit %d %q", code, out)
	}
	if _, _, code := runCLI(t, "deploy", flaky, "--max-retries", "3", "--retry-backoff", "10ms"); code != 0 {
		t.Fatalf("redeploy: exit %d", code)
	}
	if out, _, code := runCLI(t, "dlq", "redrive", "--all", "flaky"); code != 0 || !strings.Contains(out, "redrove 1 invocation(s) of flaky") {
		t.Fatalf("dlq redrive --all: exit %d %q", code, out)
	}
	await(dead, "succeeded")
	if out, _, code := runCLI(t, "dlq", "ls"); code != 0 || !strings.Contains(out, "empty") {
		t.Fatalf("dlq ls after redrive: exit %d %q", code, out)
	}

	usage := [][]string{
		{"invoke", "flaky", "--idempotency-key", "k"},
		{"dlq", "redrive"},
		{"dlq", "redrive", "x", "--all", "flaky"},
		{"invocations", "get"},
		{"deploy", flaky, "--on-success", "nats:x"},
		{"deploy", flaky, "--max-retries", "-1"},
	}
	for _, args := range usage {
		if _, _, code := runCLI(t, args...); code != exitUsage {
			t.Errorf("baton %s: exit %d, want %d", strings.Join(args, " "), code, exitUsage)
		}
	}
	if _, errOut, code := runCLI(t, "dlq", "redrive", "nope"); code != exitFailed || !strings.Contains(errOut, "not_found") {
		t.Fatalf("redrive unknown: exit %d %q", code, errOut)
	}
}

func clientFor(t *testing.T) *client.Client {
	t.Helper()
	tok, err := client.ReadToken(os.Getenv("BATON_DATA_DIR"))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(os.Getenv("BATON_SERVER"), tok)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}
