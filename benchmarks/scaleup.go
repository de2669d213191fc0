package main

// scale_up_rate: how fast a function with no instance grows to meet a
// step from 0 to 64 concurrent callers, in instances per second. Baton: a
// freshly loaded runtime.Function (MaxInstances 64, room in the queue)
// and 64 goroutines released together, each calling Invoke once; the
// baseline: 64 goroutines released together on the same compiled module,
// each instantiating it and running _initialize.
//
// Both sides hold every goroutine at wazero's first context lookup in
// InstantiateModule until all 64 have got there (gateCtx, as
// idle_instance_memory does), so all 64 calls are in flight at once and
// baton's pool must create 64 instances; without it, on 2 cores, an early
// caller can finish and hand its instance to a late one, and the count of
// instances would depend on scheduling rather than on the pool.

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/baton-run/baton/event"
	batonrt "github.com/baton-run/baton/runtime"
)

const (
	scaleUpCallers = 64
	scaleUpSamples = 10 // per side
)

// scaleUp holds both sides: the Engine that loads a fresh Function per
// sample, and a raw runtime with the module compiled.
type scaleUp struct {
	s    *scaleFromZero // engine and the raw runtime; its fn is unused
	wasm []byte
	n    int
}

// gated returns a context for one of the n callers of a sample.
func gated(ctx context.Context, g *gate) context.Context {
	return &gateCtx{Context: context.WithoutCancel(ctx), gate: g}
}

// baton loads a fresh Function (untimed), makes n callers invoke it at
// once and returns the instances created per second.
func (u *scaleUp) baton(ctx context.Context) (float64, error) {
	fn, err := u.s.engine.Load(ctx, u.wasm, batonrt.Options{
		Name: u.s.name, Version: 1,
		Limits: batonrt.Limits{MaxInstances: u.n, MaxQueue: u.n},
	})
	if err != nil {
		return 0, err
	}
	defer func() { _ = fn.Close(ctx) }()
	runtime.GC()
	g := &gate{n: int32(u.n), open: make(chan struct{})}
	start := time.Now()
	err = together(u.n, func(int) error {
		ev := guestEvent
		var resp event.Response
		return fn.Invoke(gated(ctx, g), &ev, &resp)
	})
	elapsed := time.Since(start)
	if err != nil {
		return 0, err
	}
	if st := fn.Stats(); st.Created != uint64(u.n) || g.stuck.Load() {
		return 0, fmt.Errorf("%d concurrent calls on a fresh function created %d instances, want %d", u.n, st.Created, u.n)
	}
	return float64(u.n) / elapsed.Seconds(), nil
}

// raw makes n goroutines instantiate and initialise the compiled module at
// once and returns the instances per second. Closing them is not timed.
func (u *scaleUp) raw(ctx context.Context) (float64, error) {
	mods := make([]api.Module, u.n)
	defer func() {
		for _, m := range mods {
			if m != nil {
				_ = m.Close(ctx)
			}
		}
	}()
	runtime.GC()
	g := &gate{n: int32(u.n), open: make(chan struct{})}
	start := time.Now()
	err := together(u.n, func(i int) error {
		var err error
		mods[i], _, err = rawInstance(gated(ctx, g), u.s.rt, u.s.cm, u.s.name)
		return err
	})
	elapsed := time.Since(start)
	if err != nil {
		return 0, err
	}
	if g.stuck.Load() {
		return 0, fmt.Errorf("the %d raw instantiations did not all start together", u.n)
	}
	return float64(u.n) / elapsed.Seconds(), nil
}

func runScaleUp(ctx context.Context, c *config) ([]result, error) {
	name, wasm, note, err := guest(c.modulesDir)
	if err != nil {
		return nil, err
	}
	s, err := newScaleFromZero(ctx, name, wasm, "")
	if err != nil {
		return nil, err
	}
	defer s.close(ctx)
	u := &scaleUp{s: s, wasm: wasm, n: scaleUpCallers}
	// One untimed sample each: the first Load after the Engine's compiles
	// into its in-memory cache, later ones find the module there.
	if _, err := u.raw(ctx); err != nil {
		return nil, fmt.Errorf("raw scale-up: %w", err)
	}
	if _, err := u.baton(ctx); err != nil {
		return nil, fmt.Errorf("baton scale-up: %w", err)
	}
	raws, batons, err := interleave(scaleUpSamples, func() (float64, error) { return u.raw(ctx) }, func() (float64, error) { return u.baton(ctx) })
	if err != nil {
		return nil, err
	}
	// A rate: higher is better. 1/1.3 is scale_from_zero's per-instance
	// budget (DESIGN.md: ≤ 1.3× raw instantiate + _initialize) as a rate.
	r := pairedResult("scale_up_rate", "inst/s", raws, batons, atLeast(0.77))
	r.Note = joinNotes(fmt.Sprintf("%s.wasm, step from 0 to %d concurrent callers, median of %d steps per side; baton's callers also run one call each, the baseline only instantiates + _initialize",
		name, u.n, scaleUpSamples), r.Note, note)
	return []result{r}, nil
}
