package chain

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/internal/testutil"
	"github.com/baton-run/baton/scheduler/asl"
)

// BenchmarkTaskStep runs a 10-task chain of no-op tasks, one execution at
// a time, and reports the time per step from start to end:
//
//	go test ./internal/chain -run '^$' -bench TaskStep -cpuprofile cpu.out
func BenchmarkTaskStep(b *testing.B) {
	ctx, e := benchEngine(b)
	input := json.RawMessage(`{"payload":"0123456789abcdef0123456789abcdef"}`)
	var total float64
	b.ResetTimer()
	for range b.N {
		x, err := e.Start(ctx, "bench", input, StartOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if x, err = e.Wait(ctx, x.ID); err != nil || x.Status != asl.StatusSucceeded {
			b.Fatalf("%v %+v", err, x)
		}
		h, err := e.History(ctx, x.ID)
		if err != nil || len(h) == 0 {
			b.Fatal(err)
		}
		total += float64(x.Stopped.Sub(h[0].Time).Microseconds()) / benchSteps
	}
	b.ReportMetric(total/float64(b.N), "us/step")
}

// BenchmarkTransitions runs b.N executions of the same chain, 200 at a
// time, and reports transitions per second and the CPU time of the whole
// process (NATS included) per transition, which a busy machine disturbs
// less than the rate.
func BenchmarkTransitions(b *testing.B) {
	ctx, e := benchEngine(b)
	input := json.RawMessage(`{"payload":"0123456789abcdef0123456789abcdef"}`)
	var n atomic.Int64
	sem := make(chan struct{}, 200)
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	t0 := time.Now()
	b.ResetTimer()
	for range b.N {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			x, err := e.Start(ctx, "bench", input, StartOptions{})
			if err != nil {
				b.Error(err)
				return
			}
			if x, err = e.Wait(ctx, x.ID); err != nil || x.Status != asl.StatusSucceeded {
				b.Errorf("%v %+v", err, x)
				return
			}
			n.Add(x.State.Transitions)
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(n.Load())/time.Since(t0).Seconds(), "transitions/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n.Load()), "cpu-us/transition")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const benchSteps = 10

func benchEngine(b *testing.B) (context.Context, *Engine) {
	_, nc := testutil.NATS(b, "")
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e, err := Open(ctx, js, Options{
		Invoke: func(_ context.Context, call *asl.TaskCall, _ string) (json.RawMessage, error) {
			return call.Input, nil
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = e.Run(ctx) }()
	b.Cleanup(func() { cancel(); wg.Wait() })
	const steps = benchSteps
	states := map[string]any{}
	for i := 1; i <= steps; i++ {
		st := map[string]any{"Type": "Task", "Resource": "fn:noop"}
		if i == steps {
			st["End"] = true
		} else {
			st["Next"] = "S" + strconv.Itoa(i+1)
		}
		states["S"+strconv.Itoa(i)] = st
	}
	def, _ := json.Marshal(map[string]any{"StartAt": "S1", "States": states})
	if _, _, err := e.Deploy(ctx, "bench", def); err != nil {
		b.Fatal(err)
	}
	return ctx, e
}
