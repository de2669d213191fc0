package chain

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/internal/testutil"
	"github.com/baton-run/baton/scheduler/asl"
)

// Stopping an execution cancels the task it is running, on whichever
// node runs it, and in its Parallel branches.
func TestStopCancelsRunningTasks(t *testing.T) {
	_, nc := testutil.NATS(t, "")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan string, 8)
	cancelled := make(chan string, 8)
	block := func(ctx context.Context, call *asl.TaskCall, _ string) (json.RawMessage, error) {
		started <- call.Function
		select {
		case <-ctx.Done():
			cancelled <- call.Function
			return nil, ctx.Err()
		case <-time.After(time.Minute):
			return json.RawMessage(`"late"`), nil
		}
	}
	e := openEngine(t, js, block)
	run(t, e)
	ctx := context.Background()
	def := `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
		{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"fn:a","End":true}}},
		{"StartAt":"B","States":{"B":{"Type":"Task","Resource":"fn:b","End":true}}}]}}}`
	if _, _, err := e.Deploy(ctx, "blocked", []byte(def)); err != nil {
		t.Fatal(err)
	}
	x, err := e.Start(ctx, "blocked", json.RawMessage(`{}`), StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-started:
		case <-time.After(20 * time.Second):
			t.Fatal("the branches' tasks did not start")
		}
	}
	if _, err := e.Stop(ctx, x.ID, "Halt", "by the test"); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range 2 {
		select {
		case f := <-cancelled:
			got[f] = true
		case <-time.After(20 * time.Second):
			t.Fatalf("tasks cancelled: %v, want a and b", got)
		}
	}
	fx, err := e.Get(ctx, x.ID)
	if err != nil || fx.Status != asl.StatusAborted || fx.Error != "Halt" {
		t.Fatalf("execution %+v, %v; want ABORTED Halt", fx, err)
	}
}
