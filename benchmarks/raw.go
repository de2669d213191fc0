package main

// The baseline every in-process scenario compares with: wazero used
// directly, configured as runtime/ configures it, with a "baton" host
// module that does the least the guest ABI allows.

import (
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	batonrt "github.com/baton-run/baton/runtime"
)

// rawHost is the state of the baseline's "baton" host module: the imports
// of docs/abi.md implemented straight over byte slices, with none of the
// runtime's per-call bookkeeping (limits, pooling, classification).
type rawHost struct {
	in     []byte
	meta   []byte // what meta_json returns
	out    []byte
	hdr    []byte // set_header keys and values, appended
	errMsg []byte
	status int32
}

// reset starts a call on input in.
func (h *rawHost) reset(in []byte) {
	h.in = in
	h.out = h.out[:0]
	h.hdr = h.hdr[:0]
	h.errMsg = h.errMsg[:0]
	h.status = 200
}

func memRead(mod api.Module, ptr, n uint64) []byte {
	b, ok := mod.Memory().Read(uint32(ptr), uint32(n))
	if !ok {
		panic(errors.New("out of bounds memory access"))
	}
	return b
}

// copyOut copies src to the guest buffer (ptr, n) as far as it fits.
func copyOut(mod api.Module, ptr, n uint64, src []byte) uint64 {
	if n > 0 && len(src) > 0 {
		copy(memRead(mod, ptr, n), src)
	}
	return uint64(len(src))
}

// rawRuntimeConfig is runtime/'s RuntimeConfig (engine.go newRuntime).
func rawRuntimeConfig(cache wazero.CompilationCache) wazero.RuntimeConfig {
	rc := wazero.NewRuntimeConfigCompiler().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(uint32(batonrt.DefaultMemoryMiB) * 16).
		WithDebugInfoEnabled(false)
	if cache != nil {
		rc = rc.WithCompilationCache(cache)
	}
	return rc
}

// rawModuleConfig is runtime/'s per-instance ModuleConfig (engine.go load),
// with stdout and stderr discarded.
func rawModuleConfig(name string) wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithArgs(name).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStdout(io.Discard).
		WithStderr(io.Discard)
}

// newRawRuntime returns a runtime with WASI and the baseline host module.
func newRawRuntime(ctx context.Context, cache wazero.CompilationCache) (wazero.Runtime, *rawHost, error) {
	r := wazero.NewRuntimeWithConfig(ctx, rawRuntimeConfig(cache))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		_ = r.Close(ctx)
		return nil, nil, fmt.Errorf("instantiating WASI: %w", err)
	}
	h := &rawHost{status: 200}
	i32 := api.ValueTypeI32
	type fn struct {
		name            string
		params, results []api.ValueType
		f               api.GoModuleFunc
	}
	funcs := []fn{
		{"input_len", nil, []api.ValueType{i32}, func(_ context.Context, _ api.Module, s []uint64) {
			s[0] = uint64(len(h.in))
		}},
		{"input_read", []api.ValueType{i32, i32}, []api.ValueType{i32}, func(_ context.Context, m api.Module, s []uint64) {
			n := min(uint64(uint32(s[1])), uint64(len(h.in)))
			if n > 0 {
				copy(memRead(m, s[0], n), h.in)
			}
			s[0] = n
		}},
		{"meta_get", []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}, func(_ context.Context, _ api.Module, s []uint64) {
			s[0] = api.EncodeI32(-1) // no keys: the guests measured use meta_json
		}},
		{"meta_json", []api.ValueType{i32, i32}, []api.ValueType{i32}, func(_ context.Context, m api.Module, s []uint64) {
			s[0] = copyOut(m, s[0], uint64(uint32(s[1])), h.meta)
		}},
		{"output_write", []api.ValueType{i32, i32}, []api.ValueType{i32}, func(_ context.Context, m api.Module, s []uint64) {
			h.out = append(h.out, memRead(m, s[0], uint64(uint32(s[1])))...)
			s[0] = 0
		}},
		{"set_status", []api.ValueType{i32}, nil, func(_ context.Context, _ api.Module, s []uint64) {
			h.status = api.DecodeI32(s[0])
		}},
		{"set_header", []api.ValueType{i32, i32, i32, i32}, nil, func(_ context.Context, m api.Module, s []uint64) {
			h.hdr = append(h.hdr, memRead(m, s[0], uint64(uint32(s[1])))...)
			h.hdr = append(h.hdr, memRead(m, s[2], uint64(uint32(s[3])))...)
		}},
		{"error_set", []api.ValueType{i32, i32}, nil, func(_ context.Context, m api.Module, s []uint64) {
			h.errMsg = append(h.errMsg[:0], memRead(m, s[0], uint64(uint32(s[1])))...)
		}},
		{"log", []api.ValueType{i32, i32, i32, i32, i32}, nil, func(context.Context, api.Module, []uint64) {}},
	}
	b := r.NewHostModuleBuilder("baton")
	for _, f := range funcs {
		b.NewFunctionBuilder().WithGoModuleFunction(f.f, f.params, f.results).Export(f.name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		_ = r.Close(ctx)
		return nil, nil, fmt.Errorf("instantiating the baseline host module: %w", err)
	}
	return r, h, nil
}

// rawInstance instantiates cm as runtime/ does for a reactor: runs
// _initialize, and returns the module with its baton_handle.
func rawInstance(ctx context.Context, r wazero.Runtime, cm wazero.CompiledModule, name string) (api.Module, api.Function, error) {
	mod, err := r.InstantiateModule(ctx, cm, rawModuleConfig(name))
	if err != nil {
		return nil, nil, fmt.Errorf("instantiating %s: %w", name, err)
	}
	if init := mod.ExportedFunction("_initialize"); init != nil {
		if err := init.CallWithStack(ctx, nil); err != nil {
			_ = mod.Close(ctx)
			return nil, nil, fmt.Errorf("initialising %s: %w", name, err)
		}
	}
	handle := mod.ExportedFunction("baton_handle")
	if handle == nil {
		_ = mod.Close(ctx)
		return nil, nil, fmt.Errorf("%s does not export baton_handle", name)
	}
	return mod, handle, nil
}

// rawCall runs one invocation on a raw instance.
func rawCall(ctx context.Context, h *rawHost, handle api.Function, stack []uint64, in []byte) error {
	h.reset(in)
	if err := handle.CallWithStack(ctx, stack); err != nil {
		return err
	}
	if rc := int32(stack[0]); rc != 0 {
		return fmt.Errorf("baton_handle returned %d: %s", rc, h.errMsg)
	}
	return nil
}

// discardLogger drops the runtime's and the server's logs.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// guest returns the Go guest the startup scenarios run: hello, or ping
// when hello is not built (then note says so).
func guest(modulesDir string) (name string, wasm []byte, note string, err error) {
	wasm, err = readModule(modulesDir, "hello")
	if err == nil {
		return "hello", wasm, "", nil
	}
	wasm, err2 := readModule(modulesDir, "ping")
	if err2 != nil {
		return "", nil, "", err
	}
	return "ping", wasm, "hello.wasm is not built: measured ping.wasm (a tiny WAT reactor, not a Go guest)", nil
}

// readModule reads <dir>/<name>.wasm.
func readModule(dir, name string) ([]byte, error) {
	p := filepath.Join(dir, name+".wasm")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("module %s is not built (%v): run `go tool task wasm` first", name, err)
	}
	return b, nil
}

//go:embed wat/echo64.wat
var echo64WAT []byte

// buildEcho64 compiles wat/echo64.wat with wat2wasm (wabt) in a temp dir.
func buildEcho64() ([]byte, error) {
	bin, err := exec.LookPath("wat2wasm")
	if err != nil {
		return nil, errors.New("wat2wasm is not installed: it is in wabt (apt-get install wabt, brew install wabt); the echo64 benchmark module is built from benchmarks/wat/echo64.wat with it")
	}
	dir, err := os.MkdirTemp("", "baton-bench-wat")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	src, out := filepath.Join(dir, "echo64.wat"), filepath.Join(dir, "echo64.wasm")
	if err := os.WriteFile(src, echo64WAT, 0o600); err != nil {
		return nil, err
	}
	if msg, err := exec.Command(bin, "-o", out, src).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wat2wasm benchmarks/wat/echo64.wat: %v: %s", err, msg)
	}
	return os.ReadFile(out)
}
