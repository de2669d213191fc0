package async_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/internal/async"
	"github.com/baton-run/baton/internal/testutil"
)

// busyFunc answers busy while busy is set, else succeeds; it keeps the
// attempt numbers it was called with.
type busyFunc struct {
	busy atomic.Int32 // busy answers left; negative: always busy
	mu   sync.Mutex
	seen []int
}

func (f *busyFunc) invoke(_ context.Context, _ *async.Job, attempt int) (*async.Result, error) {
	f.mu.Lock()
	f.seen = append(f.seen, attempt)
	f.mu.Unlock()
	if left := f.busy.Load(); left != 0 {
		if left > 0 {
			f.busy.Add(-1)
		}
		return nil, &event.Error{Code: event.CodeBusy, Message: "every instance is busy and the wait queue is full"}
	}
	return &async.Result{Status: 200, Body: "ok"}, nil
}

func (f *busyFunc) last() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[len(f.seen)-1]
}

// openQueue runs a queue on a real JetStream until the test ends.
func openQueue(t *testing.T, opts async.Options) *async.Queue {
	t.Helper()
	_, nc := testutil.NATS(t, "")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	q, err := async.Open(context.Background(), js, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := q.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return q
}

func await(t *testing.T, q *async.Queue, id string, want async.Status) *async.Record {
	t.Helper()
	var rec *async.Record
	testutil.Eventually(t, 30*time.Second, "invocation "+id+" to be "+string(want), func() bool {
		var err error
		rec, err = q.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status.Final() && rec.Status != want {
			t.Fatalf("invocation %s is %s, want %s: %+v", id, rec.Status, want, rec)
		}
		return rec.Status == want
	})
	return rec
}

func submit(t *testing.T, q *async.Queue) string {
	t.Helper()
	id, _, err := q.Submit(context.Background(), &async.Job{Function: "f", Event: async.Event{ID: "e", Source: "test", Type: "test", Time: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestQueueBusyIsNotAnAttempt: busy answers are left out of the attempts
// and of the attempt number.
func TestQueueBusyIsNotAnAttempt(t *testing.T) {
	f := &busyFunc{}
	f.busy.Store(3)
	q := openQueue(t, async.Options{Node: "n1", Workers: 4, Invoke: f.invoke,
		Policy: func(string) async.Policy { return async.Policy{MaxRetries: 0, Backoff: 10 * time.Millisecond} }})
	id := submit(t, q)
	rec := await(t, q, id, async.StatusSucceeded)
	if len(rec.Attempts) != 1 || rec.Attempts[0].Attempt != 1 || rec.Attempts[0].Code != "" {
		t.Fatalf("attempts %+v, want one: attempt 1, succeeded", rec.Attempts)
	}
	if rec.BusyDeliveries != 3 || rec.BusyStreak != 0 || !rec.BusySince.IsZero() {
		t.Fatalf("busy counts %d, %d, %s: want 3 deliveries and no streak", rec.BusyDeliveries, rec.BusyStreak, rec.BusySince)
	}
	if got := f.last(); got != 1 {
		t.Fatalf("the function ran as attempt %d, want 1", got)
	}
}

// TestQueueBusyBound: a function busy for longer than MaxBusyWait makes
// busy a failed attempt, so the invocation dead-letters; a redrive starts
// the busy count of the new run from zero.
func TestQueueBusyBound(t *testing.T) {
	f := &busyFunc{}
	f.busy.Store(-1)
	q := openQueue(t, async.Options{Node: "n1", Workers: 4, MaxBusyWait: 300 * time.Millisecond, Invoke: f.invoke,
		Policy: func(string) async.Policy { return async.Policy{MaxRetries: 1, Backoff: 10 * time.Millisecond} }})
	id := submit(t, q)
	rec := await(t, q, id, async.StatusDead)
	if len(rec.Attempts) != 2 {
		t.Fatalf("attempts %+v, want 2 (busy counted once past the bound)", rec.Attempts)
	}
	for i, a := range rec.Attempts {
		if a.Attempt != i+1 || a.Code != event.CodeBusy || !strings.Contains(a.Message, "in a row") {
			t.Fatalf("attempt %d: %+v, want a busy failure", i+1, a)
		}
	}
	if rec.BusyDeliveries < 2 || rec.Error == nil || rec.Error.Code != event.CodeBusy {
		t.Fatalf("dead record %+v: want at least 2 busy deliveries and error busy", rec)
	}

	f.busy.Store(0)
	rec, err := q.Redrive(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.BusyDeliveries != 0 || rec.BusyStreak != 0 || !rec.BusySince.IsZero() {
		t.Fatalf("after redrive %+v: want the busy counts reset", rec)
	}
	rec = await(t, q, id, async.StatusSucceeded)
	if len(rec.Attempts) != 3 || rec.Attempts[2].Attempt != 3 || f.last() != 3 {
		t.Fatalf("after redrive: attempts %+v, last run as attempt %d; want attempt 3", rec.Attempts, f.last())
	}
}
