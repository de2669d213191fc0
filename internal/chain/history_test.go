package chain

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/internal/testutil"
	"github.com/baton-run/baton/scheduler/asl"
)

func openEngine(t *testing.T, js jetstream.JetStream, invoke InvokeFunc) *Engine {
	t.Helper()
	e, err := Open(context.Background(), js, Options{Invoke: invoke, AckWait: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// run runs e's workers until the test ends or the returned func is called.
func run(t *testing.T, e *Engine) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = e.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func taskChain(n int) []byte {
	states := map[string]any{}
	for i := 1; i <= n; i++ {
		st := map[string]any{"Type": "Task", "Resource": "fn:f"}
		if i == n {
			st["End"] = true
		} else {
			st["Next"] = "S" + strconv.Itoa(i+1)
		}
		states["S"+strconv.Itoa(i)] = st
	}
	b, _ := json.Marshal(map[string]any{"StartAt": "S1", "States": states})
	return b
}

func checkIDs(t *testing.T, h []HistoryEntry) {
	t.Helper()
	next := map[string]int64{}
	for _, ev := range h {
		if want := next[ev.Execution] + 1; ev.ID != want {
			t.Fatalf("history of %s: event %d (%s) where %d was expected", ev.Execution, ev.ID, ev.Type, want)
		}
		next[ev.Execution] = ev.ID
	}
}

func echo(_ context.Context, call *asl.TaskCall, _ string) (json.RawMessage, error) {
	return call.Input, nil
}

// TestHistoryKeepsFirstOfRepeatedEvents: a batch published twice (two
// writers flushing the same outbox) shows once, and the outbox of the
// record shows what the stream lacks.
func TestHistoryKeepsFirstOfRepeatedEvents(t *testing.T) {
	_, nc := testutil.NATS(t, "")
	js, _ := jetstream.New(nc)
	e := openEngine(t, js, echo)
	ctx := context.Background()
	if _, _, err := e.Deploy(ctx, "c", taskChain(1)); err != nil {
		t.Fatal(err)
	}
	x, err := e.Start(ctx, "c", nil, StartOptions{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	evs := func(from, to int64) []asl.HistoryEvent {
		var out []asl.HistoryEvent
		for i := from; i <= to; i++ {
			out = append(out, asl.HistoryEvent{ID: i, Type: "E" + strconv.FormatInt(i, 10)})
		}
		return out
	}
	for _, b := range [][2]int64{{1, 2}, {1, 3}, {2, 3}, {4, 4}} {
		f, err := e.publishEvents(x.ID, evs(b[0], b[1]), nil)
		if err == nil {
			err = waitAck(ctx, f)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if last, err := e.lastRecorded(ctx, x.ID); err != nil || last != 4 {
		t.Fatalf("lastRecorded = %d, %v; want 4", last, err)
	}
	// The record's outbox: 3 and 4 are in the stream, 5 is not yet.
	rec, rev, err := e.load(ctx, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	rec.Outbox = evs(3, 5)
	if _, err := e.save(ctx, rec, rev); err != nil {
		t.Fatal(err)
	}
	h, err := e.History(ctx, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 5 {
		t.Fatalf("history has %d events, want 5: %+v", len(h), h)
	}
	checkIDs(t, h)
	// Flushing publishes only the missing event.
	if err := e.flushOutbox(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if last, _ := e.lastRecorded(ctx, x.ID); last != 5 {
		t.Fatalf("after the flush the last recorded event is %d, want 5", last)
	}
	info, _ := e.history.Info(ctx)
	if info.State.Msgs != 5 {
		t.Errorf("the stream has %d messages, want 5 (4 published + 1 flushed)", info.State.Msgs)
	}
}

// TestExecutionResumesOnAnotherEngine stops the node running a chain in
// the middle of a task; another one finishes it from the last recorded
// transition, and every event is in the history once.
func TestExecutionResumesOnAnotherEngine(t *testing.T) {
	_, nc := testutil.NATS(t, "")
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	entered := make(chan struct{})
	var calls atomic.Int32
	first := openEngine(t, js, func(ctx context.Context, call *asl.TaskCall, key string) (json.RawMessage, error) {
		if calls.Add(1) == 4 { // S4: hang until the node stops
			close(entered)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return call.Input, nil
	})
	if _, _, err := first.Deploy(ctx, "c", taskChain(8)); err != nil {
		t.Fatal(err)
	}
	stopFirst := run(t, first)
	x, err := first.Start(ctx, "c", json.RawMessage(`{"n":1}`), StartOptions{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the execution did not reach S4")
	}
	stopFirst()
	if got, _ := first.Get(ctx, x.ID); got.State.State != "S4" || got.Final() {
		t.Fatalf("after the stop: %s in %s", got.Status, got.State.State)
	}
	second := openEngine(t, js, echo)
	run(t, second)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	got, err := second.Wait(wctx, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != asl.StatusSucceeded || string(got.Output) != `{"n":1}` || got.State.Transitions != 8 {
		t.Fatalf("%s %s %s, %d transitions", got.Status, got.Output, got.Cause, got.State.Transitions)
	}
	h, err := second.History(ctx, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, h)
	if n := h[len(h)-1].ID; n != got.State.Seq || h[len(h)-1].Type != "ExecutionSucceeded" {
		t.Fatalf("history ends with %d %s, want %d ExecutionSucceeded", n, h[len(h)-1].Type, got.State.Seq)
	}
	// Everything is in the stream, not only in the record's outbox.
	if last, _ := second.lastRecorded(ctx, x.ID); last != got.State.Seq {
		t.Fatalf("the stream ends at event %d, want %d", last, got.State.Seq)
	}
}

// The start of an execution that leads to a task is recorded with the
// step that ends the task: a node that stops during the first task leaves
// the record not started and the history empty, and another node replays
// the start into the same task call, with the same idempotency key.
func TestFirstTaskReplaysTheStart(t *testing.T) {
	_, nc := testutil.NATS(t, "")
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	entered := make(chan string, 1)
	first := openEngine(t, js, func(ctx context.Context, call *asl.TaskCall, key string) (json.RawMessage, error) {
		entered <- key
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if _, _, err := first.Deploy(ctx, "c", taskChain(2)); err != nil {
		t.Fatal(err)
	}
	stopFirst := run(t, first)
	x, err := first.Start(ctx, "c", json.RawMessage(`{"n":1}`), StartOptions{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var firstKey string
	select {
	case firstKey = <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the first task did not start")
	}
	stopFirst()
	got, err := first.Get(ctx, x.ID)
	if err != nil || got.State.Status != "" || len(got.Outbox) != 0 {
		t.Fatalf("after the stop: %+v %v; want the record not started", got, err)
	}
	if last, _ := first.lastRecorded(ctx, x.ID); last != 0 {
		t.Fatalf("the history has events up to %d of a start never recorded", last)
	}
	keys := make(chan string, 4)
	second := openEngine(t, js, func(_ context.Context, call *asl.TaskCall, key string) (json.RawMessage, error) {
		keys <- key
		return call.Input, nil
	})
	run(t, second)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if got, err = second.Wait(wctx, x.ID); err != nil || got.Status != asl.StatusSucceeded {
		t.Fatalf("%+v %v", got, err)
	}
	if k := <-keys; k != firstKey {
		t.Fatalf("the replayed first task has key %q, want %q", k, firstKey)
	}
	h, err := second.History(ctx, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, h)
	if h[0].Type != "ExecutionStarted" || h[len(h)-1].Type != "ExecutionSucceeded" {
		t.Fatalf("history %s … %s", h[0].Type, h[len(h)-1].Type)
	}
}
