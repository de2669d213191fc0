package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/internal/testutil"
)

// TestSIGKILLUnderAsyncLoad runs two baton processes on one NATS, queues
// async invocations of a function that takes a second, SIGKILLs one node
// while it has invocations in flight, and checks that every accepted
// invocation still completes exactly: none lost, none failed.
func TestSIGKILLUnderAsyncLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds baton and runs two processes")
	}
	ns, _ := testutil.NATS(t, "")
	common := []string{"--nats", ns.ClientURL(), "--cache-dir", testutil.CacheDir(t), "--async-ack-wait", "2s", "--async-workers", "8"}
	dirA, dirB := t.TempDir(), t.TempDir()
	a := testutil.StartNode(t, append([]string{"--data-dir", dirA}, common...)...)
	b := testutil.StartNode(t, append([]string{"--data-dir", dirB}, common...)...)
	token := readToken(t, dirA)
	if tb := readToken(t, dirB); tb != token {
		t.Fatal("the two nodes have different admin tokens")
	}

	// Deploy through a, call through b: the registry is shared.
	deployTo(t, a.URL, token, `{"name":"sleepy","maxInstances":8,"timeout":"10s","maxRetries":3}`, testutil.Module(t, "testdata/sleepy"))

	// b learns of the deploy through its registry watch.
	testutil.Eventually(t, 10*time.Second, "node b to know sleepy", func() bool {
		resp, err := http.Get(b.URL + "/fn/sleepy:999")
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(body), "has no version") // known, but not version 999
	})

	const n = 48
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		target := a.URL
		if i%2 == 1 {
			target = b.URL
		}
		req, _ := http.NewRequest("POST", target+"/fn/sleepy", strings.NewReader(fmt.Sprintf(`{"i":%d}`, i)))
		req.Header.Set("Prefer", "respond-async")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ ID string }
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 202 || json.Unmarshal(body, &out) != nil || out.ID == "" {
			t.Fatalf("submit %d: %d %s", i, resp.StatusCode, body)
		}
		ids = append(ids, out.ID)
	}

	// Wait until b is running some of them, then kill it.
	testutil.Eventually(t, 30*time.Second, "node b to run invocations", func() bool {
		for _, id := range ids {
			if st := invocation(t, a.URL, token, id); st.Status == "running" && st.ranOn(b) {
				return true
			}
		}
		return false
	})
	b.Kill()

	// Every accepted invocation completes on the surviving node.
	testutil.Eventually(t, 120*time.Second, "every invocation to finish", func() bool {
		for _, id := range ids {
			if st := invocation(t, a.URL, token, id).Status; st == "queued" || st == "running" {
				return false
			}
		}
		return true
	})
	succeeded := 0
	redelivered := 0
	for _, id := range ids {
		st := invocation(t, a.URL, token, id)
		if st.Status != "succeeded" {
			t.Errorf("invocation %s ended %s: %+v", id, st.Status, st)
			continue
		}
		succeeded++
		if len(st.Attempts) > 1 {
			redelivered++
		}
	}
	if succeeded != n {
		t.Fatalf("%d of %d invocations succeeded", succeeded, n)
	}
	if redelivered == 0 {
		t.Fatal("no invocation was redelivered: node b had nothing in flight when it was killed")
	}
	t.Logf("%d invocations succeeded, %d of them after a redelivery from the killed node", succeeded, redelivered)
}

type invocationView struct {
	Status   string
	Node     string
	Attempts []struct {
		Node string
	}
}

// ranOn reports whether the invocation's latest attempt is on node p. The
// attempt records the node id; the test knows nodes by address, so it
// compares with the heartbeat list.
func (v invocationView) ranOn(p *testutil.Process) bool {
	return len(v.Attempts) > 0 && v.Attempts[len(v.Attempts)-1].Node == nodeIDOf(p)
}

var nodeIDs2 = map[string]string{}

func nodeIDOf(p *testutil.Process) string {
	if id, ok := nodeIDs2[p.URL]; ok {
		return id
	}
	resp, err := http.Get(p.URL + "/healthz")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var h struct{ Node string }
	_ = json.NewDecoder(resp.Body).Decode(&h)
	nodeIDs2[p.URL] = h.Node
	return h.Node
}

func invocation(t *testing.T, base, token, id string) invocationView {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/invocations/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v invocationView
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(body, &v) != nil {
		t.Fatalf("invocation %s: %d %s", id, resp.StatusCode, body)
	}
	return v
}

func readToken(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func deployTo(t *testing.T, base, token, spec string, module []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("spec", spec)
	fw, _ := mw.CreateFormFile("module", "m.wasm")
	_, _ = fw.Write(module)
	_ = mw.Close()
	req, _ := http.NewRequest("POST", base+"/api/v1/functions", &buf)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 201 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("deploy: %d %s", resp.StatusCode, body)
	}
}
