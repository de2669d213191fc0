package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baton-run/baton/internal/testutil"
)

// slowChain runs three tasks of one second each between two quick ones.
const slowChain = `
StartAt: First
States:
  First: {Type: Task, Resource: fn:identity, Next: Slow1}
  Slow1: {Type: Task, Resource: fn:sleepy, ResultPath: null, Next: Slow2}
  Slow2: {Type: Task, Resource: fn:sleepy, ResultPath: null, Next: Slow3}
  Slow3: {Type: Task, Resource: fn:sleepy, ResultPath: null, Next: Last}
  Last: {Type: Task, Resource: fn:identity, End: true}
`

// upProcess starts `baton up` as a separate process on dataDir.
func upProcess(t *testing.T, bin, dataDir, httpAddr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "up", "--http", httpAddr, "--nats-listen", "127.0.0.1:-1", "--chain-ack-wait", "2s", "--cache-dir", testutil.CacheDir(t))
	cmd.Env = append(os.Environ(), "BATON_DATA_DIR="+dataDir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	testutil.Eventually(t, 60*time.Second, "baton up to answer /healthz", func() bool {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return cmd
}

type cliExecution struct {
	ID, Status, State string
	Output            json.RawMessage
}

func describeExecution(t *testing.T, id string) cliExecution {
	t.Helper()
	out, _, code := runCLI(t, "-o", "json", "chain", "describe", id)
	var x cliExecution
	if code != 0 || json.Unmarshal([]byte(out), &x) != nil {
		t.Fatalf("describe %s: exit %d %q", id, code, out)
	}
	return x
}

// TestChainSurvivesSIGKILL kills the node running a chain in the middle
// of a task and starts a new process on the same data directory: the
// execution resumes from its last recorded transition, ends with the
// output it would have had, and its history has every transition once.
func TestChainSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs baton as a separate process")
	}
	isolate(t)
	bin := testutil.BuildBaton(t)
	dataDir := t.TempDir()
	httpAddr := freeAddr(t)
	t.Setenv("BATON_DATA_DIR", dataDir)
	t.Setenv("BATON_SERVER", "http://"+httpAddr)
	first := upProcess(t, bin, dataDir, httpAddr)

	build := testutil.BuildDir(t)
	for _, fn := range []string{"identity", "sleepy"} {
		if _, _, code := runCLI(t, "deploy", "--name", fn, filepath.Join(build, "testdata", fn+".wasm")); code != 0 {
			t.Fatalf("deploy %s: exit %d", fn, code)
		}
	}
	def := writeFile(t, "slow.yaml", []byte(slowChain))
	if out, _, code := runCLI(t, "chain", "deploy", "slow", def); code != 0 || !strings.Contains(out, "deployed chain slow version 1") {
		t.Fatalf("chain deploy: exit %d %q", code, out)
	}
	out, _, code := runCLI(t, "chain", "start", "slow", "-d", `{"n":42}`)
	if code != 0 {
		t.Fatalf("chain start: exit %d", code)
	}
	id := strings.TrimSpace(out)
	testutil.Eventually(t, 30*time.Second, "the execution to reach Slow2", func() bool {
		return describeExecution(t, id).State == "Slow2"
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()

	upProcess(t, bin, dataDir, httpAddr)
	var x cliExecution
	testutil.Eventually(t, 60*time.Second, "the execution to end after the restart", func() bool {
		x = describeExecution(t, id)
		return x.Status != "RUNNING"
	})
	if x.Status != "SUCCEEDED" || compactJSON(x.Output) != `{"n":42}` {
		t.Fatalf("after SIGKILL and restart: %+v %s", x, x.Output)
	}

	out, _, code = runCLI(t, "-o", "json", "chain", "history", id)
	var h []struct {
		Execution, Type, Name string
		ID                    int
	}
	if code != 0 || json.Unmarshal([]byte(out), &h) != nil {
		t.Fatalf("history: exit %d %q", code, out)
	}
	entered, exited := map[string]int{}, map[string]int{}
	for i, ev := range h {
		if ev.ID != i+1 {
			t.Fatalf("history event %d has id %d: a transition was lost or repeated", i+1, ev.ID)
		}
		switch ev.Type {
		case "TaskStateEntered":
			entered[ev.Name]++
		case "TaskStateExited":
			exited[ev.Name]++
		}
	}
	for _, st := range []string{"First", "Slow1", "Slow2", "Slow3", "Last"} {
		if entered[st] != 1 || exited[st] != 1 {
			t.Errorf("state %s entered %d and exited %d times, want once each", st, entered[st], exited[st])
		}
	}
	if last := h[len(h)-1].Type; last != "ExecutionSucceeded" {
		t.Errorf("last event %s, want ExecutionSucceeded", last)
	}

	// The table forms work too.
	if out, _, code := runCLI(t, "chain", "executions", "slow"); code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "SUCCEEDED") {
		t.Errorf("chain executions: exit %d %q", code, out)
	}
	if out, _, code := runCLI(t, "chain", "ls"); code != 0 || !strings.Contains(out, "slow") {
		t.Errorf("chain ls: exit %d %q", code, out)
	}
	if out, _, code := runCLI(t, "chain", "start", "slow", "--wait", "-d", `{"n":1}`); code != 0 || strings.TrimSpace(out) != `{"n":1}` {
		t.Errorf("chain start --wait: exit %d %q", code, out)
	}
	bad := writeFile(t, "bad.json", []byte(`{"StartAt":"Nope","States":{"A":{"Type":"Pass","End":true}}}`))
	if _, stderr, code := runCLI(t, "chain", "deploy", "bad", bad); code != 1 || !strings.Contains(stderr, "/StartAt") {
		t.Errorf("chain deploy of an invalid definition: exit %d %q", code, stderr)
	}
}

// `chain deploy --auth token` guards the chain's public start; --auth
// with another value is a usage error.
func TestChainDeployAuth(t *testing.T) {
	isolate(t)
	url, token := realNode(t)
	def := writeFile(t, "pass.yaml", []byte("StartAt: P\nStates:\n  P: {Type: Pass, End: true}\n"))
	out, stderr, code := runCLI(t, "--server", url, "--token", token, "chain", "deploy", "guarded", def, "--auth", "token", "-o", "json")
	var ch struct{ Auth string }
	if code != 0 || json.Unmarshal([]byte(out), &ch) != nil || ch.Auth != "token" {
		t.Fatalf("deploy --auth token: exit %d %q %q", code, out, stderr)
	}
	resp, err := http.Post(url+"/chains/guarded", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("public start of a guarded chain: %d", resp.StatusCode)
	}
	if _, stderr, code := runCLI(t, "--server", url, "--token", token, "chain", "deploy", "guarded", def, "--auth", "maybe"); code != exitUsage || !strings.Contains(stderr, "--auth") {
		t.Fatalf("--auth maybe: exit %d %q", code, stderr)
	}
}
