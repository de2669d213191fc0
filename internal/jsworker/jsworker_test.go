package jsworker_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/internal/jsworker"
	"github.com/baton-run/baton/internal/testutil"
)

// TestConsumeBoundsAndDrains handles every message with at most `workers`
// at once, and returns after ctx ends only when the handlers have.
func TestConsumeBoundsAndDrains(t *testing.T) {
	_, nc := testutil.NATS(t, "")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "W", Subjects: []string{"w.>"}}); err != nil {
		t.Fatal(err)
	}
	const n, workers = 40, 3
	for i := 0; i < n; i++ {
		if _, err := js.Publish(ctx, "w.x", []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "W", jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	var handled, running, peak atomic.Int64
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- jsworker.Consume(runCtx, cons, workers, time.Second, slog.Default(), func(_ context.Context, m jetstream.Msg) {
			now := running.Add(1)
			for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
			}
			time.Sleep(2 * time.Millisecond)
			running.Add(-1)
			_ = m.Ack()
			handled.Add(1)
		})
	}()
	testutil.Eventually(t, 10*time.Second, "every message handled", func() bool { return handled.Load() == n })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if running.Load() != 0 {
		t.Fatal("Consume returned with handlers still running")
	}
	if p := peak.Load(); p > workers {
		t.Fatalf("%d handlers ran at once, more than %d workers", p, workers)
	}
}
