// Package runtime runs baton functions: it compiles WebAssembly modules with
// wazero (the optimizing compiler, with an on-disk compilation cache),
// keeps a pool of instances per function version, enforces each function's
// limits and implements the guest ABI (docs/abi.md) and its host functions.
//
// It knows nothing of triggers, HTTP or NATS: callers hand it an
// event.Event and get an event.Response or an *event.Error back.
//
//	engine := runtime.NewEngine(ctx, runtime.Config{CacheDir: dir})
//	fn, err := engine.Load(ctx, wasm, runtime.Options{Name: "hello", Version: 1})
//	err = fn.Invoke(ctx, &ev, &resp)
package runtime
