package main

// go test benchmarks of the in-process scenarios, with allocations, each
// comparing the raw wazero baseline and baton in one run:
//
//	go test ./benchmarks -run '^$' -bench . -benchmem
//
// They use the same code as the program; the modules come from
// functions/build (`go tool task wasm`; or -args -modules DIR) and
// wat2wasm.

import (
	"context"
	"flag"
	"path/filepath"
	"testing"

	"github.com/baton-run/baton/internal/testutil"
)

var modulesFlag = flag.String("modules", "", "directory of the built guests (default <repo>/functions/build)")

func echo64(tb testing.TB) []byte {
	tb.Helper()
	wasm, err := buildEcho64()
	if err != nil {
		tb.Fatal(err)
	}
	return wasm
}

func goGuest(tb testing.TB) (string, []byte) {
	tb.Helper()
	dir := *modulesFlag
	if dir == "" {
		dir = testutil.BuildDir(tb)
	}
	name, wasm, note, err := guest(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if note != "" {
		tb.Log(note)
	}
	return name, wasm
}

// BenchmarkWarmInvoke64B runs both sides with a cancellable context (as
// the program does: every real caller passes one) and with
// context.Background(), which lets runtime/ skip watching the context.
func BenchmarkWarmInvoke64B(b *testing.B) {
	wasm := echo64(b)
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"cancellable", cctx}, {"background", context.Background()}} {
		w, err := newWarmInvoke(c.ctx, wasm)
		if err != nil {
			b.Fatal(err)
		}
		for _, side := range []struct {
			name string
			call func() error
		}{{"raw", w.raw}, {"baton", w.baton}} {
			b.Run(c.name+"/"+side.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(w.payload)))
				for b.Loop() {
					if err := side.call(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		w.close()
	}
}

func BenchmarkScaleFromZero(b *testing.B) {
	ctx := context.Background()
	name, wasm := goGuest(b)
	s, err := newScaleFromZero(ctx, name, wasm, testutil.CacheDir(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.close(ctx)
	for _, side := range []struct {
		name string
		call func(context.Context) (float64, error)
	}{{"raw", s.raw}, {"baton", s.baton}} {
		b.Run(side.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := side.call(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkColdStartDiskCache(b *testing.B) {
	ctx := context.Background()
	name, wasm := goGuest(b)
	cs := &coldStart{name: name, wasm: wasm, batonDir: filepath.Join(b.TempDir(), "baton"), rawDir: filepath.Join(b.TempDir(), "raw")}
	for _, side := range []struct {
		name string
		call func(context.Context) (float64, error)
	}{{"raw", cs.raw}, {"baton", cs.baton}} {
		b.Run(side.name, func(b *testing.B) {
			if _, err := side.call(ctx); err != nil { // fills the cache
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := side.call(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
