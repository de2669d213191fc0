package chain

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/internal/testutil"
	"github.com/baton-run/baton/scheduler/asl"
)

// An ended execution's record expires after the history retention; a
// running one (here, in a long Wait) does not.
func TestEndedExecutionsExpire(t *testing.T) {
	_, nc := testutil.NATS(t, "")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e, err := Open(ctx, js, Options{Invoke: echo, HistoryRetention: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	run(t, e)
	if _, _, err := e.Deploy(ctx, "quick", taskChain(2)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Deploy(ctx, "slow", []byte(`{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}`)); err != nil {
		t.Fatal(err)
	}
	slow, err := e.Start(ctx, "slow", json.RawMessage(`{}`), StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	quick, err := e.Start(ctx, "quick", json.RawMessage(`{"a":1}`), StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	x, err := e.Wait(wctx, quick.ID)
	if err != nil || x.Status != asl.StatusSucceeded {
		t.Fatalf("quick: %v %+v", err, x)
	}
	testutil.Eventually(t, 15*time.Second, "the ended execution's record to expire", func() bool {
		_, err := e.Get(ctx, quick.ID)
		return event.CodeOf(err) == event.CodeNotFound
	})
	// slow started before quick ended: it would be gone too had its
	// records a TTL.
	x, err = e.Get(ctx, slow.ID)
	if err != nil || x.Status != asl.StatusRunning {
		t.Fatalf("slow: %v %+v", err, x)
	}
	if _, err := e.Stop(ctx, slow.ID, "", ""); err != nil {
		t.Fatal(err)
	}
}
