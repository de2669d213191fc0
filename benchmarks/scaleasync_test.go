package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baton-run/baton/internal/testutil"
)

// Both sides of scale_up_rate make one instance per caller.
func TestScaleUpSidesCreateEveryInstance(t *testing.T) {
	ctx := context.Background()
	name, wasm := goGuest(t)
	s, err := newScaleFromZero(ctx, name, wasm, testutil.CacheDir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close(ctx)
	u := &scaleUp{s: s, wasm: wasm, n: 4}
	for _, side := range []struct {
		name string
		f    func(context.Context) (float64, error)
	}{{"raw", u.raw}, {"baton", u.baton}} {
		rate, err := side.f(ctx) // baton checks Stats().Created
		if err != nil {
			t.Fatalf("%s: %v", side.name, err)
		}
		if rate <= 0 {
			t.Errorf("%s: rate %v", side.name, rate)
		}
	}
}

func msg(data string) *nats.Msg { return &nats.Msg{Subject: "s", Data: []byte(data)} }

// doneCounter finishes a round when each of its ids has arrived once,
// whether before or after waitAll, and ignores duplicates and other ids.
func TestDoneCounter(t *testing.T) {
	ctx := context.Background()
	c := newDoneCounter()
	c.handle(msg(`{"id":"a","status":"succeeded"}`)) // before the round
	go func() {
		c.handle(msg(`{"id":"x","status":"succeeded"}`)) // not in the round
		c.handle(msg(`{"id":"b","status":"succeeded"}`))
		c.handle(msg(`{"id":"b","status":"succeeded"}`))
		c.handle(msg(`{"id":"c","status":"succeeded"}`))
	}()
	end, err := c.waitAll(ctx, []string{"a", "b", "c"}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if end.IsZero() {
		t.Error("no end time")
	}
	// Duplicates do not count: "b" again does not finish a round of "b", "d".
	c.handle(msg(`{"id":"b","status":"succeeded"}`))
	if _, err := c.waitAll(ctx, []string{"b", "d"}, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "1 of 2") {
		t.Errorf("waitAll with d missing: %v", err)
	}
	c.handle(msg(`{"id":"e","status":"failed"}`))
	if _, err := c.waitAll(ctx, []string{"e"}, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "unexpected completion") {
		t.Errorf("waitAll after a failed record: %v", err)
	}
}

// The async baseline completes every job it stores, with one and two
// consumers.
func TestFloorCompletesEveryJob(t *testing.T) {
	ctx := context.Background()
	ns, _ := testutil.NATS(t, "")
	f, err := newFloor(ctx, ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	for workers := 1; workers <= 2; workers++ {
		if err := f.addWorker(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := measureAsync(ctx, f.counter, 50, 4, f.submit)
		if err != nil {
			t.Fatalf("%d consumer(s): %v", workers, err)
		}
		if r.rate <= 0 {
			t.Errorf("%d consumer(s): rate %v", workers, r.rate)
		}
	}
}
