package main

// The chain scenarios, on one embedded NATS server with JetStream (file
// storage in a temp dir), measured in the same run:
//
// chain_step: a 10-step chain of no-op Task states (the invoker answers
// its input in-process, so only the durable machinery is measured): the
// time per step of one execution at a time, from its start to its end as
// the engine records them, versus the floor of one step — one JetStream
// publish (acked) followed by one KV update (acked) — measured back to
// back with it; the ratio is the median of the per-pair ratios.
//
// chain_transitions: states entered per second on one node with many
// executions of the same chain in flight, median of 5 rounds. The target
// is absolute (10,000/s): the baseline column is that target, so that
// ratio = baton/baseline is the fraction of it reached.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/internal/chain"
	"github.com/baton-run/baton/scheduler/asl"
)

const chainSteps = 10

func tenStepChain() []byte {
	states := map[string]any{}
	for i := 1; i <= chainSteps; i++ {
		st := map[string]any{"Type": "Task", "Resource": "fn:noop"}
		if i == chainSteps {
			st["End"] = true
		} else {
			st["Next"] = "S" + strconv.Itoa(i+1)
		}
		states["S"+strconv.Itoa(i)] = st
	}
	b, _ := json.Marshal(map[string]any{"StartAt": "S1", "States": states})
	return b
}

func runChain(ctx context.Context, c *config) ([]result, error) {
	dir, err := os.MkdirTemp("", "baton-bench-chain-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		return nil, err
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(10 * time.Second) {
		return nil, fmt.Errorf("NATS did not start")
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(ns))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}

	// Baseline: one publish + one KV update per step, acked each.
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "FLOOR", Subjects: []string{"floor.>"}, Storage: jetstream.FileStorage}); err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "floor", Storage: jetstream.FileStorage, History: 1})
	if err != nil {
		return nil, err
	}
	payload := make([]byte, 600) // about one step's history message and snapshot
	rev, err := kv.Put(ctx, "x", payload)
	if err != nil {
		return nil, err
	}
	floorStep := func() error {
		if _, err := js.Publish(ctx, "floor.x", payload); err != nil {
			return err
		}
		rev, err = kv.Update(ctx, "x", payload, rev)
		return err
	}

	e, err := chain.Open(ctx, js, chain.Options{
		Workers: 256,
		Invoke: func(_ context.Context, call *asl.TaskCall, _ string) (json.RawMessage, error) {
			return call.Input, nil
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = e.Run(runCtx) }()
	defer func() { stop(); wg.Wait() }()
	if _, _, err := e.Deploy(ctx, "bench", tenStepChain()); err != nil {
		return nil, err
	}
	input := json.RawMessage(`{"payload":"0123456789abcdef0123456789abcdef"}`)
	runOne := func() (*chain.Execution, error) {
		x, err := e.Start(ctx, "bench", input, chain.StartOptions{})
		if err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		x, err = e.Wait(wctx, x.ID)
		if err != nil {
			return nil, err
		}
		if x.Status != asl.StatusSucceeded {
			return nil, fmt.Errorf("execution %s: %s %s", x.ID, x.Error, x.Cause)
		}
		return x, nil
	}

	// Warm up both sides.
	for range 20 {
		if err := floorStep(); err != nil {
			return nil, err
		}
		if _, err := runOne(); err != nil {
			return nil, err
		}
	}
	const samples = 150
	var floor, steps, queued []float64
	for i := range samples * 2 { // interleaved, ABBA
		if (i%4 == 0) || (i%4 == 3) {
			t0 := time.Now()
			for range chainSteps {
				if err := floorStep(); err != nil {
					return nil, err
				}
			}
			floor = append(floor, float64(time.Since(t0).Microseconds())/chainSteps)
		} else {
			x, err := runOne()
			if err != nil {
				return nil, err
			}
			// From the engine's first step (ExecutionStarted) to its end:
			// queueing the start is not a step.
			h, err := e.History(ctx, x.ID)
			if err != nil || len(h) == 0 {
				return nil, fmt.Errorf("history of %s: %v", x.ID, err)
			}
			steps = append(steps, float64(x.Stopped.Sub(h[0].Time).Microseconds())/chainSteps)
			queued = append(queued, float64(h[0].Time.Sub(x.Started).Microseconds()))
		}
	}
	// floor[j] and steps[j] were measured back to back (ABBA).
	r1 := pairedResult("chain_step", "us/step", floor, steps, atMost(1.5))
	r1.Note = joinNotes(fmt.Sprintf("%d executions of 10 no-op tasks (from the first recorded step to the end) vs 10 publish+KV update; queueing a start adds %.0f us p50", samples, median(queued)), r1.Note)

	// Throughput: many executions in flight, in rounds (one round lasts
	// well under a second: the median of several is what a busy machine
	// disturbs least).
	const executions, inFlight, rounds = 400, 200, 5
	round := func() (float64, error) {
		t0 := time.Now()
		var mu sync.Mutex
		var transitions int64
		var firstErr error
		var ew sync.WaitGroup
		sem := make(chan struct{}, inFlight)
		for range executions {
			sem <- struct{}{}
			ew.Add(1)
			go func() {
				defer ew.Done()
				defer func() { <-sem }()
				x, err := runOne()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					return
				}
				transitions += x.State.Transitions
			}()
		}
		ew.Wait()
		return float64(transitions) / time.Since(t0).Seconds(), firstErr
	}
	var rates []float64
	for range rounds {
		rate, err := round()
		if err != nil {
			return nil, err
		}
		rates = append(rates, rate)
	}
	sort.Float64s(rates)
	// The target is absolute: the baseline column is the 10,000/s goal,
	// so the ratio is the fraction of the goal reached.
	r2 := ratioResult("chain_transitions", "transitions/s", 10000, median(rates), atLeast(1))
	r2.Note = fmt.Sprintf("p50 of %d rounds of %d executions of 10 no-op tasks (each start to its end, as a caller waits), up to %d in flight; baseline = the 10,000/s target; rounds %.0f..%.0f/s",
		rounds, executions, inFlight, rates[0], rates[len(rates)-1])
	return []result{r1, r2}, nil
}
