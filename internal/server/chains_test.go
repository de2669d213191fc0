package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/testutil"
)

// startChainNode starts a node on dataDir with a short chain AckWait, so
// that work left by a stopped node comes back quickly.
func startChainNode(t *testing.T, dataDir string) *node {
	t.Helper()
	srv, err := server.New(server.Config{DataDir: dataDir, HTTPAddr: "127.0.0.1:0", NATSListen: "127.0.0.1:-1",
		CacheDir: testutil.CacheDir(t), ChainAckWait: 3 * time.Second, ShutdownTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, srv: srv, base: "http://" + srv.HTTPAddr(), dir: dataDir}
	t.Cleanup(func() { _ = srv.Close() })
	return n
}

type execView struct {
	ID, Chain, Status, State, Error, Cause string
	Output                                 json.RawMessage
	Transitions                            int
}

func (n *node) deployChain(name, def string) (int, []byte) {
	n.t.Helper()
	return n.admin("PUT", "/api/v1/chains/"+name, strings.NewReader(def), "application/yaml")
}

func (n *node) mustDeployChain(name, def string) {
	n.t.Helper()
	if code, b := n.deployChain(name, def); code != 201 && code != 200 {
		n.t.Fatalf("deploy chain %s: %d %s", name, code, b)
	}
}

func (n *node) mustDeployFn(name, module string) {
	n.t.Helper()
	if code, out := n.deploy(`{"name":"`+name+`"}`, testutil.Module(n.t, module)); code != 201 && code != 200 {
		n.t.Fatalf("deploy %s: %d %v", name, code, out)
	}
}

func (n *node) startExecution(name, input string, wait bool) (int, execView) {
	n.t.Helper()
	path := "/api/v1/chains/" + name + "/executions"
	if wait {
		path += "?wait=true"
	}
	code, b := n.admin("POST", path, strings.NewReader(input), "application/json")
	var v execView
	if err := json.Unmarshal(b, &v); err != nil {
		n.t.Fatalf("start %s: %d %s", name, code, b)
	}
	return code, v
}

func (n *node) execution(id string) execView {
	n.t.Helper()
	code, b := n.admin("GET", "/api/v1/executions/"+id, nil, "")
	var v execView
	if code != 200 || json.Unmarshal(b, &v) != nil {
		n.t.Fatalf("describe %s: %d %s", id, code, b)
	}
	return v
}

func (n *node) awaitEnd(id string, timeout time.Duration) execView {
	n.t.Helper()
	var v execView
	testutil.Eventually(n.t, timeout, "execution "+id+" to end", func() bool {
		v = n.execution(id)
		return v.Status != "RUNNING"
	})
	return v
}

type historyEvent struct {
	Execution, Type, Name, Error string
	ID                           int
	Index                        int
}

func (n *node) history(id string) []historyEvent {
	n.t.Helper()
	code, b := n.admin("GET", "/api/v1/executions/"+id+"/history", nil, "")
	var out struct{ Events []historyEvent }
	if code != 200 || json.Unmarshal(b, &out) != nil {
		n.t.Fatalf("history %s: %d %s", id, code, b)
	}
	return out.Events
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

func types(h []historyEvent) []string {
	var out []string
	for _, e := range h {
		out = append(out, e.Type)
	}
	return out
}

// checkHistory checks that every execution's events are numbered 1, 2, 3…
// with none missing or repeated.
func checkHistory(t *testing.T, h []historyEvent) {
	t.Helper()
	next := map[string]int{}
	for _, e := range h {
		want := next[e.Execution] + 1
		if e.ID != want {
			t.Fatalf("history of %s: event %d (%s) where %d was expected: %v", e.Execution, e.ID, e.Type, want, types(h))
		}
		next[e.Execution] = want
	}
}

const greetAndCount = `
Comment: greet someone, then count the words of the greeting
StartAt: Greet
States:
  Greet:
    Type: Task
    Resource: fn:hello
    Next: Count
  Count:
    Type: Task
    Resource: fn:wordcount
    InputPath: $.message
    ResultSelector:
      words.$: $.words
    End: true
`

func TestChainOfRealFunctions(t *testing.T) {
	n := startChainNode(t, t.TempDir())
	n.mustDeployFn("hello", "hello")
	n.mustDeployFn("wordcount", "wordcount")
	code, b := n.deployChain("greet", greetAndCount)
	if code != 201 {
		t.Fatalf("deploy: %d %s", code, b)
	}
	if code, _ := n.deployChain("greet", greetAndCount); code != 200 {
		t.Fatalf("deploying the same definition again: %d, want 200 (unchanged)", code)
	}

	code, v := n.startExecution("greet", `{"name":"Ada Lovelace"}`, true)
	if code != 200 || v.Status != "SUCCEEDED" || compact(v.Output) != `{"words":3}` {
		t.Fatalf("start --wait: %d %+v output %s", code, v, v.Output)
	}
	h := n.history(v.ID)
	checkHistory(t, h)
	got := strings.Join(types(h), " ")
	want := "ExecutionStarted TaskStateEntered TaskScheduled TaskStarted TaskSucceeded TaskStateExited TaskStateEntered TaskScheduled TaskStarted TaskSucceeded TaskStateExited ExecutionSucceeded"
	if got != want {
		t.Fatalf("history:\n got %s\nwant %s", got, want)
	}

	// The public route answers 202 at once; the execution then ends.
	status, hdr, body := n.do("POST", "/chains/greet", strings.NewReader(`{"name":"Grace"}`), nil)
	if status != 202 || hdr.Get("Location") == "" {
		t.Fatalf("POST /chains/greet: %d %s", status, body)
	}
	var started execView
	_ = json.Unmarshal(body, &started)
	if end := n.awaitEnd(started.ID, 30*time.Second); end.Status != "SUCCEEDED" || compact(end.Output) != `{"words":2}` {
		t.Fatalf("public start: %+v %s", end, end.Output)
	}
	status, _, body = n.do("POST", "/chains/greet", strings.NewReader(`{"name":"Grace"}`), map[string]string{"Prefer": "wait"})
	if status != 200 || !strings.Contains(string(body), `"SUCCEEDED"`) {
		t.Fatalf("POST /chains/greet with Prefer: wait: %d %s", status, body)
	}

	code, b = n.admin("GET", "/api/v1/chains/greet/executions", nil, "")
	if code != 200 || strings.Count(string(b), `"id"`) != 3 {
		t.Fatalf("executions: %d %s", code, b)
	}
	code, b = n.admin("GET", "/api/v1/chains", nil, "")
	if code != 200 || !strings.Contains(string(b), `"greet"`) {
		t.Fatalf("list: %d %s", code, b)
	}
	if status, _, _ := n.do("POST", "/chains/nope", strings.NewReader(`{}`), nil); status != 404 {
		t.Fatalf("unknown chain: %d, want 404", status)
	}
	if status, _, body := n.do("POST", "/chains/greet", strings.NewReader(`{not json`), nil); status != 400 {
		t.Fatalf("bad input: %d %s, want 400", status, body)
	}
}

func TestChainValidationErrorsHavePaths(t *testing.T) {
	n := startChainNode(t, t.TempDir())
	code, b := n.deployChain("bad", `
StartAt: Check
States:
  Check:
    Type: Choice
    Choices:
      - Variable: $.n
        NumericEquals: 1
        Next: Fnish
    Default: Done
  Done:
    Type: Succeed
    Next: Check
`)
	var out struct {
		Error    struct{ Code, Message string }
		Problems []struct{ Path, Message string }
	}
	if err := json.Unmarshal(b, &out); err != nil || code != 400 || out.Error.Code != "bad_request" {
		t.Fatalf("deploy: %d %s", code, b)
	}
	paths := map[string]bool{}
	for _, p := range out.Problems {
		paths[p.Path] = true
	}
	for _, want := range []string{"/States/Check/Choices/0/Next", "/States/Done/Next"} {
		if !paths[want] {
			t.Errorf("no problem reported at %s: %+v", want, out.Problems)
		}
	}
	if !strings.Contains(out.Error.Message, "Fnish") {
		t.Errorf("message %q does not name the missing state", out.Error.Message)
	}
	// Nothing was stored.
	if code, _ := n.admin("GET", "/api/v1/chains/bad", nil, ""); code != 404 {
		t.Fatalf("get after a failed deploy: %d, want 404", code)
	}
	// POST with a JSON body names the chain in the body.
	code, b = n.admin("POST", "/api/v1/chains", strings.NewReader(`{"name":"ok","definition":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}}`), "application/json")
	if code != 201 {
		t.Fatalf("POST deploy: %d %s", code, b)
	}
	if code, b := n.deployChain("Bad Name", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`); code != 400 && code != 404 {
		t.Fatalf("bad name: %d %s", code, b)
	}
}

// fanoutChain runs a Parallel state whose second branch raises (caught),
// then a Map over items where item 2 raises: the Map tolerates no
// failure, so its Catch takes over.
const fanoutChain = `
StartAt: Both
States:
  Both:
    Type: Parallel
    Branches:
      - StartAt: Id
        States:
          Id: {Type: Task, Resource: fn:identity, End: true}
      - StartAt: Raise
        States:
          Raise: {Type: Task, Resource: fn:raise, End: true}
    Catch:
      - ErrorEquals: [Exception]
        ResultPath: $.parallelError
        Next: Each
    Next: Each
  Each:
    Type: Map
    ItemsPath: $.items
    MaxConcurrency: 2
    ItemProcessor:
      StartAt: Pick
      States:
        Pick:
          Type: Choice
          Choices:
            - Variable: $
              NumericEquals: 2
              Next: Boom
          Default: Echo
        Echo: {Type: Task, Resource: fn:identity, End: true}
        Boom: {Type: Task, Resource: fn:raise, End: true}
    Catch:
      - ErrorEquals: [States.ALL]
        ResultPath: $.mapError
        Next: Fine
    ResultPath: $.results
    Next: Fine
  Fine:
    Type: Pass
    End: true
`

func TestChainParallelAndMapWithCaughtFailures(t *testing.T) {
	n := startChainNode(t, t.TempDir())
	n.mustDeployFn("identity", "testdata/identity")
	n.mustDeployFn("raise", "testdata/raise")
	n.mustDeployChain("fanout", fanoutChain)

	_, v := n.startExecution("fanout", `{"items":[1,2,3,4]}`, true)
	if v.Status == "RUNNING" {
		v = n.awaitEnd(v.ID, 30*time.Second)
	}
	if v.Status != "SUCCEEDED" {
		t.Fatalf("execution: %+v", v)
	}
	var out struct {
		Items         []int
		ParallelError struct{ Error, Cause string }
		MapError      struct{ Error, Cause string }
	}
	if err := json.Unmarshal(v.Output, &out); err != nil {
		t.Fatal(err)
	}
	if out.ParallelError.Error != "Exception" || !strings.Contains(out.ParallelError.Cause, "Some exception was raised.") {
		t.Errorf("parallel error: %+v", out.ParallelError)
	}
	if out.MapError.Error != "Exception" {
		t.Errorf("map error: %+v (output %s)", out.MapError, v.Output)
	}
	h := n.history(v.ID)
	checkHistory(t, h)
	seen := map[string]bool{}
	for _, e := range h {
		seen[e.Type] = true
	}
	for _, want := range []string{"MapIterationFailed", "MapIterationStarted", "CatchMatched", "ExecutionSucceeded"} {
		if !seen[want] {
			t.Errorf("no %s in history %v", want, types(h))
		}
	}

	// Without failures the Map collects every result in order.
	_, v = n.startExecution("fanout", `{"items":[1,3,5,7,9]}`, true)
	if v.Status == "RUNNING" {
		v = n.awaitEnd(v.ID, 30*time.Second)
	}
	if v.Status != "SUCCEEDED" || !strings.Contains(compact(v.Output), `"results":[1,3,5,7,9]`) {
		t.Fatalf("map without failures: %+v %s", v, v.Output)
	}
}

func TestChainWaitAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	n := startChainNode(t, dir)
	n.mustDeployFn("identity", "testdata/identity")
	n.mustDeployChain("nap", `
StartAt: Nap
States:
  Nap: {Type: Wait, Seconds: 2, Next: After}
  After: {Type: Task, Resource: fn:identity, End: true}
`)
	_, v := n.startExecution("nap", `{"dreams":1}`, false)
	testutil.Eventually(t, 10*time.Second, "the execution to reach the Wait", func() bool {
		return n.execution(v.ID).State == "Nap"
	})
	if err := n.srv.Close(); err != nil {
		t.Fatal(err)
	}
	n = startChainNode(t, dir)
	end := n.awaitEnd(v.ID, 30*time.Second)
	if end.Status != "SUCCEEDED" || compact(end.Output) != `{"dreams":1}` {
		t.Fatalf("after restart: %+v %s", end, end.Output)
	}
	h := n.history(v.ID)
	checkHistory(t, h)
	if got := strings.Join(types(h), " "); !strings.Contains(got, "WaitStateExited") {
		t.Fatalf("history: %s", got)
	}
}

func TestChainStopAndRedrive(t *testing.T) {
	n := startChainNode(t, t.TempDir())
	n.mustDeployFn("identity", "testdata/identity")
	n.mustDeployChain("later", `
StartAt: First
States:
  First: {Type: Task, Resource: fn:identity, Next: Second}
  Second: {Type: Task, Resource: "arn:aws:lambda:us-east-1:123456789012:function:notyet", End: true}
`)
	_, v := n.startExecution("later", `{"x":1}`, true)
	if v.Status != "FAILED" || v.Error != "Lambda.ResourceNotFoundException" || v.State != "Second" {
		t.Fatalf("before the function exists: %+v", v)
	}
	n.mustDeployFn("notyet", "testdata/identity")
	code, b := n.admin("POST", "/api/v1/executions/"+v.ID+"/redrive", nil, "")
	if code != 202 {
		t.Fatalf("redrive: %d %s", code, b)
	}
	end := n.awaitEnd(v.ID, 30*time.Second)
	if end.Status != "SUCCEEDED" || compact(end.Output) != `{"x":1}` {
		t.Fatalf("after redrive: %+v %s", end, end.Output)
	}
	h := n.history(v.ID)
	checkHistory(t, h)
	got := strings.Join(types(h), " ")
	if strings.Count(got, "TaskStateEntered") != 2 || !strings.Contains(got, "ExecutionFailed ExecutionRedriven") || !strings.HasSuffix(got, "ExecutionSucceeded") {
		t.Fatalf("history: %s", got)
	}
	if code, _ := n.admin("POST", "/api/v1/executions/"+v.ID+"/redrive", nil, ""); code != 400 {
		t.Fatalf("redriving a succeeded execution: %d, want 400", code)
	}

	// Stop a waiting execution.
	n.mustDeployChain("long", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}`)
	_, v = n.startExecution("long", `{}`, false)
	testutil.Eventually(t, 10*time.Second, "the Wait", func() bool { return n.execution(v.ID).State == "W" })
	code, b = n.admin("POST", "/api/v1/executions/"+v.ID+"/stop", strings.NewReader(`{"error":"Bored","cause":"too long"}`), "application/json")
	if code != 200 {
		t.Fatalf("stop: %d %s", code, b)
	}
	if v := n.execution(v.ID); v.Status != "ABORTED" || v.Error != "Bored" {
		t.Fatalf("after stop: %+v", v)
	}
	if code, _ := n.admin("POST", "/api/v1/executions/"+v.ID+"/stop", nil, ""); code != 400 {
		t.Fatalf("stopping twice: %d, want 400", code)
	}
	if code, _ := n.admin("GET", "/api/v1/executions/nope.nope", nil, ""); code != 404 {
		t.Fatalf("unknown execution: %d, want 404", code)
	}
}

// A chain deployed with auth token needs the admin token at its public
// start and through custom routes; a redeploy that changes only auth
// keeps the version.
func TestChainAuthToken(t *testing.T) {
	n := start(t, "")
	def := "StartAt: P\nStates:\n  P: {Type: Pass, End: true}\n"
	code, body := n.admin("PUT", "/api/v1/chains/secret?auth=token", strings.NewReader(def), "application/yaml")
	var c struct {
		Version int
		Auth    string
		Changed bool
	}
	if err := json.Unmarshal(body, &c); code != 201 || err != nil || c.Auth != "token" || c.Version != 1 {
		t.Fatalf("deploy with auth token: %d %s", code, body)
	}
	status, hdr, body := n.do("POST", "/chains/secret", strings.NewReader(`{}`), nil)
	if status != 401 || errCode(t, body) != "unauthorized" || hdr.Get("WWW-Authenticate") == "" {
		t.Fatalf("public start without token: %d %s", status, body)
	}
	auth := map[string]string{"Authorization": "Bearer " + n.srv.Token()}
	if status, _, body := n.do("POST", "/chains/secret", strings.NewReader(`{}`), auth); status != 202 {
		t.Fatalf("public start with token: %d %s", status, body)
	}
	n.addTrigger(`{"kind":"http","method":"POST","path":"/run-secret","function":"chain:secret"}`)
	if status, _, body := n.do("POST", "/run-secret", strings.NewReader(`{}`), nil); status != 401 {
		t.Fatalf("route to the chain without token: %d %s", status, body)
	}
	if status, _, body := n.do("POST", "/run-secret", strings.NewReader(`{"a":1}`), auth); status != 200 || string(body) != `{"a":1}` {
		t.Fatalf("route to the chain with token: %d %s", status, body)
	}

	// A redeploy that does not say auth keeps it.
	code, body = n.admin("PUT", "/api/v1/chains/secret", strings.NewReader(def+"Comment: edited\n"), "application/yaml")
	if err := json.Unmarshal(body, &c); code != 201 || err != nil || c.Auth != "token" || c.Version != 2 {
		t.Fatalf("redeploy without auth: %d %s", code, body)
	}
	if status, _, body := n.do("POST", "/chains/secret", strings.NewReader(`{}`), nil); status != 401 {
		t.Fatalf("public start after a redeploy without auth: %d %s", status, body)
	}

	// The same definition, auth none: changed, same version, public.
	code, body = n.admin("PUT", "/api/v1/chains/secret?auth=none", strings.NewReader(def+"Comment: edited\n"), "application/yaml")
	if err := json.Unmarshal(body, &c); code != 201 || err != nil || c.Auth != "none" || c.Version != 2 || !c.Changed {
		t.Fatalf("redeploy with auth none: %d %s", code, body)
	}
	if status, _, body := n.do("POST", "/chains/secret", strings.NewReader(`{}`), nil); status != 202 {
		t.Fatalf("public start after auth none: %d %s", status, body)
	}
	if code, body := n.admin("PUT", "/api/v1/chains/secret?auth=maybe", strings.NewReader(def), "application/yaml"); code != 400 || !strings.Contains(string(body), "auth") {
		t.Fatalf("auth maybe: %d %s", code, body)
	}
}
