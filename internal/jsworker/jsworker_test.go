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

// TestKeepAliveOutlastsAckWait works on a message for several times the
// consumer's AckWait while KeepAlive runs: it is not redelivered, and no
// heartbeat goes out after stop.
func TestKeepAliveOutlastsAckWait(t *testing.T) {
	_, nc := testutil.NATS(t, "")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "K", Subjects: []string{"k.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "k.x", []byte("m")); err != nil {
		t.Fatal(err)
	}
	const ackWait = 300 * time.Millisecond
	cons, err := js.CreateOrUpdateConsumer(ctx, "K", jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1)
	if err != nil {
		t.Fatal(err)
	}
	msg := <-batch.Messages()
	if msg == nil {
		t.Fatal("no message")
	}
	stop := jsworker.KeepAlive(msg, ackWait/3)
	// Work for 4×AckWait, checking that the server does not hand the
	// message out again meanwhile.
	deadline := time.Now().Add(4 * ackWait)
	for time.Now().Before(deadline) {
		again, err := cons.Fetch(1, jetstream.FetchMaxWait(ackWait/2))
		if err != nil {
			t.Fatal(err)
		}
		for m := range again.Messages() {
			t.Fatalf("redelivered while kept alive: %s", m.Data())
		}
	}
	stop()
	if err := msg.DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil || info.NumAckPending != 0 || info.NumRedelivered != 0 {
		t.Fatalf("consumer after ack: %+v %v", info, err)
	}
}
