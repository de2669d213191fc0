package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/testutil"
)

// startScaling starts a node whose scaler looks at the pools every
// interval.
func startScaling(t *testing.T, interval time.Duration) *node {
	t.Helper()
	dataDir := t.TempDir()
	srv, err := server.New(server.Config{DataDir: dataDir, HTTPAddr: "127.0.0.1:0", NATSListen: "127.0.0.1:-1",
		CacheDir: testutil.CacheDir(t), ScaleInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &node{t: t, srv: srv, base: "http://" + srv.HTTPAddr(), dir: dataDir}
}

type statusRow struct {
	Node          string     `json:"node"`
	Name          string     `json:"name"`
	Version       int        `json:"version"`
	Loaded        bool       `json:"loaded"`
	Warm          int        `json:"warm"`
	Busy          int        `json:"busy"`
	Idle          int        `json:"idle"`
	Queued        int        `json:"queued"`
	ColdStarts    uint64     `json:"coldStarts"`
	ScaleFromZero uint64     `json:"scaleFromZero"`
	Prewarmed     uint64     `json:"prewarmed"`
	LastScaleDown *time.Time `json:"lastScaleDown"`
	MinInstances  int        `json:"minInstances"`
	MaxInstances  int        `json:"maxInstances"`
	IdleTimeout   string     `json:"idleTimeout"`
}

// status returns the status row of name on n (failing when it is absent).
func (n *node) status(name string) statusRow {
	n.t.Helper()
	code, b := n.admin("GET", "/api/v1/status", nil, "")
	if code != 200 {
		n.t.Fatalf("GET /api/v1/status: %d %s", code, b)
	}
	var out struct {
		Node      string      `json:"node"`
		Functions []statusRow `json:"functions"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		n.t.Fatalf("status body %s: %v", b, err)
	}
	for _, r := range out.Functions {
		if r.Name == name {
			if r.Node != out.Node || r.Node == "" {
				n.t.Fatalf("row node %q, status node %q", r.Node, out.Node)
			}
			return r
		}
	}
	n.t.Fatalf("status has no row for %s: %s", name, b)
	return statusRow{}
}

// TestScaleToZeroAndBack deploys a function with a 1s idle timeout, calls
// it, and watches through the status API as it scales to zero and back.
func TestScaleToZeroAndBack(t *testing.T) {
	n := startScaling(t, 50*time.Millisecond)
	if code, out := n.deploy(`{"name":"hello","idleTimeout":"1s"}`, testutil.Module(t, "hello")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	if r := n.status("hello"); r.Loaded || r.Warm != 0 || r.IdleTimeout != "1s" || r.MinInstances != 0 {
		t.Fatalf("before any call: %+v", r)
	}
	call := func() {
		t.Helper()
		status, _, body := n.do("POST", "/fn/hello", strings.NewReader(`{"name":"Ada"}`), nil)
		if status != 200 || !strings.Contains(string(body), "Ada") {
			t.Fatalf("invoke: %d %s", status, body)
		}
	}
	call()
	r := n.status("hello")
	if !r.Loaded || r.Warm < 1 || r.ColdStarts != 1 || r.ScaleFromZero != 1 || r.LastScaleDown != nil {
		t.Fatalf("after the first call: %+v", r)
	}
	testutil.Eventually(t, 30*time.Second, "hello to scale to zero", func() bool {
		r = n.status("hello")
		return r.Warm == 0 && r.LastScaleDown != nil
	})
	if !r.Loaded || r.Idle != 0 || r.Busy != 0 {
		t.Fatalf("scaled to zero: %+v, want the version still loaded", r)
	}
	call()
	r = n.status("hello")
	if r.ScaleFromZero != 2 || r.ColdStarts != 2 || r.Warm < 1 {
		t.Fatalf("after the call from zero: %+v", r)
	}
}

// TestMinInstancesPrewarm deploys functions with minInstances: the node
// loads and prewarms them with no call, a call then finds a warm instance,
// the headroom it earned goes after the idle timeout, and min stays.
func TestMinInstancesPrewarm(t *testing.T) {
	n := startScaling(t, 50*time.Millisecond)
	for _, spec := range []string{`{"name":"two","minInstances":2}`, `{"name":"one","minInstances":1,"idleTimeout":"1s"}`} {
		if code, out := n.deploy(spec, testutil.Module(t, "hello")); code != 201 {
			t.Fatalf("deploy %s: %d %v", spec, code, out)
		}
	}
	var r statusRow
	testutil.Eventually(t, 30*time.Second, "2 prewarmed instances of two", func() bool {
		r = n.status("two")
		return r.Idle >= 2
	})
	if r.ColdStarts != 0 || r.Prewarmed < 2 || r.MinInstances != 2 || r.Warm < 2 {
		t.Fatalf("two prewarmed: %+v", r)
	}
	testutil.Eventually(t, 30*time.Second, "1 prewarmed instance of one", func() bool {
		r = n.status("one")
		return r.Idle >= 1
	})
	status, _, body := n.do("POST", "/fn/one", strings.NewReader(`{"name":"Ada"}`), nil)
	if status != 200 {
		t.Fatalf("invoke: %d %s", status, body)
	}
	if r = n.status("one"); r.ColdStarts != 0 || r.ScaleFromZero != 0 {
		t.Fatalf("a call on a prewarmed pool: %+v, want no cold start", r)
	}
	// The call earns one spare instance of headroom...
	testutil.Eventually(t, 30*time.Second, "a spare instance after the call", func() bool {
		r = n.status("one")
		return r.Warm >= 2
	})
	// ...which goes once idle for the idle timeout; min stays.
	testutil.Eventually(t, 30*time.Second, "one to settle back at minInstances", func() bool {
		r = n.status("one")
		return r.Warm == 1 && r.LastScaleDown != nil
	})

	// Bad scaling specs name the field.
	for _, tc := range []struct{ spec, field string }{
		{`{"name":"bad","minInstances":3,"maxInstances":2}`, "minInstances"},
		{`{"name":"bad","minInstances":-1}`, "minInstances"},
		{`{"name":"bad","idleTimeout":"10ms"}`, "idleTimeout"},
	} {
		code, out := n.deploy(tc.spec, testutil.Module(t, "hello"))
		msg, _ := out["error"].(map[string]any)["message"].(string)
		if code != 400 || !strings.Contains(msg, tc.field) {
			t.Errorf("deploy %s: %d %v, want 400 naming %s", tc.spec, code, out, tc.field)
		}
	}
}

func TestStatusNeedsToken(t *testing.T) {
	n := startScaling(t, time.Second)
	if code, _, _ := n.do("GET", "/api/v1/status", nil, nil); code != 401 {
		t.Fatalf("status without a token: %d, want 401", code)
	}
}
