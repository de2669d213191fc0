package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/internal/testutil"
	streamtrigger "github.com/baton-run/baton/triggers/stream"
)

// sayLine matches the log line of the say fixture's stdout for one of the
// test's messages, as `baton up` logs it (slog's text format).
var sayLine = regexp.MustCompile(`msg=(sk-\d{3}) .*stream=stdout`)

// saidBy counts, per message, how many times the processes said it.
func saidBy(ps ...*testutil.Process) map[string]int {
	out := map[string]int{}
	for _, p := range ps {
		for _, m := range sayLine.FindAllStringSubmatch(p.Output(), -1) {
			out[m[1]]++
		}
	}
	return out
}

// TestStreamTriggerSIGKILLMidBatch runs `baton up` on an external NATS,
// lets it work through a stream of 200 messages with a stream trigger
// whose ackWait is 2s, SIGKILLs it with a batch in flight (pulled, not
// acked), and starts another node on the same NATS: every message is
// processed at least once, and exactly the 200 are. The killed node's
// unacked messages come back to the new one once ackWait passes.
func TestStreamTriggerSIGKILLMidBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds baton and runs two processes")
	}
	const N = 200
	ns, nc := testutil.NATS(t, t.TempDir())
	common := []string{"--nats", ns.ClientURL(), "--cache-dir", testutil.CacheDir(t)}
	dirA := t.TempDir()
	a := testutil.StartNode(t, append([]string{"--data-dir", dirA}, common...)...)
	token := readToken(t, dirA)
	deployTo(t, a.URL, token, `{"name":"say"}`, testutil.Module(t, "testdata/say"))

	ctx := context.Background()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	addTriggerTo(t, a.URL, token, `{"id":"orders","kind":"stream","stream":"ORDERS","function":"say","concurrency":2,"batch":16,"ackWait":"2s"}`)
	testutil.Eventually(t, 10*time.Second, "the trigger running on a", func() bool { return triggerRunningOn(a.URL, token, "orders") })
	cons, err := js.Consumer(ctx, "ORDERS", streamtrigger.Durable("orders"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cons.CachedInfo().Config.AckWait; got != 2*time.Second {
		t.Fatalf("consumer AckWait %s, want 2s", got)
	}

	for i := range N {
		if _, err := js.Publish(ctx, fmt.Sprintf("orders.%d", i), fmt.Appendf(nil, "sk-%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 30*time.Second, "a to process some messages", func() bool { return len(saidBy(a)) >= 20 })
	a.Kill()
	before := len(saidBy(a))
	if before >= N {
		t.Fatalf("all %d messages were processed before the kill: the test did not kill the node mid-batch", N)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending == 0 {
		t.Fatal("no message delivered to a was unacked: the test did not kill the node mid-batch")
	}
	// Those can only be acked once the server redelivers them to b.
	t.Logf("killed a after %d messages; %d delivered to it and unacked", before, info.NumAckPending)

	b := testutil.StartNode(t, append([]string{"--data-dir", t.TempDir()}, common...)...)
	testutil.Eventually(t, 60*time.Second, "every message processed and acked after the kill", func() bool {
		return len(saidBy(a, b)) == N && consumerDone(js, "orders")
	})
	said := saidBy(a, b)
	total, twice := 0, 0
	for i := range N {
		c := said[fmt.Sprintf("sk-%03d", i)]
		if c == 0 {
			t.Errorf("sk-%03d was never processed", i)
		}
		if c > 1 {
			twice++
		}
		total += c
	}
	if len(said) != N {
		t.Fatalf("%d distinct messages processed, want %d", len(said), N)
	}
	t.Logf("%d distinct messages, %d invocations in all; %d processed more than once (ran on a, unacked at the kill, redelivered to b)", len(said), total, twice)
}

// addTriggerTo adds a trigger through the admin API of the node at base.
func addTriggerTo(t *testing.T, base, token, spec string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/api/v1/triggers", strings.NewReader(spec))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 201 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("adding trigger %s: %d %s", spec, resp.StatusCode, body)
	}
}

// triggerRunningOn reports whether trigger id runs on the node at base.
func triggerRunningOn(base, token, id string) bool {
	req, _ := http.NewRequest("GET", base+"/api/v1/triggers/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var out struct{ Running bool }
	return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&out) == nil && out.Running
}
