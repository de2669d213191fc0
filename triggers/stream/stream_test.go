package streamtrigger

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/internal/testutil"
	"github.com/baton-run/baton/triggers"
)

func TestValidate(t *testing.T) {
	base := triggers.Spec{ID: "t", Kind: Kind, Function: "f", Stream: "ORDERS"}
	tests := []struct {
		name  string
		edit  func(*triggers.Spec)
		field string // "" = valid
	}{
		{"minimal", func(*triggers.Spec) {}, ""},
		{"all fields", func(s *triggers.Spec) {
			s.Filter, s.Concurrency, s.Batch, s.MaxDeliver, s.Backoff, s.AckWait = "orders.*", 8, 100, 10, "250ms", "2m"
		}, ""},
		{"shortest ackWait", func(s *triggers.Spec) { s.AckWait = "1s" }, ""},
		{"longest ackWait", func(s *triggers.Spec) { s.AckWait = "12h" }, ""},
		{"bad ackWait", func(s *triggers.Spec) { s.AckWait = "a while" }, "ackWait"},
		{"tiny ackWait", func(s *triggers.Spec) { s.AckWait = "999ms" }, "ackWait"},
		{"huge ackWait", func(s *triggers.Spec) { s.AckWait = "12h1s" }, "ackWait"},
		{"negative ackWait", func(s *triggers.Spec) { s.AckWait = "-5s" }, "ackWait"},
		{"baton subject filter", func(s *triggers.Spec) { s.Filter = "baton.async.>" }, ""},
		{"no stream", func(s *triggers.Spec) { s.Stream = "" }, "stream"},
		{"dotted stream", func(s *triggers.Spec) { s.Stream = "a.b" }, "stream"},
		{"spaced stream", func(s *triggers.Spec) { s.Stream = "a b" }, "stream"},
		{"bad filter", func(s *triggers.Spec) { s.Filter = "a..b" }, "filter"},
		{"negative concurrency", func(s *triggers.Spec) { s.Concurrency = -1 }, "concurrency"},
		{"huge concurrency", func(s *triggers.Spec) { s.Concurrency = MaxConcurrency + 1 }, "concurrency"},
		{"huge batch", func(s *triggers.Spec) { s.Batch = MaxBatch + 1 }, "batch"},
		{"negative maxDeliver", func(s *triggers.Spec) { s.MaxDeliver = -2 }, "maxDeliver"},
		{"bad backoff", func(s *triggers.Spec) { s.Backoff = "soon" }, "backoff"},
		{"tiny backoff", func(s *triggers.Spec) { s.Backoff = "1ms" }, "backoff"},
		{"foreign field", func(s *triggers.Spec) { s.Subject = "a" }, "subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			tt.edit(&s)
			err := s.Validate()
			var fe *triggers.FieldError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("valid spec refused: %v", err)
			case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
				t.Fatalf("error %v, want one about %s", err, tt.field)
			}
		})
	}
	// Stream fields are refused by other kinds.
	err := triggers.Spec{Kind: "nats", Function: "f", Subject: "a", Batch: 3}.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), "batch:") {
		t.Fatalf("nats with batch: %v", err)
	}
	err = triggers.Spec{Kind: "nats", Function: "f", Subject: "a", AckWait: "5s"}.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), "ackWait:") {
		t.Fatalf("nats with ackWait: %v", err)
	}
}

func TestParseAckWait(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{{"", DefaultAckWait}, {"1s", time.Second}, {"90s", 90 * time.Second}, {"12h", 12 * time.Hour}} {
		set, err := parse(triggers.Spec{Kind: Kind, Stream: "S", AckWait: tt.in})
		if err != nil || set.ackWait != tt.want {
			t.Errorf("ackWait %q: %s, %v; want %s", tt.in, set.ackWait, err, tt.want)
		}
	}
	_, err := parse(triggers.Spec{Kind: Kind, Stream: "S", AckWait: "0s"})
	if err == nil || err.Error() != `ackWait: "0s" is not a duration between 1s and 12h0m0s` {
		t.Fatalf("ackWait 0s: %v", err)
	}
}

func TestKeepConsumer(t *testing.T) {
	old := triggers.Spec{ID: "t", Kind: Kind, Function: "f", Stream: "S"}
	tests := []struct {
		name   string
		stored *triggers.Spec
		want   bool
	}{
		{"deleted", nil, false},
		{"replaced on the same stream", &triggers.Spec{ID: "t", Kind: Kind, Function: "g", Stream: "S", AckWait: "5s", Filter: "s.x"}, true},
		{"replaced on another stream", &triggers.Spec{ID: "t", Kind: Kind, Function: "f", Stream: "T"}, false},
		{"replaced by another kind", &triggers.Spec{ID: "t", Kind: "nats", Function: "f", Subject: "S"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keepConsumer(old, tt.stored); got != tt.want {
				t.Fatalf("keepConsumer = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		err       error
		delivered int
		stopping  bool
		want      Outcome
	}{
		{"success", nil, 1, false, Ack},
		{"success while stopping", nil, 1, true, Ack},
		{"first failure", boom, 1, false, Retry},
		{"failure before the last", boom, 4, false, Retry},
		{"last delivery fails", boom, 5, false, DeadLetter},
		{"beyond the last", boom, 9, false, DeadLetter},
		{"cancelled by a stop", boom, 5, true, Release},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.err, tt.delivered, 5, tt.stopping); got != tt.want {
				t.Fatalf("Decide = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		n    int
		want time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {9, 256 * time.Second},
		{10, MaxBackoff}, {1000, MaxBackoff},
	}
	for _, tt := range tests {
		if got := Backoff(time.Second, tt.n); got != tt.want {
			t.Errorf("Backoff(1s, %d) = %s, want %s", tt.n, got, tt.want)
		}
	}
}

// recorder is an Env.Invoke that records the events and fails those
// whose data is "fail".
type recorder struct {
	mu     sync.Mutex
	events []*event.Event
}

func (r *recorder) invoke(_ context.Context, _ string, ev *event.Event) (*event.Response, error) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	if string(ev.Data) == "fail" {
		return nil, event.Errorf(event.CodeFunctionError, "failed\non purpose")
	}
	return &event.Response{Status: 200}, nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func setup(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	_, nc := testutil.NATS(t, "")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func startTrigger(t *testing.T, nc *nats.Conn, js jetstream.JetStream, spec triggers.Spec, inv func(context.Context, string, *event.Event) (*event.Response, error)) triggers.Trigger {
	t.Helper()
	tr, err := triggers.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	env := triggers.Env{Node: "n1", NATS: nc, JetStream: js, Logger: slog.New(slog.DiscardHandler), Invoke: inv}
	if err := tr.Start(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Stop(context.Background()) })
	return tr
}

func TestEventAndDeadLetter(t *testing.T) {
	nc, js := setup(t)
	ctx := context.Background()
	rec := &recorder{}
	startTrigger(t, nc, js, triggers.Spec{ID: "t1", Kind: Kind, Function: "f", Stream: "S", MaxDeliver: 2, Backoff: "10ms"}, rec.invoke)

	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: "s.a", Data: []byte("hello"), Header: nats.Header{"X-Key": {"v"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s.b", []byte("fail")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "three invocations", func() bool { return rec.count() == 3 })

	rec.mu.Lock()
	ev := rec.events[0]
	if string(ev.Data) != "hello" {
		ev = rec.events[1]
	}
	rec.mu.Unlock()
	if ev.ID != "1" || ev.Subject != "s.a" || string(ev.Data) != "hello" || ev.Header.Get("X-Key") != "v" ||
		ev.Header.Get("X-Baton-Trigger") != "t1" || ev.Source != "stream" || ev.Attempt != 1 || ev.InvocationID == "" {
		t.Fatalf("event %+v", ev)
	}

	dlq, err := js.Stream(ctx, DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	var m *jetstream.RawStreamMsg
	testutil.Eventually(t, 10*time.Second, "the dead letter", func() bool {
		m, err = dlq.GetLastMsgForSubject(ctx, DLQSubjectPrefix+"t1")
		return err == nil
	})
	if string(m.Data) != "fail" || m.Header.Get(ErrorHeader) != "function_error: failed on purpose" ||
		m.Header.Get(SequenceHeader) != "2" || m.Header.Get(DeliveriesHeader) != "2" || m.Header.Get(SubjectHeader) != "s.b" {
		t.Fatalf("dead letter %q %v", m.Data, m.Header)
	}
	if rec.count() != 3 {
		t.Fatalf("%d invocations, want 3 (no delivery after the dead letter)", rec.count())
	}
}

// TestStopReleasesInFlight: a trigger stopped while its invocations hang
// cancels them and nacks their messages, which a new trigger on the same
// consumer then gets at once; every message is handled by the end.
func TestStopReleasesInFlight(t *testing.T) {
	nc, js := setup(t)
	ctx := context.Background()
	spec := triggers.Spec{ID: "t2", Kind: Kind, Function: "f", Stream: "S", Concurrency: 2, Batch: 4}
	started := make(chan struct{}, 100)
	hang := func(ctx context.Context, _ string, _ *event.Event) (*event.Response, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	tr := startTrigger(t, nc, js, spec, hang)
	const N = 10
	for i := range N {
		if _, err := js.Publish(ctx, "s.x", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	<-started
	<-started
	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := tr.Stop(sctx); err != nil {
		t.Fatal(err)
	}

	rec := &recorder{}
	startTrigger(t, nc, js, spec, rec.invoke)
	// Well within AckWait: the released messages come back at once.
	testutil.Eventually(t, DefaultAckWait/2, "every message handled", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		seen := map[string]bool{}
		for _, ev := range rec.events {
			seen[string(ev.Data)] = true
		}
		return len(seen) == N
	})
}

// consumerInfo returns the info of trigger id's consumer on S, or the
// error of looking it up.
func consumerInfo(js jetstream.JetStream, id string) (*jetstream.ConsumerInfo, error) {
	c, err := js.Consumer(context.Background(), "S", Durable(id))
	if err != nil {
		return nil, err
	}
	return c.Info(context.Background())
}

// TestManagerReplaceAndDelete runs a stream trigger through a Manager
// and a Store, as a node does: a spec replaced on the same stream (here a
// new ackWait) updates the consumer and keeps its place in the stream;
// deleting the trigger deletes the consumer.
func TestManagerReplaceAndDelete(t *testing.T) {
	nc, js := setup(t)
	ctx := context.Background()
	store, err := triggers.OpenStore(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	m := triggers.NewManager(triggers.Env{Node: "n1", NATS: nc, JetStream: js, Logger: slog.New(slog.DiscardHandler), Invoke: rec.invoke})
	t.Cleanup(func() { _ = m.Close(ctx) })

	apply := func(spec triggers.Spec) {
		t.Helper()
		_ = store.Delete(ctx, spec.ID)
		if _, err := store.Create(ctx, spec); err != nil {
			t.Fatal(err)
		}
		m.Apply(ctx, spec.ID, &spec)
		if ok, why := m.Status(spec.ID); !ok {
			t.Fatalf("trigger not running: %s", why)
		}
	}
	spec := triggers.Spec{ID: "t3", Kind: Kind, Function: "f", Stream: "S", AckWait: "5s"}
	apply(spec)
	info, err := consumerInfo(js, "t3")
	if err != nil || info.Config.AckWait != 5*time.Second {
		t.Fatalf("consumer %+v, %v; want AckWait 5s", info, err)
	}
	const N = 5
	for i := range N {
		if _, err := js.Publish(ctx, "s.x", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, "every message acked", func() bool {
		info, err := consumerInfo(js, "t3")
		return err == nil && info.AckFloor.Stream == N
	})

	spec.AckWait = "2m"
	apply(spec)
	info, err = consumerInfo(js, "t3")
	if err != nil || info.Config.AckWait != 2*time.Minute || info.AckFloor.Stream != N {
		t.Fatalf("consumer after the replace: %+v, %v; want AckWait 2m and its ack floor at %d", info, err, N)
	}
	if _, err := js.Publish(ctx, "s.x", []byte("after")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the new message handled", func() bool { return rec.count() == N+1 })

	// Deleted: the store first, then the manager (as the API does).
	if err := store.Delete(ctx, "t3"); err != nil {
		t.Fatal(err)
	}
	m.Apply(ctx, "t3", nil)
	if _, err := consumerInfo(js, "t3"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("consumer after the delete: %v, want ErrConsumerNotFound", err)
	}
	if rec.count() != N+1 {
		t.Fatalf("%d invocations, want %d: the replace started over", rec.count(), N+1)
	}
}

// TestRemoveIdempotent: Remove of a deleted trigger deletes its consumer
// and succeeds again when the consumer, or even the stream, is gone.
func TestRemoveIdempotent(t *testing.T) {
	nc, js := setup(t)
	ctx := context.Background()
	rec := &recorder{}
	tr := startTrigger(t, nc, js, triggers.Spec{ID: "t4", Kind: Kind, Function: "f", Stream: "S"}, rec.invoke)
	if err := tr.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	env := triggers.Env{JetStream: js}
	rm := tr.(triggers.Remover)
	for i := range 2 {
		if err := rm.Remove(ctx, env); err != nil {
			t.Fatalf("Remove %d: %v", i+1, err)
		}
		if _, err := consumerInfo(js, "t4"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Fatalf("consumer after Remove %d: %v", i+1, err)
		}
	}
	if err := js.DeleteStream(ctx, "S"); err != nil {
		t.Fatal(err)
	}
	if err := rm.Remove(ctx, env); err != nil {
		t.Fatalf("Remove without the stream: %v", err)
	}
}

// TestAckWaitRedeliversFromDeadNode: a node whose connection dies with
// invocations in flight (no more keep-alives, no nak) loses its messages
// to another node once the trigger's ackWait (1s) passes, well before the
// default would.
func TestAckWaitRedeliversFromDeadNode(t *testing.T) {
	ns, _ := testutil.NATS(t, "")
	ctx := context.Background()
	connect := func() (*nats.Conn, jetstream.JetStream) {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return nc, js
	}
	nc1, js1 := connect()
	if _, err := js1.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	const N = 4
	spec := triggers.Spec{ID: "t5", Kind: Kind, Function: "f", Stream: "S", Concurrency: N, AckWait: "1s"}
	started := make(chan struct{}, N)
	hang := func(ctx context.Context, _ string, _ *event.Event) (*event.Response, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	dead, err := triggers.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := dead.Start(ctx, triggers.Env{Node: "dead", NATS: nc1, JetStream: js1, Logger: slog.New(slog.DiscardHandler), Invoke: hang}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_ = dead.Stop(sctx)
	})
	for i := range N {
		if _, err := js1.Publish(ctx, "s.x", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for range N {
		<-started
	}
	nc1.Close() // the node dies: its messages stay unacked

	nc2, js2 := connect()
	rec := &recorder{}
	startTrigger(t, nc2, js2, spec, rec.invoke)
	testutil.Eventually(t, DefaultAckWait/2, "every message redelivered to the live node", func() bool { return rec.count() >= N })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, ev := range rec.events {
		if ev.Attempt < 2 {
			t.Errorf("message %s: attempt %d, want a redelivery", ev.ID, ev.Attempt)
		}
	}
}
