package runtime

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/baton-run/baton/event"
)

// Mode is how a module runs, chosen by its exports (docs/abi.md).
type Mode string

// The two modes of the guest ABI.
const (
	// ModeReactor modules export baton_handle and are pooled.
	ModeReactor Mode = "reactor"
	// ModeCommand modules are plain WASI programs run once per invocation.
	ModeCommand Mode = "command"
)

const (
	hostModule = "baton"
	wasiModule = wasi_snapshot_preview1.ModuleName
	exportMain = "baton_handle"
	exportInit = "_initialize"
	exportCmd  = "_start"
)

// Config configures an Engine.
type Config struct {
	// CacheDir keeps compiled code across restarts. Empty keeps it in
	// memory only.
	CacheDir string
	// Logger receives guest logs and runtime events (default slog.Default()).
	Logger *slog.Logger
}

// Engine compiles modules and creates Functions. One Engine serves a node;
// it is safe for concurrent use.
type Engine struct {
	cache wazero.CompilationCache
	log   *slog.Logger
	// check is a runtime with the host modules, used to inspect modules.
	check wazero.Runtime
	// hostFuncs maps module → name → signature of what the host provides.
	hostFuncs map[string]map[string]api.FunctionDefinition
}

// NewEngine creates an Engine.
func NewEngine(ctx context.Context, cfg Config) (*Engine, error) {
	e := &Engine{log: cfg.Logger}
	if e.log == nil {
		e.log = slog.Default()
	}
	var err error
	if cfg.CacheDir != "" {
		e.cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("opening compilation cache %q: %w", cfg.CacheDir, err)
		}
	} else {
		e.cache = wazero.NewCompilationCache()
	}
	e.check, err = e.newRuntime(ctx, MaxMemoryMiB)
	if err != nil {
		return nil, err
	}
	e.hostFuncs = map[string]map[string]api.FunctionDefinition{}
	for _, m := range []string{hostModule, wasiModule} {
		e.hostFuncs[m] = e.check.Module(m).ExportedFunctionDefinitions()
	}
	return e, nil
}

// Close releases the engine's resources. Functions loaded from it must be
// closed first.
func (e *Engine) Close(ctx context.Context) error {
	return errors.Join(e.check.Close(ctx), e.cache.Close(ctx))
}

// newRuntime makes a wazero runtime with the host modules and a memory cap.
// Each function version gets its own, because wazero caps memory per runtime;
// the compilation cache is shared, so a module is compiled once per node.
func (e *Engine) newRuntime(ctx context.Context, memoryMiB int) (wazero.Runtime, error) {
	rc := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(e.cache).
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(uint32(memoryMiB) * 16).
		WithDebugInfoEnabled(false)
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("instantiating WASI: %w", err)
	}
	if err := instantiateHost(ctx, r, e.log); err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("instantiating host module: %w", err)
	}
	return r, nil
}

// Info describes a module.
type Info struct {
	Mode    Mode
	Imports []string // "module.name", sorted
	Exports []string // function exports, sorted
	// MemoryMinMiB is the memory the module needs at start (rounded up).
	MemoryMinMiB int
}

// Inspect compiles wasm and checks it against the guest ABI: it must be
// valid, import only what the host provides (with the right signatures) and
// export baton_handle (reactor) or _start (command). Errors are
// *event.Error with code invalid_module, naming the problem.
func (e *Engine) Inspect(ctx context.Context, wasm []byte) (Info, error) {
	cm, err := e.check.CompileModule(ctx, wasm)
	if err != nil {
		return Info{}, &event.Error{Code: event.CodeInvalidModule, Message: "invalid wasm: " + err.Error(), Err: err}
	}
	defer cm.Close(ctx)
	return e.inspect(cm)
}

func invalid(format string, args ...any) *event.Error {
	return event.Errorf(event.CodeInvalidModule, format, args...)
}

func (e *Engine) inspect(cm wazero.CompiledModule) (Info, error) {
	var info Info
	exports := cm.ExportedFunctions()
	for name := range exports {
		info.Exports = append(info.Exports, name)
	}
	sort.Strings(info.Exports)
	switch {
	case exports[exportMain] != nil:
		info.Mode = ModeReactor
		if d := exports[exportMain]; len(d.ParamTypes()) != 0 || !slices.Equal(d.ResultTypes(), []api.ValueType{api.ValueTypeI32}) {
			return info, invalid("export %q must have type () -> i32", exportMain)
		}
		if d := exports[exportInit]; d != nil && (len(d.ParamTypes()) != 0 || len(d.ResultTypes()) != 0) {
			return info, invalid("export %q must have type () -> ()", exportInit)
		}
		if exports[exportInit] == nil && exports[exportCmd] != nil {
			return info, invalid("module exports %s and %s but no %s: a Go reactor must be built with -buildmode=c-shared", exportMain, exportCmd, exportInit)
		}
	case exports[exportCmd] != nil:
		info.Mode = ModeCommand
	default:
		return info, invalid("module exports neither %s nor %s", exportMain, exportCmd)
	}
	for _, imp := range cm.ImportedFunctions() {
		mod, name, _ := imp.Import()
		info.Imports = append(info.Imports, mod+"."+name)
		funcs, ok := e.hostFuncs[mod]
		if !ok || (mod == hostModule && info.Mode == ModeCommand) {
			return info, invalid("unsupported import %q.%q", mod, name)
		}
		def, ok := funcs[name]
		if !ok {
			return info, invalid("unsupported import %q.%q: the host module %q has no function %q", mod, name, mod, name)
		}
		if !slices.Equal(def.ParamTypes(), imp.ParamTypes()) || !slices.Equal(def.ResultTypes(), imp.ResultTypes()) {
			return info, invalid("import %q.%q has type %s, the host provides %s", mod, name, sig(imp), sig(def))
		}
	}
	for _, m := range cm.ImportedMemories() {
		mod, name, _ := m.Import()
		return info, invalid("unsupported import %q.%q: memory imports are not provided; export a memory instead", mod, name)
	}
	mems := cm.ExportedMemories()
	if info.Mode == ModeReactor && mems["memory"] == nil {
		return info, invalid("a reactor must export its memory as %q", "memory")
	}
	for _, m := range mems {
		info.MemoryMinMiB = int((uint64(m.Min())*65536 + (1<<20 - 1)) >> 20)
	}
	sort.Strings(info.Imports)
	return info, nil
}

func sig(d api.FunctionDefinition) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return names(d.ParamTypes()) + " -> " + names(d.ResultTypes())
}

// Load compiles wasm (or loads it from the compilation cache), checks it
// with Inspect and returns a Function with an empty pool. It instantiates
// one throwaway instance without running any guest code, so a module that
// cannot link or does not fit its memory cap fails here, at deploy.
func (e *Engine) Load(ctx context.Context, wasm []byte, opts Options) (*Function, error) {
	opts.Limits = opts.Limits.WithDefaults()
	if err := opts.Limits.Validate(); err != nil {
		return nil, event.Errorf(event.CodeBadRequest, "%v", err)
	}
	r, err := e.newRuntime(ctx, opts.Limits.MemoryMiB)
	if err != nil {
		return nil, err
	}
	f, err := e.load(ctx, r, wasm, opts)
	if err != nil {
		_ = r.Close(ctx)
		return nil, err
	}
	return f, nil
}

func (e *Engine) load(ctx context.Context, r wazero.Runtime, wasm []byte, opts Options) (*Function, error) {
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		return nil, &event.Error{Code: event.CodeInvalidModule, Message: "invalid wasm: " + err.Error(), Err: err}
	}
	info, err := e.inspect(cm)
	if err != nil {
		return nil, err
	}
	if info.MemoryMinMiB > opts.Limits.MemoryMiB {
		return nil, invalid("the module needs %d MiB of memory at start, more than its %d MiB limit", info.MemoryMinMiB, opts.Limits.MemoryMiB)
	}
	f := &Function{
		engine:   e,
		rt:       r,
		compiled: cm,
		info:     info,
		opts:     opts,
		log:      e.log.With("function", opts.Name, "version", opts.Version),
	}
	f.baseConfig = wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithArgs(opts.Name).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader)
	for _, k := range sortedKeys(opts.Env) {
		f.baseConfig = f.baseConfig.WithEnv(k, opts.Env[k])
	}
	// Link a throwaway instance: catches unresolvable imports and memory
	// that does not fit, without running guest code.
	if !opts.Validated {
		mod, err := r.InstantiateModule(ctx, cm, f.baseConfig)
		if err != nil {
			return nil, invalid("linking: %v", err)
		}
		_ = mod.Close(ctx)
	}
	f.pool = newPool(opts.Limits.MaxInstances, opts.Limits.MaxQueue, opts.Limits.QueueTimeout, f.newInstance)
	f.pool.onEmpty = func() {
		_ = f.rt.Close(context.Background())
		close(f.unloaded)
	}
	f.unloaded = make(chan struct{})
	return f, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
