// Package functions_test checks the modules functions/build.sh builds:
// that each one compiles, is in the mode it should be (reactor, command)
// and imports only what the guest ABI allows (docs/abi.md), with the ABI's
// signatures; and, in run_test.go, that the SDK modules behave under a
// minimal host.
package functions_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// buildDir is where functions/build.sh writes, relative to this package.
const buildDir = "build"

type mode int

const (
	reactor mode = iota // exports baton_handle
	command             // exports _start and no baton_handle
	neither             // exports neither: rejected at deploy
)

// moduleSpec is what a built module should look like.
type moduleSpec struct {
	path        string // under functions/build
	mode        mode
	initialize  bool   // exports _initialize (Go c-shared reactors)
	extraImport string // the one import outside the ABI, "module.name"
}

// modules lists every module the build produces.
var modules = []moduleSpec{
	{path: "hello.wasm", mode: reactor, initialize: true},
	{path: "echo.wasm", mode: reactor, initialize: true},
	{path: "wordcount.wasm", mode: reactor, initialize: true},
	{path: "csv2json.wasm", mode: reactor, initialize: true},
	{path: "upper.wasm", mode: command},
	{path: "ping.wasm", mode: reactor},
	{path: "testdata/badimport.wasm", mode: reactor, extraImport: "env.foo"},
	{path: "testdata/badstatus.wasm", mode: reactor},
	{path: "testdata/cmdexit.wasm", mode: command},
	{path: "testdata/cmdloop.wasm", mode: command},
	{path: "testdata/counter.wasm", mode: reactor},
	{path: "testdata/fail.wasm", mode: reactor},
	{path: "testdata/flaky.wasm", mode: reactor},
	{path: "testdata/identity.wasm", mode: reactor},
	{path: "testdata/raise.wasm", mode: reactor},
	{path: "testdata/sleepy.wasm", mode: reactor},
	{path: "testdata/sleeper.wasm", mode: reactor},
	{path: "testdata/say.wasm", mode: reactor},
	{path: "testdata/gopanic.wasm", mode: reactor, initialize: true},
	{path: "testdata/initonce.wasm", mode: reactor, initialize: true},
	{path: "testdata/loop.wasm", mode: reactor},
	{path: "testdata/membomb.wasm", mode: reactor},
	{path: "testdata/meta.wasm", mode: reactor},
	{path: "testdata/noexport.wasm", mode: neither},
	{path: "testdata/nocshared.wasm", mode: reactor},
	{path: "testdata/outbomb.wasm", mode: reactor},
	{path: "testdata/trap.wasm", mode: reactor},
}

// abi holds the signature of every import of module baton.
var abi = map[string]string{
	"input_len":    "() -> (i32)",
	"input_read":   "(i32, i32) -> (i32)",
	"meta_get":     "(i32, i32, i32, i32) -> (i32)",
	"meta_json":    "(i32, i32) -> (i32)",
	"output_write": "(i32, i32) -> (i32)",
	"set_status":   "(i32) -> ()",
	"object_get":   "(i32, i32, i32, i32, i32, i32) -> (i32)",
	"object_put":   "(i32, i32, i32, i32, i32, i32, i32, i32) -> (i32)",
	"set_header":   "(i32, i32, i32, i32) -> ()",
	"error_set":    "(i32, i32) -> ()",
	"log":          "(i32, i32, i32, i32, i32) -> ()",
}

func signature(f api.FunctionDefinition) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return names(f.ParamTypes()) + " -> " + names(f.ResultTypes())
}

// readModule reads a built module, failing the test with what to do when
// the build has not run.
func readModule(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(buildDir, path))
	if os.IsNotExist(err) {
		t.Fatalf("functions/build/%s is missing: run `go tool task wasm` (or functions/build.sh) first", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestModules(t *testing.T) {
	ctx := context.Background()
	// The interpreter compiles fastest: these checks never run the code.
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	t.Cleanup(func() { r.Close(ctx) })

	for _, m := range modules {
		t.Run(m.path, func(t *testing.T) {
			t.Parallel()
			cm, err := r.CompileModule(ctx, readModule(t, m.path))
			if err != nil {
				t.Fatalf("compiling: %v", err)
			}
			defer cm.Close(ctx)

			exports := cm.ExportedFunctions()
			handle, hasHandle := exports["baton_handle"]
			start, hasStart := exports["_start"]
			_, hasInit := exports["_initialize"]
			switch m.mode {
			case reactor:
				if !hasHandle {
					t.Fatalf("reactor without baton_handle; exports %v", keys(exports))
				}
				if got := signature(handle); got != "() -> (i32)" {
					t.Errorf("baton_handle is %s, want () -> (i32)", got)
				}
				if hasInit != m.initialize {
					t.Errorf("exports _initialize: %v, want %v", hasInit, m.initialize)
				}
			case command:
				if hasHandle || !hasStart {
					t.Fatalf("command exports %v, want _start and no baton_handle", keys(exports))
				}
				if got := signature(start); got != "() -> ()" {
					t.Errorf("_start is %s, want () -> ()", got)
				}
			case neither:
				if hasHandle || hasStart {
					t.Fatalf("exports %v, want neither baton_handle nor _start", keys(exports))
				}
			}
			if _, ok := cm.ExportedMemories()["memory"]; !ok {
				t.Errorf("no memory export")
			}
			if len(cm.ImportedMemories()) > 0 {
				t.Errorf("imports a memory")
			}

			for _, f := range cm.ImportedFunctions() {
				mod, name, _ := f.Import()
				switch {
				case mod == "wasi_snapshot_preview1":
				case mod == "baton" && m.mode == reactor:
					want, ok := abi[name]
					if !ok {
						t.Errorf("imports baton.%s, which the ABI does not define", name)
					} else if got := signature(f); got != want {
						t.Errorf("imports baton.%s as %s, the ABI says %s", name, got, want)
					}
				case mod+"."+name == m.extraImport:
				default:
					t.Errorf("unsupported import %q.%q", mod, name)
				}
			}
		})
	}
}

// TestNoUnlistedModules keeps the table above in step with the build.
func TestNoUnlistedModules(t *testing.T) {
	if _, err := os.Stat(buildDir); err != nil {
		t.Fatalf("functions/build is missing: run `go tool task wasm` (or functions/build.sh) first")
	}
	var built []string
	err := filepath.WalkDir(buildDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".wasm") {
			rel, _ := filepath.Rel(buildDir, path)
			built = append(built, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range built {
		if !slices.ContainsFunc(modules, func(m moduleSpec) bool { return m.path == path }) {
			t.Errorf("functions/build/%s is not listed in modules (stale, or add it)", path)
		}
	}
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
