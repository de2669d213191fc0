package server_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/testutil"
	streamtrigger "github.com/baton-run/baton/triggers/stream"
)

// said collects the stdout lines of the guests (the say fixture writes
// its input there), as the server logs them.
type said struct {
	mu    sync.Mutex
	lines map[string]int // line → times
}

func (s *said) Enabled(context.Context, slog.Level) bool { return true }
func (s *said) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *said) WithGroup(string) slog.Handler            { return s }
func (s *said) Handle(_ context.Context, r slog.Record) error {
	stdout := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "stream" && a.Value.String() == "stdout" {
			stdout = true
		}
		return true
	})
	if stdout {
		s.mu.Lock()
		s.lines[r.Message]++
		s.mu.Unlock()
	}
	return nil
}

// distinct returns how many different lines were said and how many in
// all.
func (s *said) distinct() (n, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.lines {
		total += c
	}
	return len(s.lines), total
}

// startLogged starts a node on dataDir whose log goes to h.
func startLogged(t *testing.T, dataDir string, h slog.Handler) (*server.Server, *node) {
	t.Helper()
	srv, err := server.New(server.Config{DataDir: dataDir, HTTPAddr: "127.0.0.1:0", NATSListen: "127.0.0.1:-1",
		CacheDir: testutil.CacheDir(t), Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, &node{t: t, srv: srv, base: "http://" + srv.HTTPAddr(), dir: dataDir}
}

// jetStream connects to the node's NATS and creates the stream ORDERS on
// orders.>.
func jetStream(t *testing.T, url string, create bool) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if create {
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
			Name: "ORDERS", Subjects: []string{"orders.>"}, Storage: jetstream.FileStorage,
		}); err != nil {
			t.Fatal(err)
		}
	}
	return nc, js
}

// consumerDone reports whether the trigger's consumer has every message
// acked.
func consumerDone(js jetstream.JetStream, trigger string) bool {
	c, err := js.Consumer(context.Background(), "ORDERS", streamtrigger.Durable(trigger))
	if err != nil {
		return false
	}
	info, err := c.Info(context.Background())
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0
}

func TestStreamTriggerEndToEnd(t *testing.T) {
	h := &said{lines: map[string]int{}}
	srv, n := startLogged(t, t.TempDir(), h)
	if code, out := n.deploy(`{"name":"say"}`, testutil.Module(t, "testdata/say")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	_, js := jetStream(t, srv.NATSURL(), true)
	id := n.addTrigger(`{"id":"orders","kind":"stream","stream":"ORDERS","filter":"orders.new.>","function":"say","concurrency":3,"batch":5}`)
	testutil.Eventually(t, 10*time.Second, "trigger running", func() bool { return n.triggerRunning(id) })

	const N = 50
	ctx := context.Background()
	for i := range N {
		if _, err := js.Publish(ctx, fmt.Sprintf("orders.new.%d", i), fmt.Appendf(nil, "order %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Not matching the filter: never delivered.
	if _, err := js.Publish(ctx, "orders.old.1", []byte("old order")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "every message processed and acked", func() bool {
		d, _ := h.distinct()
		return d == N && consumerDone(js, id)
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range N {
		if h.lines[fmt.Sprintf("order %d", i)] == 0 {
			t.Errorf("order %d was not processed", i)
		}
	}
	if h.lines["old order"] != 0 {
		t.Error("a message outside the filter was processed")
	}
}

func TestStreamTriggerRetriesAndDeadLetters(t *testing.T) {
	srv, n := startLogged(t, t.TempDir(), &said{lines: map[string]int{}})
	if code, out := n.deploy(`{"name":"fail"}`, testutil.Module(t, "testdata/fail")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	if code, out := n.deploy(`{"name":"flaky"}`, testutil.Module(t, "testdata/flaky")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	_, js := jetStream(t, srv.NATSURL(), true)
	ctx := context.Background()
	n.addTrigger(`{"id":"doomed","kind":"stream","stream":"ORDERS","filter":"orders.doomed","function":"fail","maxDeliver":3,"backoff":"10ms"}`)
	n.addTrigger(`{"id":"shaky","kind":"stream","stream":"ORDERS","filter":"orders.shaky","function":"flaky","maxDeliver":4,"backoff":"10ms"}`)
	testutil.Eventually(t, 10*time.Second, "triggers running", func() bool {
		return n.triggerRunning("doomed") && n.triggerRunning("shaky")
	})
	for i := range 2 {
		msg := &nats.Msg{Subject: "orders.doomed", Data: fmt.Appendf(nil, "doomed %d", i), Header: nats.Header{"X-Order": {fmt.Sprint(i)}}}
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	// flaky fails attempts 1 and 2 (its input), the third succeeds.
	if _, err := js.Publish(ctx, "orders.shaky", []byte("2")); err != nil {
		t.Fatal(err)
	}

	testutil.Eventually(t, 30*time.Second, "both trigger consumers done", func() bool {
		return consumerDone(js, "doomed") && consumerDone(js, "shaky")
	})
	dlq, err := js.Stream(ctx, streamtrigger.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dlq.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Subjects[streamtrigger.DLQSubjectPrefix+"doomed"]; got != 2 {
		t.Fatalf("dead letters of doomed: %d, want 2 (%v)", got, info.State.Subjects)
	}
	if got := info.State.Subjects[streamtrigger.DLQSubjectPrefix+"shaky"]; got != 0 {
		t.Fatalf("dead letters of shaky: %d, want 0", got)
	}
	// The two may be dead-lettered in either order.
	seen := map[string]bool{}
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := dlq.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		order := m.Header.Get("X-Order")
		seen[order] = true
		want := map[string]string{
			streamtrigger.ErrorHeader:      "function_error: boom",
			streamtrigger.TriggerHeader:    "doomed",
			streamtrigger.StreamHeader:     "ORDERS",
			streamtrigger.SubjectHeader:    "orders.doomed",
			streamtrigger.DeliveriesHeader: "3",
		}
		for k, v := range want {
			if got := m.Header.Get(k); got != v {
				t.Errorf("dead letter %d: header %s = %q, want %q", seq, k, got, v)
			}
		}
		if string(m.Data) != "doomed "+order {
			t.Errorf("dead letter %d: data %q, header X-Order %q", seq, m.Data, order)
		}
	}
	if !seen["0"] || !seen["1"] {
		t.Errorf("dead letters of orders %v, want 0 and 1", seen)
	}
}

// TestStreamTriggerAckWaitAndRemove: the trigger's ackWait is its
// consumer's; removing the trigger through the API deletes the consumer,
// and adding it again makes a new one with the new setting.
func TestStreamTriggerAckWaitAndRemove(t *testing.T) {
	h := &said{lines: map[string]int{}}
	srv, n := startLogged(t, t.TempDir(), h)
	if code, out := n.deploy(`{"name":"say"}`, testutil.Module(t, "testdata/say")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	_, js := jetStream(t, srv.NATSURL(), true)
	ctx := context.Background()
	ackWait := func() (time.Duration, error) {
		c, err := js.Consumer(ctx, "ORDERS", streamtrigger.Durable("orders"))
		if err != nil {
			return 0, err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return 0, err
		}
		return info.Config.AckWait, nil
	}

	n.addTrigger(`{"id":"orders","kind":"stream","stream":"ORDERS","function":"say","ackWait":"3s"}`)
	testutil.Eventually(t, 10*time.Second, "trigger running", func() bool { return n.triggerRunning("orders") })
	if d, err := ackWait(); err != nil || d != 3*time.Second {
		t.Fatalf("consumer AckWait %s, %v; want 3s", d, err)
	}
	if _, err := js.Publish(ctx, "orders.1", []byte("first")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the message processed", func() bool { return consumerDone(js, "orders") })

	// Replaced in place (what `baton deploy -f` does to a changed
	// trigger): the consumer takes the new setting and keeps its place.
	code, body := n.admin("PUT", "/api/v1/triggers/orders", strings.NewReader(`{"kind":"stream","stream":"ORDERS","function":"say","ackWait":"5s"}`), "application/json")
	if code != 200 {
		t.Fatalf("put: %d %s", code, body)
	}
	testutil.Eventually(t, 10*time.Second, "the consumer updated", func() bool {
		d, err := ackWait()
		return err == nil && d == 5*time.Second && n.triggerRunning("orders")
	})
	if _, err := js.Publish(ctx, "orders.2", []byte("second")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the second message processed", func() bool {
		distinct, _ := h.distinct()
		return distinct == 2 && consumerDone(js, "orders")
	})
	if distinct, total := h.distinct(); distinct != 2 || total != 2 {
		t.Fatalf("after the replace: %d distinct messages in %d invocations, want 2 in 2 (none again)", distinct, total)
	}
	if code, body := n.admin("PUT", "/api/v1/triggers/orders", strings.NewReader(`{"id":"other","kind":"stream","stream":"ORDERS","function":"say"}`), "application/json"); code != 400 {
		t.Fatalf("put with another id in the body: %d %s", code, body)
	}

	if code, body := n.admin("DELETE", "/api/v1/triggers/orders", nil, ""); code != 200 {
		t.Fatalf("rm: %d %s", code, body)
	}
	testutil.Eventually(t, 10*time.Second, "the consumer deleted", func() bool {
		_, err := js.Consumer(ctx, "ORDERS", streamtrigger.Durable("orders"))
		return errors.Is(err, jetstream.ErrConsumerNotFound)
	})

	n.addTrigger(`{"id":"orders","kind":"stream","stream":"ORDERS","function":"say","ackWait":"1m"}`)
	testutil.Eventually(t, 10*time.Second, "trigger running again", func() bool { return n.triggerRunning("orders") })
	if d, err := ackWait(); err != nil || d != time.Minute {
		t.Fatalf("consumer AckWait %s, %v; want 1m", d, err)
	}
}

// TestStreamTriggerRestartMidBatch stops the node while it works through
// 200 messages and starts another on the same data: every message is
// processed at least once, and exactly the 200 are.
func TestStreamTriggerRestartMidBatch(t *testing.T) {
	const N = 200
	dir := t.TempDir()
	h := &said{lines: map[string]int{}}
	srv, n := startLogged(t, dir, h)
	if code, out := n.deploy(`{"name":"say"}`, testutil.Module(t, "testdata/say")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	_, js := jetStream(t, srv.NATSURL(), true)
	n.addTrigger(`{"id":"orders","kind":"stream","stream":"ORDERS","function":"say","concurrency":2,"batch":8}`)
	ctx := context.Background()
	for i := range N {
		if _, err := js.Publish(ctx, fmt.Sprintf("orders.%d", i), fmt.Appendf(nil, "m-%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 30*time.Second, "some messages processed", func() bool {
		d, _ := h.distinct()
		return d >= 20
	})
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := h.distinct()
	if before >= N {
		t.Fatalf("all %d messages were processed before the stop: the test did not stop the node mid-batch", N)
	}

	srv2, _ := startLogged(t, dir, h)
	_, js2 := jetStream(t, srv2.NATSURL(), false)
	testutil.Eventually(t, 60*time.Second, "every message processed after the restart", func() bool {
		d, _ := h.distinct()
		return d == N && consumerDone(js2, "orders")
	})
	d, total := h.distinct()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range N {
		if h.lines[fmt.Sprintf("m-%03d", i)] == 0 {
			t.Errorf("m-%03d was never processed", i)
		}
	}
	if d != N {
		t.Fatalf("%d distinct messages processed, want %d", d, N)
	}
	t.Logf("processed %d before the stop; %d distinct, %d invocations in all (%d redelivered)", before, d, total, total-d)
}
