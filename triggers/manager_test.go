package triggers_test

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/internal/testutil"
	"github.com/baton-run/baton/triggers"
)

// TestManagerLifecycle runs nats and cron triggers against a real NATS,
// changes and removes them, and checks that Close leaves no goroutine
// behind and that a failed start is reported and cleaned up.
func TestManagerLifecycle(t *testing.T) {
	_, nc := testutil.NATS(t, "")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	invoked := make(chan string, 100)
	m := triggers.NewManager(triggers.Env{
		Node: "test", NATS: nc, JetStream: js, Logger: slog.New(slog.DiscardHandler),
		Invoke: func(_ context.Context, target string, ev *event.Event) (*event.Response, error) {
			invoked <- target + " " + ev.Subject
			return &event.Response{Status: 200, Body: []byte("ok")}, nil
		},
		InvokeAsync: func(_ context.Context, target string, ev *event.Event, key string) (string, error) {
			invoked <- target + " tick"
			return key, nil
		},
		// No Routes: http triggers cannot start here.
	})
	ctx := context.Background()
	n := &triggers.Spec{ID: "n", Kind: "nats", Function: "f", Subject: "t.*"}
	m.Apply(ctx, "n", n)
	m.Apply(ctx, "c", &triggers.Spec{ID: "c", Kind: "cron", Function: "g", Schedule: "@every 1s", Created: time.Now()})
	m.Apply(ctx, "h", &triggers.Spec{ID: "h", Kind: "http", Function: "f", Path: "/x"})

	if got := strings.Join(m.Running(), ","); got != "c,n" {
		t.Fatalf("running %s, want c,n", got)
	}
	if ok, why := m.Status("h"); ok || !strings.Contains(why, "no custom routes") {
		t.Fatalf("http status %v %q", ok, why)
	}

	msg, err := nc.Request("t.a", []byte("x"), 5*time.Second)
	if err != nil || string(msg.Data) != "ok" {
		t.Fatalf("request: %v %v", msg, err)
	}
	waitFor(t, invoked, "f t.a")
	waitFor(t, invoked, "g tick")

	// A changed spec restarts the trigger on its new subject.
	m.Apply(ctx, "n", &triggers.Spec{ID: "n", Kind: "nats", Function: "f", Subject: "u.*"})
	if msg, err := nc.Request("u.b", nil, 5*time.Second); err != nil || string(msg.Data) != "ok" {
		t.Fatalf("after the change: %v %v", msg, err)
	}
	if _, err := nc.Request("t.a", nil, 200*time.Millisecond); err == nil {
		t.Fatal("the old subject still answers")
	}
	m.Apply(ctx, "n", nil)
	if got := strings.Join(m.Running(), ","); got != "c" {
		t.Fatalf("running %s after removing n", got)
	}

	if len(triggerGoroutines()) == 0 {
		t.Fatal("no goroutine of the cron trigger found: the leak check below would prove nothing")
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	m.Apply(ctx, "late", n) // ignored after Close
	if len(m.Running()) != 0 {
		t.Fatal("a trigger runs after Close")
	}
	testutil.Eventually(t, 5*time.Second, "the triggers' goroutines to end", func() bool {
		return len(triggerGoroutines()) == 0
	})
}

func waitFor(t *testing.T, ch chan string, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-ch:
			if got == want {
				return
			}
		case <-deadline:
			t.Fatalf("no invocation %q", want)
		}
	}
}

// triggerGoroutines returns the stacks of the goroutines running code of
// the triggers packages (the test's own aside).
func triggerGoroutines() []string {
	buf := make([]byte, 4<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "github.com/baton-run/baton/triggers") && !strings.Contains(g, "triggers_test.") {
			out = append(out, g)
		}
	}
	return out
}
