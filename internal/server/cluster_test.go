package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/testutil"
)

func startOn(t *testing.T, natsURL string) *node {
	t.Helper()
	srv, err := server.New(server.Config{
		DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", NATSURL: natsURL,
		CacheDir: testutil.CacheDir(t), HeartbeatInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &node{t: t, srv: srv, base: "http://" + srv.HTTPAddr()}
}

func nodeIDs(t *testing.T, n *node) []string {
	code, body := n.admin("GET", "/api/v1/nodes", nil, "")
	if code != 200 {
		t.Fatalf("nodes: %d %s", code, body)
	}
	var out struct{ Nodes []server.NodeInfo }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range out.Nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

// TestTwoNodes runs two nodes on one NATS: a deploy on one is live on the
// other, both list each other, and a call that finds one node busy is
// served by the other.
func TestTwoNodes(t *testing.T) {
	ns, _ := testutil.NATS(t, "")
	a := startOn(t, ns.ClientURL())
	b := startOn(t, ns.ClientURL())

	testutil.Eventually(t, 5*time.Second, "both nodes to list each other", func() bool {
		return len(nodeIDs(t, a)) == 2 && len(nodeIDs(t, b)) == 2
	})
	if a.srv.Token() != b.srv.Token() {
		t.Fatal("the nodes of one cluster have different admin tokens")
	}
	if ids := nodeIDs(t, a); ids[0] != a.srv.NodeID() {
		t.Fatalf("nodes %v: this node should come first", ids)
	}

	if code, out := a.deploy(`{"name":"ping"}`, testutil.Module(t, "ping")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	testutil.Eventually(t, 2*time.Second, "the deploy on a to be live on b", func() bool {
		status, _, body := b.do("GET", "/fn/ping", nil, nil)
		return status == 200 && string(body) == "pong"
	})

	// One instance per node, no queue: two calls at once on a are served
	// one by a and one by b, where a single node would answer 429.
	if code, out := a.deploy(`{"name":"loop","timeout":"2s","maxInstances":1,"maxQueue":-1}`, testutil.Module(t, "testdata/loop")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	testutil.Eventually(t, 2*time.Second, "loop to be known on b", func() bool {
		code, _ := b.admin("GET", "/api/v1/functions/loop", nil, "")
		return code == 200
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var statuses []int
	var servedBy []string
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, hdr, _ := a.do("POST", "/fn/loop", strings.NewReader(""), nil)
			mu.Lock()
			statuses = append(statuses, status)
			servedBy = append(servedBy, hdr.Get("X-Baton-Node"))
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, st := range statuses {
		if st != http.StatusGatewayTimeout {
			t.Fatalf("statuses %v: want both calls run (to their deadline), none refused", statuses)
		}
	}
	if !(servedBy[0] == b.srv.NodeID() || servedBy[1] == b.srv.NodeID()) {
		t.Fatalf("X-Baton-Node %v: want one call served by node b %s", servedBy, b.srv.NodeID())
	}

	// A node that stops leaves the list at once.
	_ = b.srv.Close()
	testutil.Eventually(t, 5*time.Second, "b to leave", func() bool { return len(nodeIDs(t, a)) == 1 })
}

// TestTriggerCallOverflowsToPeer: a custom route's call that finds every
// instance on its node busy is served by a peer, like a call to /fn/.
// (http and nats triggers share the invocation path that forwards.)
func TestTriggerCallOverflowsToPeer(t *testing.T) {
	ns, _ := testutil.NATS(t, "")
	a := startOn(t, ns.ClientURL())
	b := startOn(t, ns.ClientURL())
	testutil.Eventually(t, 5*time.Second, "both nodes to list each other", func() bool {
		return len(nodeIDs(t, a)) == 2 && len(nodeIDs(t, b)) == 2
	})
	if code, out := a.deploy(`{"name":"sleepy","maxInstances":1,"maxQueue":-1}`, testutil.Module(t, "testdata/sleepy")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	id := a.addTrigger(`{"kind":"http","method":"POST","path":"/slow","function":"sleepy"}`)
	testutil.Eventually(t, 5*time.Second, "the route on both nodes", func() bool {
		return a.triggerRunning(id) && b.triggerRunning(id)
	})
	testutil.Eventually(t, 5*time.Second, "sleepy to be known on b", func() bool {
		code, _ := b.admin("GET", "/api/v1/functions/sleepy", nil, "")
		return code == 200
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var statuses []int
	var servedBy []string
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, hdr, body := a.do("POST", "/slow", strings.NewReader("zz"), nil)
			mu.Lock()
			defer mu.Unlock()
			if status == 200 && string(body) != "zz" {
				t.Errorf("body %q, want the input back", body)
			}
			statuses = append(statuses, status)
			servedBy = append(servedBy, hdr.Get("X-Baton-Node"))
		}()
	}
	wg.Wait()
	if statuses[0] != 200 || statuses[1] != 200 {
		t.Fatalf("statuses %v: want both calls served, none refused", statuses)
	}
	if !(servedBy[0] == b.srv.NodeID() || servedBy[1] == b.srv.NodeID()) {
		t.Fatalf("X-Baton-Node %v: want one call served by node b %s", servedBy, b.srv.NodeID())
	}
}
