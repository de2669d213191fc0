package main

// The startup scenarios, both on the Go guest (hello):
//
// cold_start_disk_cache: a node restarting with its compilation cache on
// disk: a fresh runtime.Engine + Load + first Invoke, versus a fresh raw
// wazero runtime on a warm cache dir + WASI + host module + CompileModule +
// InstantiateModule + _initialize + one call.
//
// scale_from_zero: the module compiled and loaded but no instance: the
// first Invoke after fn.ScaleDown(0), versus InstantiateModule +
// _initialize + one call on an already compiled module.

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/baton-run/baton/event"
	batonrt "github.com/baton-run/baton/runtime"
)

// guestEvent is the event both sides hand the guest. rawMeta is what the
// raw host's meta_json returns for it, as runtime/ would render it.
var (
	guestEvent = event.Event{
		ID: "bench-1", Source: "http", Type: "baton.http.request", Subject: "/fn/hello",
		Time:   time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC),
		Method: "GET", Path: "/", Query: "name=bench", InvocationID: "bench-1",
	}
	rawMeta = []byte(`{"method":"GET","path":"/","query":"name=bench","headers":{},` +
		`"event":{"id":"bench-1","source":"http","type":"baton.http.request","subject":"/fn/hello","time":"2026-11-21T10:00:00Z"},` +
		`"function":"hello","version":1,"invocation_id":"bench-1"}`)
)

// coldStart runs both sides of cold_start_disk_cache, each on its own
// cache dir (warmed before the samples).
type coldStart struct {
	name             string
	wasm             []byte
	batonDir, rawDir string
}

// baton is one node restart: everything from a new Engine to the first
// response. Closing is not timed.
func (c *coldStart) baton(ctx context.Context) (float64, error) {
	var e *batonrt.Engine
	var fn *batonrt.Function
	defer func() {
		if fn != nil {
			_ = fn.Close(ctx)
		}
		if e != nil {
			_ = e.Close(ctx)
		}
	}()
	return timeOnce(func() error {
		var err error
		if e, err = batonrt.NewEngine(ctx, batonrt.Config{CacheDir: c.batonDir, Logger: discardLogger()}); err != nil {
			return err
		}
		// As a node restarting: the version was validated at deploy.
		if fn, err = e.Load(ctx, c.wasm, batonrt.Options{Name: c.name, Version: 1, Validated: true}); err != nil {
			return err
		}
		ev := guestEvent
		var resp event.Response
		return fn.Invoke(ctx, &ev, &resp)
	})
}

// raw is the same restart with wazero alone.
func (c *coldStart) raw(ctx context.Context) (float64, error) {
	var cache wazero.CompilationCache
	var r wazero.Runtime
	defer func() {
		if r != nil {
			_ = r.Close(ctx)
		}
		if cache != nil {
			_ = cache.Close(ctx)
		}
	}()
	return timeOnce(func() error {
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(c.rawDir); err != nil {
			return err
		}
		var h *rawHost
		if r, h, err = newRawRuntime(ctx, cache); err != nil {
			return err
		}
		h.meta = rawMeta
		cm, err := r.CompileModule(ctx, c.wasm)
		if err != nil {
			return err
		}
		_, handle, err := rawInstance(ctx, r, cm, c.name)
		if err != nil {
			return err
		}
		var stack [1]uint64
		return rawCall(ctx, h, handle, stack[:], nil)
	})
}

// gcFirst runs a GC before each sample, untimed, so that neither side pays
// for the garbage of the other (each instance of a Go guest is megabytes).
func gcFirst(ctx context.Context, f func(context.Context) (float64, error)) func() (float64, error) {
	return func() (float64, error) {
		runtime.GC()
		return f(ctx)
	}
}

const (
	coldSamples  = 30  // per side
	scaleSamples = 100 // per side
)

func runColdStart(ctx context.Context, c *config) ([]result, error) {
	name, wasm, note, err := guest(c.modulesDir)
	if err != nil {
		return nil, err
	}
	cs := &coldStart{name: name, wasm: wasm}
	for _, d := range []*string{&cs.batonDir, &cs.rawDir} {
		if *d, err = os.MkdirTemp("", "baton-bench-cache"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(*d)
	}
	// The first run of each side compiles and fills its cache dir.
	for range 2 {
		if _, err := cs.raw(ctx); err != nil {
			return nil, fmt.Errorf("raw cold start: %w", err)
		}
		if _, err := cs.baton(ctx); err != nil {
			return nil, fmt.Errorf("baton cold start: %w", err)
		}
	}
	raws, batons, err := interleave(coldSamples, gcFirst(ctx, cs.raw), gcFirst(ctx, cs.baton))
	if err != nil {
		return nil, err
	}
	r := pairedResult("cold_start_disk_cache", "ms", raws, batons, atMost(1.2))
	r.Note = joinNotes(fmt.Sprintf("%s.wasm (%d KiB), median of %d restarts per side", name, len(wasm)>>10, coldSamples), r.Note, note)
	return []result{r}, nil
}

// scaleFromZero holds both sides: a loaded Function, and a raw runtime
// with the module compiled.
type scaleFromZero struct {
	name   string
	engine *batonrt.Engine
	fn     *batonrt.Function

	resp event.Response // baton's last response

	cache wazero.CompilationCache // nil: in memory
	rt    wazero.Runtime
	cm    wazero.CompiledModule
	host  *rawHost // its out is the raw side's last response body
	last  api.Module
}

// newScaleFromZero compiles wasm on both sides; cacheDir, when set, is a
// compilation cache dir for both (tests use it to compile once per run).
func newScaleFromZero(ctx context.Context, name string, wasm []byte, cacheDir string) (_ *scaleFromZero, err error) {
	s := &scaleFromZero{name: name}
	defer func() {
		if err != nil {
			s.close(ctx)
		}
	}()
	if s.engine, err = batonrt.NewEngine(ctx, batonrt.Config{CacheDir: cacheDir, Logger: discardLogger()}); err != nil {
		return nil, err
	}
	if s.fn, err = s.engine.Load(ctx, wasm, batonrt.Options{Name: name, Version: 1}); err != nil {
		return nil, err
	}
	if cacheDir != "" {
		if s.cache, err = wazero.NewCompilationCacheWithDir(cacheDir); err != nil {
			return nil, err
		}
	}
	if s.rt, s.host, err = newRawRuntime(ctx, s.cache); err != nil {
		return nil, err
	}
	s.host.meta = rawMeta
	if s.cm, err = s.rt.CompileModule(ctx, wasm); err != nil {
		return nil, err
	}
	return s, nil
}

// baton is the first Invoke on an empty pool.
func (s *scaleFromZero) baton(ctx context.Context) (float64, error) {
	if n := s.fn.ScaleDown(0); n > 1 {
		return 0, fmt.Errorf("the pool held %d instances, expected at most 1", n)
	}
	if st := s.fn.Stats(); st.Live != 0 {
		return 0, fmt.Errorf("ScaleDown(0) left %d live instances", st.Live)
	}
	return timeOnce(func() error {
		ev := guestEvent
		return s.fn.Invoke(ctx, &ev, &s.resp)
	})
}

// raw is instantiate + _initialize + one call; the previous instance is
// closed first, untimed, as ScaleDown is.
func (s *scaleFromZero) raw(ctx context.Context) (float64, error) {
	if s.last != nil {
		_ = s.last.Close(ctx)
		s.last = nil
	}
	return timeOnce(func() error {
		mod, handle, err := rawInstance(ctx, s.rt, s.cm, s.name)
		if err != nil {
			return err
		}
		s.last = mod
		var stack [1]uint64
		return rawCall(ctx, s.host, handle, stack[:], nil)
	})
}

func (s *scaleFromZero) close(ctx context.Context) {
	if s.fn != nil {
		_ = s.fn.Close(ctx)
	}
	if s.engine != nil {
		_ = s.engine.Close(ctx)
	}
	if s.rt != nil {
		_ = s.rt.Close(ctx)
	}
	if s.cache != nil {
		_ = s.cache.Close(ctx)
	}
}

func runScaleFromZero(ctx context.Context, c *config) ([]result, error) {
	name, wasm, note, err := guest(c.modulesDir)
	if err != nil {
		return nil, err
	}
	s, err := newScaleFromZero(ctx, name, wasm, "")
	if err != nil {
		return nil, err
	}
	defer s.close(ctx)
	for range 3 {
		if _, err := s.raw(ctx); err != nil {
			return nil, fmt.Errorf("raw instantiate: %w", err)
		}
		if _, err := s.baton(ctx); err != nil {
			return nil, fmt.Errorf("baton scale from zero: %w", err)
		}
	}
	raws, batons, err := interleave(scaleSamples, gcFirst(ctx, s.raw), gcFirst(ctx, s.baton))
	if err != nil {
		return nil, err
	}
	r := pairedResult("scale_from_zero", "ms", raws, batons, atMost(1.3))
	r.Note = joinNotes(fmt.Sprintf("%s.wasm, median of %d first calls per side; DESIGN.md expects about 4 ms or less for a Go guest", name, scaleSamples), r.Note, note)
	return []result{r}, nil
}
