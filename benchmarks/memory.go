package main

// idle_instance_memory: what one warm, idle instance of the Go guest costs,
// in baton's pool versus raw wazero. Each side creates N instances (each
// initialised and called once, so both have run the same guest code) and
// the process's resident memory before and after is compared, after a GC
// that returns freed memory to the OS. Linear memory is Go heap in wazero
// (untouched pages are not resident), so RSS is what the machine pays; the
// live heap is reported alongside in the note.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/baton-run/baton/event"
	batonrt "github.com/baton-run/baton/runtime"
)

// memUse is resident and live-heap bytes of the process.
type memUse struct{ rss, heap float64 }

func readMemUse() (memUse, error) {
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return memUse{}, fmt.Errorf("reading RSS: %w (idle_instance_memory needs Linux)", err)
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return memUse{}, fmt.Errorf("unexpected /proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return memUse{}, fmt.Errorf("unexpected /proc/self/statm: %q", b)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memUse{rss: float64(pages * uint64(os.Getpagesize())), heap: float64(ms.HeapAlloc)}, nil
}

// perInstance measures create's growth per instance, then destroys.
func perInstance(n int, create func() error, destroy func()) (memUse, error) {
	defer destroy()
	before, err := readMemUse()
	if err != nil {
		return memUse{}, err
	}
	if err := create(); err != nil {
		return memUse{}, err
	}
	after, err := readMemUse()
	if err != nil {
		return memUse{}, err
	}
	return memUse{rss: (after.rss - before.rss) / float64(n), heap: (after.heap - before.heap) / float64(n)}, nil
}

// together runs f(0..n-1) on n goroutines released at once.
func together(n int, f func(i int) error) error {
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errors.Join(errs...)
}

// gate holds n goroutines until all have arrived.
type gate struct {
	n       int32
	arrived atomic.Int32
	open    chan struct{}
	stuck   atomic.Bool
}

func (g *gate) wait() {
	if g.arrived.Add(1) == g.n {
		close(g.open)
	}
	select {
	case <-g.open:
	case <-time.After(10 * time.Second):
		g.stuck.Store(true)
	}
}

// gateCtx stops its caller at its first Value lookup until the gate
// opens. wazero's InstantiateModule looks up its experimental options in
// the context before running any guest code, so n calls of Invoke on an
// empty pool, each with its own gateCtx, all reach instance creation
// before any returns an instance to the pool: the pool must make n,
// through the ordinary call path.
type gateCtx struct {
	context.Context
	gate *gate
	once sync.Once
}

func (c *gateCtx) Value(key any) any {
	c.once.Do(c.gate.wait)
	return c.Context.Value(key)
}

// fillPool makes fn, whose pool is empty, hold n idle instances.
func fillPool(ctx context.Context, fn *batonrt.Function, n int) error {
	g := &gate{n: int32(n), open: make(chan struct{})}
	err := together(n, func(int) error {
		ev := guestEvent
		var resp event.Response
		return fn.Invoke(&gateCtx{Context: context.WithoutCancel(ctx), gate: g}, &ev, &resp)
	})
	if err != nil {
		return err
	}
	if st := fn.Stats(); st.Idle != n || g.stuck.Load() {
		return fmt.Errorf("%d concurrent calls on an empty pool left %d idle instances, want %d", n, st.Idle, n)
	}
	return nil
}

const memSamples = 4 // per side

func runIdleMemory(ctx context.Context, c *config) ([]result, error) {
	name, wasm, note, err := guest(c.modulesDir)
	if err != nil {
		return nil, err
	}
	n := c.instances
	s, err := newScaleFromZero(ctx, name, wasm, "") // an Engine and a compiled raw module
	if err != nil {
		return nil, err
	}
	defer s.close(ctx)

	// The raw side makes its instances n at once, then calls each once
	// (one after the other: they share the host state).
	mods := make([]api.Module, n)
	handles := make([]api.Function, n)
	raw := func() (memUse, error) {
		return perInstance(n, func() error {
			err := together(n, func(i int) (err error) {
				mods[i], handles[i], err = rawInstance(ctx, s.rt, s.cm, name)
				return err
			})
			if err != nil {
				return err
			}
			var stack [1]uint64
			for _, h := range handles {
				if err := rawCall(ctx, s.host, h, stack[:], nil); err != nil {
					return err
				}
			}
			return nil
		}, func() {
			for i, m := range mods {
				if m != nil {
					_ = m.Close(ctx)
				}
				mods[i], handles[i] = nil, nil
			}
		})
	}
	// Baton's side loads a fresh Function each round (before measuring)
	// and closes it after, so every round starts from the same state.
	// (A reused Function with ScaleDown(0) between rounds is not that: at
	// the time of writing the pool kept closed instances reachable.)
	baton := func() (memUse, error) {
		fn, err := s.engine.Load(ctx, wasm, batonrt.Options{Name: name, Version: 1, Limits: batonrt.Limits{MaxInstances: n, MaxQueue: n}})
		if err != nil {
			return memUse{}, err
		}
		return perInstance(n, func() error { return fillPool(ctx, fn, n) }, func() { _ = fn.Close(ctx) })
	}
	// One untimed round each, so that one-off growth (goroutine stacks,
	// pool slices, heap arenas) is not charged to the first sample.
	for _, f := range []func() (memUse, error){raw, baton} {
		if _, err := f(); err != nil {
			return nil, err
		}
	}
	raws, batons, err := interleave(memSamples, raw, baton)
	if err != nil {
		return nil, err
	}
	pick := func(us []memUse, heap bool) []float64 {
		xs := make([]float64, len(us))
		for i, u := range us {
			xs[i] = u.rss
			if heap {
				xs[i] = u.heap
			}
		}
		return xs
	}
	r := pairedResult("idle_instance_memory", "bytes", pick(raws, false), pick(batons, false), atMost(1.15))
	r.Note = joinNotes(fmt.Sprintf("RSS growth per idle instance, median of %d rounds of %d %s instances per side; live heap per instance: raw %s, baton %s bytes",
		memSamples, n, name, formatNum(median(pick(raws, true))), formatNum(median(pick(batons, true)))), r.Note, note)
	return []result{r}, nil
}
