package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baton-run/baton/internal/async"
	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/testutil"
)

// startCfg starts a node with cfg (data dir, addresses and cache filled in).
func startCfg(t *testing.T, cfg server.Config) *node {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.HTTPAddr, cfg.NATSListen, cfg.CacheDir = "127.0.0.1:0", "127.0.0.1:-1", testutil.CacheDir(t)
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &node{t: t, srv: srv, base: "http://" + srv.HTTPAddr(), dir: cfg.DataDir}
}

var preferAsync = map[string]string{"Prefer": "respond-async"}

// submit invokes path asynchronously and returns the invocation id.
func (n *node) submit(path, input string, header map[string]string) string {
	n.t.Helper()
	h := map[string]string{"Prefer": "respond-async"}
	for k, v := range header {
		h[k] = v
	}
	status, hdr, body := n.do("POST", path, strings.NewReader(input), h)
	var out struct{ ID, Status string }
	if err := json.Unmarshal(body, &out); err != nil || status != 202 || out.ID == "" {
		n.t.Fatalf("async %s: %d %s (%v)", path, status, body, err)
	}
	if hdr.Get("Location") != "/api/v1/invocations/"+out.ID {
		n.t.Fatalf("Location %q, want /api/v1/invocations/%s", hdr.Get("Location"), out.ID)
	}
	return out.ID
}

func (n *node) invocation(id string) async.Record {
	n.t.Helper()
	code, body := n.admin("GET", "/api/v1/invocations/"+id, nil, "")
	var rec async.Record
	if err := json.Unmarshal(body, &rec); err != nil || code != 200 {
		n.t.Fatalf("GET invocation %s: %d %s (%v)", id, code, body, err)
	}
	return rec
}

// await polls invocation id until its status is want (failing early on
// another final status).
func (n *node) await(id string, want async.Status) async.Record {
	n.t.Helper()
	var rec async.Record
	testutil.Eventually(n.t, 30*time.Second, fmt.Sprintf("invocation %s to be %s", id, want), func() bool {
		rec = n.invocation(id)
		if rec.Status.Final() && rec.Status != want {
			n.t.Fatalf("invocation %s is %s, want %s: %+v", id, rec.Status, want, rec)
		}
		return rec.Status == want
	})
	return rec
}

func (n *node) mustDeploy(spec, module string) {
	n.t.Helper()
	if code, out := n.deploy(spec, testutil.Module(n.t, module)); code != 201 && code != 200 {
		n.t.Fatalf("deploy %s: %d %v", spec, code, out)
	}
}

func TestAsyncInvokeSucceeds(t *testing.T) {
	n := start(t, "")
	n.mustDeploy(`{"name":"hello"}`, "hello")
	n.mustDeploy(`{"name":"small","maxInputBytes":4}`, "ping")

	id := n.submit("/fn/hello", `{"name":"Ada"}`, nil)
	rec := n.await(id, async.StatusSucceeded)
	if rec.Result == nil || rec.Result.Status != 200 || !strings.Contains(rec.Result.Body, "Hello, Ada!") {
		t.Fatalf("result %+v", rec.Result)
	}
	if len(rec.Attempts) != 1 || rec.Attempts[0].Attempt != 1 || rec.Attempts[0].Node == "" || rec.Attempts[0].Ended.IsZero() || rec.Finished.IsZero() {
		t.Fatalf("attempts %+v", rec)
	}

	errors := []struct {
		name, path, input string
		status            int
		code              string
	}{
		{"unknown function", "/fn/nope", "", 404, "function_not_found"},
		{"too large", "/fn/small", "too long", 413, "input_too_large"},
	}
	for _, tt := range errors {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := n.do("POST", tt.path, strings.NewReader(tt.input), preferAsync)
			if status != tt.status || errCode(t, body) != tt.code {
				t.Fatalf("got %d %s, want %d %s", status, body, tt.status, tt.code)
			}
		})
	}
	if code, body := n.admin("GET", "/api/v1/invocations/nope", nil, ""); code != 404 || errCode(t, body) != "not_found" {
		t.Fatalf("unknown invocation: %d %s", code, body)
	}
}

func TestAsyncRetriesUntilSuccess(t *testing.T) {
	n := start(t, "")
	n.mustDeploy(`{"name":"flaky","maxRetries":3,"retryBackoff":"10ms"}`, "testdata/flaky")
	id := n.submit("/fn/flaky", "2", nil)
	rec := n.await(id, async.StatusSucceeded)
	if rec.Result == nil || rec.Result.Body != "ok after 2" {
		t.Fatalf("result %+v", rec.Result)
	}
	if len(rec.Attempts) != 3 {
		t.Fatalf("%d attempts, want 3: %+v", len(rec.Attempts), rec.Attempts)
	}
	for i, a := range rec.Attempts {
		wantCode, wantMsg := "function_error", fmt.Sprintf("failing attempt %d", i+1)
		if i == 2 {
			wantCode, wantMsg = "", ""
		}
		if a.Attempt != i+1 || string(a.Code) != wantCode || a.Message != wantMsg {
			t.Fatalf("attempt %d: %+v, want code %q message %q", i+1, a, wantCode, wantMsg)
		}
	}
}

func TestAsyncDeadLetterAndRedrive(t *testing.T) {
	n := start(t, "")
	n.mustDeploy(`{"name":"flaky","maxRetries":1,"retryBackoff":"10ms"}`, "testdata/flaky")
	id := n.submit("/fn/flaky", "5", nil)
	rec := n.await(id, async.StatusDead)
	if len(rec.Attempts) != 2 || rec.Error == nil || rec.Error.Code != "function_error" {
		t.Fatalf("dead record %+v", rec)
	}

	dlq := func(query string) []async.DeadLetter {
		t.Helper()
		code, body := n.admin("GET", "/api/v1/dlq"+query, nil, "")
		var out struct {
			DeadLetters []async.DeadLetter `json:"dead_letters"`
		}
		if err := json.Unmarshal(body, &out); err != nil || code != 200 {
			t.Fatalf("GET dlq%s: %d %s", query, code, body)
		}
		return out.DeadLetters
	}
	dls := dlq("?function=flaky")
	if len(dls) != 1 || dls[0].ID != id || len(dls[0].Attempts) != 2 {
		t.Fatalf("dead letters %+v", dls)
	}
	for i, a := range dls[0].Attempts {
		if a.Code != "function_error" || a.Message != fmt.Sprintf("failing attempt %d", i+1) || a.Node == "" || a.Ended.IsZero() {
			t.Fatalf("dead letter attempt %d: %+v", i+1, a)
		}
	}
	if got := dlq("?function=other"); len(got) != 0 {
		t.Fatalf("dead letters of another function: %+v", got)
	}

	// More retries: attempts go on counting (3, 4, 5 fail), 6 succeeds.
	n.mustDeploy(`{"name":"flaky","maxRetries":5,"retryBackoff":"10ms"}`, "testdata/flaky")
	if code, body := n.admin("POST", "/api/v1/dlq/"+id+"/redrive", nil, ""); code != 200 {
		t.Fatalf("redrive: %d %s", code, body)
	}
	rec = n.await(id, async.StatusSucceeded)
	if len(rec.Attempts) != 6 || rec.Attempts[5].Attempt != 6 || rec.Result.Body != "ok after 5" || rec.Redrives != 1 {
		t.Fatalf("after redrive: %+v", rec)
	}
	if got := dlq(""); len(got) != 0 {
		t.Fatalf("the redriven dead letter is still listed: %+v", got)
	}
	if code, body := n.admin("POST", "/api/v1/dlq/"+id+"/redrive", nil, ""); code != 404 {
		t.Fatalf("second redrive: %d %s, want 404", code, body)
	}

	// Redrive all: two dead invocations of flaky, one of hello stays.
	n.mustDeploy(`{"name":"flaky","maxRetries":0}`, "testdata/flaky")
	n.mustDeploy(`{"name":"fail","maxRetries":0}`, "testdata/fail")
	ids := []string{n.submit("/fn/flaky", "1", nil), n.submit("/fn/flaky", "1", nil)}
	failID := n.submit("/fn/fail", "", nil)
	for _, id := range append(ids, failID) {
		n.await(id, async.StatusDead)
	}
	if code, body := n.admin("POST", "/api/v1/dlq/redrive", nil, ""); code != 400 {
		t.Fatalf("redrive all without a function: %d %s", code, body)
	}
	code, body := n.admin("POST", "/api/v1/dlq/redrive?function=flaky", nil, "")
	if code != 200 || !strings.Contains(string(body), `"redriven": 2`) {
		t.Fatalf("redrive all: %d %s", code, body)
	}
	for _, id := range ids {
		// Attempt 2 of a redriven invocation succeeds (N=1).
		if rec := n.await(id, async.StatusSucceeded); rec.Attempts[len(rec.Attempts)-1].Attempt != 2 {
			t.Fatalf("redriven %s: %+v", id, rec)
		}
	}
	if got := dlq(""); len(got) != 1 || got[0].ID != failID {
		t.Fatalf("after redrive all: %+v", got)
	}
}

func TestAsyncIdempotencyKey(t *testing.T) {
	n := start(t, "")
	n.mustDeploy(`{"name":"flaky"}`, "testdata/flaky")
	key := map[string]string{"Idempotency-Key": "order-42"}
	first := n.submit("/fn/flaky", "0", key)
	second := n.submit("/fn/flaky", "0", key)
	if first != second {
		t.Fatalf("same key, ids %s and %s", first, second)
	}
	rec := n.await(first, async.StatusSucceeded)
	// Once more after it finished: the same id again, nothing re-run.
	if again := n.submit("/fn/flaky", "0", key); again != first {
		t.Fatalf("after success: id %s, want %s", again, first)
	}
	other := n.submit("/fn/flaky", "0", map[string]string{"Idempotency-Key": "order-43"})
	if other == first {
		t.Fatal("another key gave the same id")
	}
	n.await(other, async.StatusSucceeded)
	rec = n.invocation(first)
	if len(rec.Attempts) != 1 || rec.IdempotencyKey != "order-42" {
		t.Fatalf("the keyed invocation ran %d times: %+v", len(rec.Attempts), rec)
	}
}

func TestAsyncDestinations(t *testing.T) {
	n := start(t, "")
	nc, err := nats.Connect(n.srv.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	okSub, err := nc.SubscribeSync("results.ok")
	if err != nil {
		t.Fatal(err)
	}
	failSub, err := nc.SubscribeSync("results.failed")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// relay (echo) answers its input, the record of flaky's failure, and
	// publishes its own record to results.ok.
	n.mustDeploy(`{"name":"relay","onSuccess":{"subject":"results.ok"}}`, "echo")
	n.mustDeploy(`{"name":"flaky","maxRetries":0,"onSuccess":{"subject":"results.ok"},"onFailure":{"function":"relay"}}`, "testdata/flaky")

	next := func(sub *nats.Subscription) async.Record {
		t.Helper()
		m, err := sub.NextMsg(30 * time.Second)
		if err != nil {
			t.Fatalf("no record on %s: %v", sub.Subject, err)
		}
		var rec async.Record
		if err := json.Unmarshal(m.Data, &rec); err != nil {
			t.Fatalf("record %s: %v", m.Data, err)
		}
		return rec
	}
	okID := n.submit("/fn/flaky", "0", nil)
	if rec := next(okSub); rec.ID != okID || rec.Status != async.StatusSucceeded || rec.Result.Body != "ok after 0" {
		t.Fatalf("success record %+v", rec)
	}
	failID := n.submit("/fn/flaky", "3", nil)
	rec := next(okSub) // relay's own success, carrying flaky's failure
	if rec.Function != "relay" || rec.Status != async.StatusSucceeded {
		t.Fatalf("relay record %+v", rec)
	}
	var inner async.Record
	if err := json.Unmarshal(rec.Result.BodyBytes(), &inner); err != nil || inner.ID != failID || inner.Status != async.StatusDead || len(inner.Attempts) != 1 {
		t.Fatalf("relayed failure %s (%v)", rec.Result.Body, err)
	}
	if m, err := failSub.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("unexpected message on results.failed: %s", m.Data)
	}

	bad := []struct{ spec, msg string }{
		{`{"name":"x","onSuccess":{}}`, "onSuccess: set exactly one"},
		{`{"name":"x","onFailure":{"subject":"a.*"}}`, "onFailure.subject"},
		{`{"name":"x","onFailure":{"function":"Bad"}}`, "onFailure.function"},
		{`{"name":"x","maxRetries":-1}`, "maxRetries"},
		{`{"name":"x","retryBackoff":"2h"}`, "retryBackoff"},
	}
	for _, tt := range bad {
		code, out := n.deploy(tt.spec, testutil.Module(t, "ping"))
		if code != 400 || !strings.Contains(fmt.Sprint(out), tt.msg) {
			t.Fatalf("deploy %s: %d %v, want 400 naming %q", tt.spec, code, out, tt.msg)
		}
	}
}

func TestAsyncSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	// A node that only accepts: what it queues waits for the restart.
	n := startCfg(t, server.Config{DataDir: dir, AsyncWorkers: -1})
	n.mustDeploy(`{"name":"flaky","retryBackoff":"10ms"}`, "testdata/flaky")
	n.mustDeploy(`{"name":"hello"}`, "hello")
	var queued []string
	for i := 0; i < 5; i++ {
		queued = append(queued, n.submit("/fn/flaky", "1", nil))
	}
	for _, id := range queued {
		if rec := n.invocation(id); rec.Status != async.StatusQueued || len(rec.Attempts) != 0 {
			t.Fatalf("%s before restart: %+v", id, rec)
		}
	}
	if err := n.srv.Close(); err != nil {
		t.Fatal(err)
	}

	n = startCfg(t, server.Config{DataDir: dir})
	done := n.submit("/fn/hello", `{"name":"Bo"}`, nil)
	n.await(done, async.StatusSucceeded)
	for _, id := range queued {
		if rec := n.await(id, async.StatusSucceeded); len(rec.Attempts) != 2 || rec.Result.Body != "ok after 1" {
			t.Fatalf("%s after restart: %+v", id, rec)
		}
	}
	if err := n.srv.Close(); err != nil {
		t.Fatal(err)
	}

	// Results outlive another restart.
	n = startCfg(t, server.Config{DataDir: dir})
	if rec := n.invocation(done); rec.Status != async.StatusSucceeded || !strings.Contains(rec.Result.Body, "Hello, Bo!") {
		t.Fatalf("result after restart: %+v", rec)
	}
}

// TestAsyncBusyIsNotAnAttempt: a burst of async invocations on a function
// with one instance and no wait queue all run, one after the other, though
// the function allows no retry: finding it busy is not an attempt.
func TestAsyncBusyIsNotAnAttempt(t *testing.T) {
	n := start(t, "")
	n.mustDeploy(`{"name":"sleepy","maxInstances":1,"maxQueue":-1,"maxRetries":0}`, "testdata/sleepy")
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, n.submit("/fn/sleepy", fmt.Sprintf("job %d", i), nil))
	}
	busy := 0
	for i, id := range ids {
		rec := n.await(id, async.StatusSucceeded)
		if rec.Result == nil || rec.Result.Body != fmt.Sprintf("job %d", i) {
			t.Fatalf("%s: result %+v", id, rec.Result)
		}
		if len(rec.Attempts) != 1 || rec.Attempts[0].Attempt != 1 || rec.Attempts[0].Code != "" || rec.Attempts[0].Ended.IsZero() {
			t.Fatalf("%s: attempts %+v, want exactly one, attempt 1, succeeded", id, rec.Attempts)
		}
		if rec.Error != nil || rec.BusyStreak != 0 || !rec.BusySince.IsZero() {
			t.Fatalf("%s: record %+v, want no error and no busy streak left", id, rec)
		}
		busy += rec.BusyDeliveries
	}
	if busy == 0 {
		t.Fatal("no invocation found sleepy busy: the test did not test anything")
	}
	t.Logf("%d busy deliveries", busy)
	code, body := n.admin("GET", "/api/v1/dlq", nil, "")
	if code != 200 || strings.Contains(string(body), `"id"`) {
		t.Fatalf("dead letters: %d %s, want none", code, body)
	}
}

// TestAsyncBusyOverflowsToPeer: an async invocation whose function is
// busy on the node of the worker that took it runs on a peer, as a
// synchronous call would, and that is its one attempt.
func TestAsyncBusyOverflowsToPeer(t *testing.T) {
	ns, _ := testutil.NATS(t, "")
	a := startOn(t, ns.ClientURL())
	// b runs no async workers: every invocation is taken by a's workers.
	b := startCfg(t, server.Config{NATSURL: ns.ClientURL(), AsyncWorkers: -1, HeartbeatInterval: 100 * time.Millisecond})
	testutil.Eventually(t, 5*time.Second, "both nodes to list each other", func() bool {
		return len(nodeIDs(t, a)) == 2 && len(nodeIDs(t, b)) == 2
	})
	a.mustDeploy(`{"name":"sleepy","maxInstances":1,"maxQueue":-1,"maxRetries":0}`, "testdata/sleepy")
	testutil.Eventually(t, 5*time.Second, "sleepy to be known on b", func() bool {
		code, _ := b.admin("GET", "/api/v1/functions/sleepy", nil, "")
		return code == 200
	})
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, a.submit("/fn/sleepy", fmt.Sprintf("job %d", i), nil))
	}
	onB := 0
	for i, id := range ids {
		rec := a.await(id, async.StatusSucceeded)
		if rec.Result == nil || rec.Result.Body != fmt.Sprintf("job %d", i) {
			t.Fatalf("%s: result %+v", id, rec.Result)
		}
		if len(rec.Attempts) != 1 || rec.Attempts[0].Attempt != 1 || rec.Attempts[0].Code != "" {
			t.Fatalf("%s: attempts %+v, want exactly one, attempt 1, succeeded", id, rec.Attempts)
		}
		if node := rec.Attempts[0].Node; node == b.srv.NodeID() {
			onB++
			if got := rec.Result.Header["X-Baton-Node"]; len(got) != 1 || got[0] != node {
				t.Fatalf("%s: X-Baton-Node %v, want %s", id, got, node)
			}
		} else if node != a.srv.NodeID() {
			t.Fatalf("%s: attempt ran on %q, neither a nor b", id, node)
		}
	}
	if onB == 0 {
		t.Fatalf("no invocation ran on node b %s", b.srv.NodeID())
	}
}
