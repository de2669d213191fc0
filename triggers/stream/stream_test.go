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
			s.Filter, s.Concurrency, s.Batch, s.MaxDeliver, s.Backoff = "orders.*", 8, 100, 10, "250ms"
		}, ""},
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
	testutil.Eventually(t, AckWait/2, "every message handled", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		seen := map[string]bool{}
		for _, ev := range rec.events {
			seen[string(ev.Data)] = true
		}
		return len(seen) == N
	})
}
