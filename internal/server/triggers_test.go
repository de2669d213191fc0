package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baton-run/baton/internal/testutil"
)

// addTrigger adds a trigger through the admin API and returns its id.
func (n *node) addTrigger(spec string) string {
	n.t.Helper()
	code, body := n.admin("POST", "/api/v1/triggers", strings.NewReader(spec), "application/json")
	if code != 201 {
		n.t.Fatalf("adding trigger %s: %d %s", spec, code, body)
	}
	var out struct{ ID string }
	if err := json.Unmarshal(body, &out); err != nil || out.ID == "" {
		n.t.Fatalf("trigger answer %s: %v", body, err)
	}
	return out.ID
}

// triggerRunning reports whether trigger id runs on n.
func (n *node) triggerRunning(id string) bool {
	code, body := n.admin("GET", "/api/v1/triggers/"+id, nil, "")
	var out struct{ Running bool }
	_ = json.Unmarshal(body, &out)
	return code == 200 && out.Running
}

func TestHTTPRouteTrigger(t *testing.T) {
	n := start(t, "")
	if code, out := n.deploy(`{"name":"meta"}`, testutil.Module(t, "testdata/meta")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	if code, out := n.deploy(`{"name":"echo"}`, testutil.Module(t, "echo")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	n.addTrigger(`{"id":"orders","kind":"http","method":"POST","path":"/orders/{id}","function":"meta"}`)
	n.addTrigger(`{"kind":"http","method":"ANY","path":"/files/{path...}","function":"echo"}`)

	// The path parameter reaches the guest as header.x-baton-param-id.
	status, hdr, body := n.do("POST", "/orders/42", strings.NewReader("header.x-baton-param-id"), nil)
	if status != 200 || string(body) != "42" || hdr.Get("X-Baton-Invocation-Id") == "" {
		t.Fatalf("POST /orders/42: %d %q %v", status, body, hdr)
	}
	// A client cannot forge a parameter.
	status, _, body = n.do("POST", "/orders/7", strings.NewReader("header.x-baton-param-id"), map[string]string{"X-Baton-Param-Id": "forged"})
	if status != 200 || string(body) != "7" {
		t.Fatalf("forged param: %d %q", status, body)
	}
	status, hdr, body = n.do("PUT", "/files/a/b.txt?x=1", strings.NewReader("data"), nil)
	if status != 200 || string(body) != "data" || hdr.Get("X-Echo-Path") != "/files/a/b.txt" || hdr.Get("X-Echo-Query") != "x=1" {
		t.Fatalf("PUT /files/a/b.txt: %d %q %v", status, body, hdr)
	}

	status, hdr, body = n.do("GET", "/orders/42", nil, nil)
	if status != 405 || errCode(t, body) != "method_not_allowed" || hdr.Get("Allow") != "POST" {
		t.Fatalf("GET /orders/42: %d %s %v", status, body, hdr)
	}
	status, _, body = n.do("GET", "/nowhere", nil, nil)
	if status != 404 || errCode(t, body) != "not_found" {
		t.Fatalf("GET /nowhere: %d %s", status, body)
	}
	// baton's own routes are untouched.
	if status, _, body := n.do("POST", "/fn/echo", strings.NewReader("x"), nil); status != 200 || string(body) != "x" {
		t.Fatalf("/fn/echo: %d %q", status, body)
	}

	// Removing the trigger removes the route.
	if code, body := n.admin("DELETE", "/api/v1/triggers/orders", nil, ""); code != 200 {
		t.Fatalf("rm: %d %s", code, body)
	}
	if status, _, body := n.do("POST", "/orders/42", nil, nil); status != 404 {
		t.Fatalf("after rm: %d %s", status, body)
	}
	if code, body := n.admin("DELETE", "/api/v1/triggers/orders", nil, ""); code != 404 || errCode(t, body) != "not_found" {
		t.Fatalf("rm again: %d %s", code, body)
	}
}

// A custom route to a function deployed with `auth: token` asks for the
// bearer token, which never reaches the guest.
func TestHTTPRouteTokenAuth(t *testing.T) {
	n := start(t, "")
	if code, out := n.deploy(`{"name":"meta","auth":"token"}`, testutil.Module(t, "testdata/meta")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	n.addTrigger(`{"kind":"http","method":"POST","path":"/private/{id}","function":"meta"}`)
	status, hdr, body := n.do("POST", "/private/1", strings.NewReader("header.x-baton-param-id"), nil)
	if status != 401 || errCode(t, body) != "unauthorized" || hdr.Get("WWW-Authenticate") == "" {
		t.Fatalf("without token: %d %s %v", status, body, hdr)
	}
	status, _, body = n.do("POST", "/private/1", strings.NewReader("header.x-baton-param-id"), map[string]string{"Authorization": "Bearer wrong"})
	if status != 401 {
		t.Fatalf("wrong token: %d %s", status, body)
	}
	auth := map[string]string{"Authorization": "Bearer " + n.srv.Token()}
	status, _, body = n.do("POST", "/private/1", strings.NewReader("header.x-baton-param-id"), auth)
	if status != 200 || string(body) != "1" {
		t.Fatalf("with token: %d %s", status, body)
	}
	status, _, body = n.do("POST", "/private/1", strings.NewReader("header.authorization"), auth)
	if status != 404 {
		t.Fatalf("the guest saw the Authorization header: %d %q", status, body)
	}
}

func TestTriggerValidation(t *testing.T) {
	n := start(t, "")
	n.addTrigger(`{"id":"taken","kind":"http","method":"GET","path":"/a/{x}","function":"f"}`)
	tests := []struct {
		name, spec, want string
	}{
		{"no kind", `{"function":"f"}`, "kind: required"},
		{"unknown kind", `{"kind":"smtp","function":"f"}`, `kind: unknown trigger kind "smtp"`},
		{"no function", `{"kind":"nats","subject":"a"}`, "function: required"},
		{"bad function", `{"kind":"nats","subject":"a","function":"Bad Name"}`, "function:"},
		{"bad id", `{"id":"Bad_ID","kind":"nats","subject":"a","function":"f"}`, "id:"},
		{"unknown field", `{"kind":"nats","subject":"a","function":"f","colour":"red"}`, `unknown field "colour"`},
		{"nats no subject", `{"kind":"nats","function":"f"}`, "subject: required"},
		{"nats bad wildcard", `{"kind":"nats","subject":"a.>.b","function":"f"}`, "subject: > must be the last token"},
		{"nats reserved", `{"kind":"nats","subject":"$JS.API.>","function":"f"}`, "subject: is reserved"},
		{"nats foreign field", `{"kind":"nats","subject":"a","path":"/x","function":"f"}`, "path: not a field of kind nats"},
		{"http no path", `{"kind":"http","function":"f"}`, "path: required"},
		{"http reserved", `{"kind":"http","path":"/fn/x","function":"f"}`, "path: \"/fn/x\" is under /fn/"},
		{"http bad method", `{"kind":"http","method":"BREW","path":"/x","function":"f"}`, "method:"},
		{"http bad wildcard", `{"kind":"http","path":"/x/{a-b}","function":"f"}`, "path:"},
		{"http conflict", `{"kind":"http","method":"GET","path":"/a/{y}","function":"f"}`, "path:"},
		{"duplicate id", `{"id":"taken","kind":"nats","subject":"a","function":"f"}`, `id: a trigger "taken" exists`},
		{"cron bad schedule", `{"kind":"cron","schedule":"every minute","function":"f"}`, "schedule:"},
		{"cron short every", `{"kind":"cron","schedule":"@every 10ms","function":"f"}`, "schedule:"},
		{"cron bad timezone", `{"kind":"cron","schedule":"@hourly","timezone":"Mars/Olympus","function":"f"}`, "timezone:"},
		{"cron bad missed", `{"kind":"cron","schedule":"@hourly","missed":"all","function":"f"}`, "missed:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := n.admin("POST", "/api/v1/triggers", strings.NewReader(tt.spec), "application/json")
			var e struct {
				Error struct{ Code, Message string }
			}
			_ = json.Unmarshal(body, &e)
			if code != 400 || e.Error.Code != "bad_request" || !strings.Contains(e.Error.Message, tt.want) {
				t.Fatalf("%s: %d %s, want 400 mentioning %q", tt.spec, code, body, tt.want)
			}
		})
	}
	code, body := n.admin("GET", "/api/v1/triggers", nil, "")
	var out struct{ Triggers []map[string]any }
	if err := json.Unmarshal(body, &out); code != 200 || err != nil || len(out.Triggers) != 1 {
		t.Fatalf("after rejected adds: %d %s", code, body)
	}
}

func TestNATSTriggerRequestReply(t *testing.T) {
	n := start(t, "")
	if code, out := n.deploy(`{"name":"echo"}`, testutil.Module(t, "echo")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	if code, out := n.deploy(`{"name":"fail"}`, testutil.Module(t, "testdata/fail")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	n.addTrigger(`{"kind":"nats","subject":"greet.*","function":"echo"}`)
	n.addTrigger(`{"kind":"nats","subject":"broken.>","function":"fail"}`)
	n.addTrigger(`{"kind":"nats","subject":"missing","function":"nobody"}`)

	// An outside client on the node's NATS listener.
	nc, err := nats.Connect(n.srv.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	msg := nats.NewMsg("greet.ada")
	msg.Data = []byte("hello")
	reply, err := nc.RequestMsg(msg, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(reply.Data) != "hello" || reply.Header.Get("Baton-Status") != "200" || reply.Header.Get("Baton-Error") != "" {
		t.Fatalf("reply %q %v", reply.Data, reply.Header)
	}

	reply, err = nc.Request("broken.a.b", []byte("x"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := reply.Header.Get("Baton-Error"); got != "function_error: boom" || len(reply.Data) != 0 {
		t.Fatalf("error reply %q, header %v", reply.Data, reply.Header)
	}
	reply, err = nc.Request("missing", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := reply.Header.Get("Baton-Error"); !strings.HasPrefix(got, "function_not_found: ") {
		t.Fatalf("missing function: header %v", reply.Header)
	}
}

// TestNATSTriggerQueueGroup runs two nodes on one NATS: every message of
// the trigger's subject is handled by exactly one of them.
func TestNATSTriggerQueueGroup(t *testing.T) {
	ns, nc := testutil.NATS(t, "")
	a := startOn(t, ns.ClientURL())
	b := startOn(t, ns.ClientURL())
	if code, out := a.deploy(`{"name":"echo"}`, testutil.Module(t, "echo")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	id := a.addTrigger(`{"kind":"nats","subject":"work.items","function":"echo"}`)
	testutil.Eventually(t, 5*time.Second, "the trigger to run on both nodes", func() bool {
		return a.triggerRunning(id) && b.triggerRunning(id)
	})
	testutil.Eventually(t, 5*time.Second, "echo to be known on b", func() bool {
		code, _ := b.admin("GET", "/api/v1/functions/echo", nil, "")
		return code == 200
	})

	const total = 100
	var mu sync.Mutex
	got := map[string]int{}
	byNode := map[string]int{}
	sub, err := nc.Subscribe("results.>", func(m *nats.Msg) {
		mu.Lock()
		got[string(m.Data)]++
		byNode[m.Header.Get("Baton-Node")]++
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	for i := range total {
		if err := nc.PublishMsg(&nats.Msg{Subject: "work.items", Reply: fmt.Sprintf("results.%d", i), Data: fmt.Appendf(nil, "m%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 20*time.Second, "every message answered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == total
	})
	mu.Lock()
	defer mu.Unlock()
	for k, c := range got {
		if c != 1 {
			t.Fatalf("message %s handled %d times", k, c)
		}
	}
	if byNode[a.srv.NodeID()] == 0 || byNode[b.srv.NodeID()] == 0 {
		t.Fatalf("handled per node %v: want both nodes in the queue group", byNode)
	}
}

// tickRecords collects the ticks of a cron trigger from the records its
// function's onSuccess destination publishes.
func tickRecords(t *testing.T, nc *nats.Conn, subject string) (func() map[string]int, func()) {
	var mu sync.Mutex
	ticks := map[string]int{}
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var rec struct {
			Result struct{ Body string }
		}
		var data struct{ Tick string }
		if json.Unmarshal(m.Data, &rec) != nil || json.Unmarshal([]byte(rec.Result.Body), &data) != nil {
			return
		}
		mu.Lock()
		ticks[data.Tick]++
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	return func() map[string]int {
			mu.Lock()
			defer mu.Unlock()
			out := make(map[string]int, len(ticks))
			for k, v := range ticks {
				out[k] = v
			}
			return out
		}, func() {
			_ = sub.Unsubscribe()
		}
}

// TestCronTriggerFiresOncePerTickOnTwoNodes runs an @every 1s trigger on
// two nodes: each tick is fired once, and none is skipped.
func TestCronTriggerFiresOncePerTickOnTwoNodes(t *testing.T) {
	ns, nc := testutil.NATS(t, "")
	a := startOn(t, ns.ClientURL())
	b := startOn(t, ns.ClientURL())
	if code, out := a.deploy(`{"name":"echo","onSuccess":{"subject":"ticks.done"}}`, testutil.Module(t, "echo")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	ticks, stop := tickRecords(t, nc, "ticks.done")
	defer stop()
	id := a.addTrigger(`{"kind":"cron","schedule":"@every 1s","function":"echo"}`)
	testutil.Eventually(t, 5*time.Second, "the trigger to run on both nodes", func() bool {
		return a.triggerRunning(id) && b.triggerRunning(id)
	})

	// Wait for 6 distinct ticks after both nodes run it.
	testutil.Eventually(t, 30*time.Second, "6 ticks", func() bool { return len(ticks()) >= 6 })
	got := ticks()
	var times []time.Time
	for k, c := range got {
		if c != 1 {
			t.Errorf("tick %s fired %d times, want once", k, c)
		}
		tm, err := time.Parse(time.RFC3339Nano, k)
		if err != nil {
			t.Fatalf("tick %q: %v", k, err)
		}
		times = append(times, tm)
	}
	// Between the first and last tick seen, every second fired exactly
	// once (the edges may be cut by when we looked).
	first, last := times[0], times[0]
	for _, tm := range times {
		if tm.Before(first) {
			first = tm
		}
		if tm.After(last) {
			last = tm
		}
	}
	span := int(last.Sub(first)/time.Second) + 1
	if n := len(times); n < span-1 || n > span {
		t.Fatalf("%d ticks between %s and %s (%d seconds): want one per second (±1 at the edges)", n, first, last, span)
	}
}

// TestTriggersSurviveRestart stops a node and starts it again on the same
// data directory: its triggers run again.
func TestTriggersSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	n := start(t, dir)
	if code, out := n.deploy(`{"name":"echo"}`, testutil.Module(t, "echo")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	id := n.addTrigger(`{"kind":"nats","subject":"again","function":"echo"}`)
	n.addTrigger(`{"kind":"http","method":"POST","path":"/again","function":"echo"}`)
	if err := n.srv.Close(); err != nil {
		t.Fatal(err)
	}

	n = start(t, dir)
	testutil.Eventually(t, 5*time.Second, "the trigger to run after the restart", func() bool { return n.triggerRunning(id) })
	nc, err := nats.Connect(n.srv.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	reply, err := nc.Request("again", []byte("still here"), 5*time.Second)
	if err != nil || string(reply.Data) != "still here" {
		t.Fatalf("after restart: %v %v", reply, err)
	}
	if status, _, body := n.do("POST", "/again", strings.NewReader("route too"), nil); status != 200 || string(body) != "route too" {
		t.Fatalf("route after restart: %d %q", status, body)
	}
}

// TestTriggerToChain runs a chain from an http route (waiting for its
// output) and from a NATS request.
func TestTriggerToChain(t *testing.T) {
	n := start(t, "")
	n.mustDeployFn("identity", "testdata/identity")
	n.mustDeployChain("wrap", "StartAt: Wrap\nStates:\n  Wrap: {Type: Pass, Parameters: {\"got.$\": \"$.value\"}, Next: Id}\n  Id: {Type: Task, Resource: fn:identity, End: true}\n")
	n.addTrigger(`{"kind":"http","method":"POST","path":"/wrap","function":"chain:wrap"}`)
	n.addTrigger(`{"kind":"nats","subject":"wrap.it","function":"chain:wrap"}`)

	status, hdr, body := n.do("POST", "/wrap", strings.NewReader(`{"value":7}`), nil)
	if status != 200 || strings.ReplaceAll(string(body), " ", "") != `{"got":7}` || hdr.Get("X-Baton-Execution-Id") == "" {
		t.Fatalf("POST /wrap: %d %s %v", status, body, hdr)
	}
	nc, err := nats.Connect(n.srv.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	reply, err := nc.Request("wrap.it", []byte(`{"value":"x"}`), 10*time.Second)
	if err != nil || strings.ReplaceAll(string(reply.Data), " ", "") != `{"got":"x"}` {
		t.Fatalf("request: %v %v", reply, err)
	}
	reply, err = nc.Request("wrap.it", []byte(`not json`), 10*time.Second)
	if err != nil || !strings.HasPrefix(reply.Header.Get("Baton-Error"), "bad_request: ") {
		t.Fatalf("bad input: %v %v", reply, err)
	}
}
