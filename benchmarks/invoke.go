package main

// warm_invoke_64B: one warm in-process invocation of echo64 with 64 bytes
// in and out, through runtime.Function.Invoke versus a raw wazero call of
// the same export.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/baton-run/baton/event"
	batonrt "github.com/baton-run/baton/runtime"
)

// warmInvoke holds both sides, each with one warm instance.
type warmInvoke struct {
	ctx     context.Context
	payload []byte

	rawRT     wazero.Runtime
	rawMod    api.Module
	rawHandle api.Function
	host      *rawHost
	stack     [1]uint64

	engine *batonrt.Engine
	fn     *batonrt.Function
	ev     event.Event
	resp   event.Response
}

func newWarmInvoke(ctx context.Context, wasm []byte) (_ *warmInvoke, err error) {
	w := &warmInvoke{ctx: ctx, payload: bytes.Repeat([]byte("0123456789abcdef"), 4)}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	if w.rawRT, w.host, err = newRawRuntime(ctx, nil); err != nil {
		return nil, err
	}
	cm, err := w.rawRT.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("compiling echo64: %w", err)
	}
	if w.rawMod, w.rawHandle, err = rawInstance(ctx, w.rawRT, cm, "echo64"); err != nil {
		return nil, err
	}
	if w.engine, err = batonrt.NewEngine(ctx, batonrt.Config{Logger: discardLogger()}); err != nil {
		return nil, err
	}
	if w.fn, err = w.engine.Load(ctx, wasm, batonrt.Options{Name: "echo64", Version: 1}); err != nil {
		return nil, err
	}
	w.ev = event.Event{ID: "bench", Source: "bench", Type: "bench", Data: w.payload}
	// The first call of each side creates what later calls reuse; then
	// both must echo the payload.
	if err := w.raw(); err != nil {
		return nil, fmt.Errorf("raw echo64: %w", err)
	}
	if err := w.baton(); err != nil {
		return nil, fmt.Errorf("baton echo64: %w", err)
	}
	if !bytes.Equal(w.host.out, w.payload) || !bytes.Equal(w.resp.Body, w.payload) {
		return nil, fmt.Errorf("echo64 did not echo its input: raw %q, baton %q", w.host.out, w.resp.Body)
	}
	return w, nil
}

// raw is one baseline call: the export called directly.
func (w *warmInvoke) raw() error {
	return rawCall(w.ctx, w.host, w.rawHandle, w.stack[:], w.payload)
}

// baton is one call through the runtime.
func (w *warmInvoke) baton() error { return w.fn.Invoke(w.ctx, &w.ev, &w.resp) }

func (w *warmInvoke) close() {
	if w.fn != nil {
		_ = w.fn.Close(w.ctx)
	}
	if w.engine != nil {
		_ = w.engine.Close(w.ctx)
	}
	if w.rawRT != nil {
		_ = w.rawRT.Close(w.ctx)
	}
}

// allocsPerCall counts heap allocations per call of f as b.ReportAllocs
// does: the runtime's malloc count over many calls, at the normal
// GOMAXPROCS. (testing.AllocsPerRun sets GOMAXPROCS=1, where the goroutine
// wazero starts per call cannot run until the caller yields, so the free
// list of goroutines runs dry and their creation is counted too.) The
// count is of the whole process, so it takes the least of allocRepeats
// measurements: what the runtime's own goroutines (GC, timers) allocate
// meanwhile only ever adds.
func allocsPerCall(runs int, f func() error) (float64, error) {
	if err := f(); err != nil {
		return 0, err
	}
	least := math.Inf(1)
	for range allocRepeats {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			if err := f(); err != nil {
				return 0, err
			}
		}
		runtime.ReadMemStats(&after)
		least = min(least, float64(after.Mallocs-before.Mallocs)/float64(runs))
	}
	return least, nil
}

// allocRepeats is how many times allocsPerCall measures.
const allocRepeats = 5

const (
	warmBatch   = 500  // calls per timed batch
	warmBatches = 1000 // batches per side
	warmWarmup  = 20000
	// calls over which allocations are counted
	warmAllocRuns = 20000
)

func runWarmInvoke(ctx context.Context, c *config) ([]result, error) {
	wasm, err := buildEcho64()
	if err != nil {
		return nil, err
	}
	// Both sides get a cancellable context, as from every real caller (an
	// HTTP request, a NATS message): wazero watches it on the raw side,
	// runtime/ on baton's.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := newWarmInvoke(ctx, wasm)
	if err != nil {
		return nil, err
	}
	defer w.close()
	for range warmWarmup {
		if err := errors.Join(w.raw(), w.baton()); err != nil {
			return nil, err
		}
	}
	batch := func(f func() error) func() (float64, error) {
		return func() (float64, error) { return timeBatch(warmBatch, f) }
	}
	raws, batons, err := interleave(warmBatches, batch(w.raw), batch(w.baton))
	if err != nil {
		return nil, err
	}
	rawAllocs, err := allocsPerCall(warmAllocRuns, w.raw)
	if err != nil {
		return nil, err
	}
	batonAllocs, err := allocsPerCall(warmAllocRuns, w.baton)
	if err != nil {
		return nil, err
	}
	// The same with a context that can never be cancelled, for the note.
	w.ctx = context.Background()
	rawAllocsBg, err := allocsPerCall(warmAllocRuns, w.raw)
	if err != nil {
		return nil, err
	}
	batonAllocsBg, err := allocsPerCall(warmAllocRuns, w.baton)
	if err != nil {
		return nil, err
	}

	p50raw, p50baton := median(raws), median(batons)
	// DESIGN.md sets no ratio for this scenario, only the 1 µs budget;
	// the ratio line's target is that budget over this run's baseline, so
	// the two lines pass or fail together.
	budget := (p50raw + 1000) / p50raw
	main := pairedResult("warm_invoke_64B", "ns/op", raws, batons, atMost(roundUp(budget, 3)))
	main.Note = joinNotes(fmt.Sprintf("p50 of %d batches of %d calls per side (cancellable context); p90 raw %s ns, baton %s ns",
		warmBatches, warmBatch, formatNum(percentile(raws, 90)), formatNum(percentile(batons, 90))), main.Note)
	added := deltaResult("warm_invoke_64B_added", "ns", p50raw, p50baton, atMost(1000))
	added.Note = "DESIGN.md target: at most 1 µs added at p50"
	allocs := deltaResult("warm_invoke_allocs", "allocs/op", rawAllocs, batonAllocs, atMost(0))
	allocs.Note = fmt.Sprintf("with a cancellable context (context.Background(): raw %s, baton %s); "+
		"the baseline's are wazero's own (WithCloseOnContextDone: a channel, a closure and a goroutine per call)",
		formatNum(rawAllocsBg), formatNum(batonAllocsBg))
	return []result{main, added, allocs}, nil
}
