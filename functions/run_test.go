package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// This file runs the reactors under testHost, a minimal implementation of
// the host side of docs/abi.md: enough to check that the SDK and the WAT
// modules keep the contract, not the baton runtime (no pools, no limits
// but memory and a deadline).

// memoryLimitPages is the default cap of 64 MiB.
const memoryLimitPages = 64 << 20 >> 16

// call is the per-invocation state the host imports read and write.
type call struct {
	input  []byte
	meta   map[string]any // encoded as the meta_json document
	flat   map[string]string
	status int
	header [][2]string
	body   []byte
	errMsg string
	logs   []logLine
}

type logLine struct {
	Level  int
	Msg    string
	Fields map[string]any
}

type callKey struct{}

func current(ctx context.Context) *call { return ctx.Value(callKey{}).(*call) }

// testHost is one wazero runtime with the baton and WASI host modules.
type testHost struct {
	r        wazero.Runtime
	mu       sync.Mutex
	compiled map[string]wazero.CompiledModule
}

var (
	hostOnce sync.Once
	host     *testHost
	hostErr  error
)

// sharedHost returns the host all run tests share, so that each module is
// compiled once.
func sharedHost(t *testing.T) *testHost {
	t.Helper()
	hostOnce.Do(func() { host, hostErr = newTestHost(context.Background()) })
	if hostErr != nil {
		t.Fatal(hostErr)
	}
	return host
}

func newTestHost(ctx context.Context) (*testHost, error) {
	// The interpreter: compiling the Go modules costs the compiler more
	// than running them in the interpreter costs (2 s against 6 s).
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(memoryLimitPages))
	wasi_snapshot_preview1.MustInstantiate(ctx, r)

	read := func(m api.Module, ptr, n uint32) []byte {
		b, ok := m.Memory().Read(ptr, n)
		if !ok {
			panic(fmt.Sprintf("out of bounds: %d+%d", ptr, n))
		}
		return b
	}
	// copyOut implements the length/copy rule of meta_get and meta_json.
	copyOut := func(m api.Module, v []byte, ptr, n uint32) uint32 {
		if n > uint32(len(v)) {
			n = uint32(len(v))
		}
		if !m.Memory().Write(ptr, v[:n]) {
			panic("out of bounds")
		}
		return uint32(len(v))
	}
	_, err := r.NewHostModuleBuilder("baton").
		NewFunctionBuilder().WithFunc(func(ctx context.Context) uint32 {
		return uint32(len(current(ctx).input))
	}).Export("input_len").
		NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module, ptr, n uint32) uint32 {
		in := current(ctx).input
		n = min(n, uint32(len(in)))
		if !m.Memory().Write(ptr, in[:n]) {
			panic("out of bounds")
		}
		return n
	}).Export("input_read").
		NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module, kp, kn, bp, bn uint32) int32 {
		v, ok := current(ctx).flat[string(read(m, kp, kn))]
		if !ok {
			return -1
		}
		return int32(copyOut(m, []byte(v), bp, bn))
	}).Export("meta_get").
		NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module, bp, bn uint32) uint32 {
		doc, err := json.Marshal(current(ctx).meta)
		if err != nil {
			panic(err)
		}
		return copyOut(m, doc, bp, bn)
	}).Export("meta_json").
		NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module, ptr, n uint32) uint32 {
		c := current(ctx)
		c.body = append(c.body, read(m, ptr, n)...)
		return 0
	}).Export("output_write").
		NewFunctionBuilder().WithFunc(func(ctx context.Context, code int32) {
		if code < 100 || code > 599 {
			panic(fmt.Sprintf("invalid status %d", code))
		}
		current(ctx).status = int(code)
	}).Export("set_status").
		NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module, kp, kn, vp, vn uint32) {
		c := current(ctx)
		c.header = append(c.header, [2]string{string(read(m, kp, kn)), string(read(m, vp, vn))})
	}).Export("set_header").
		NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module, ptr, n uint32) {
		current(ctx).errMsg = string(read(m, ptr, n))
	}).Export("error_set").
		NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module, level int32, mp, mn, fp, fn uint32) {
		l := logLine{Level: int(level), Msg: string(read(m, mp, mn))}
		if fn > 0 {
			if err := json.Unmarshal(read(m, fp, fn), &l.Fields); err != nil {
				l.Fields = map[string]any{"fields": string(read(m, fp, fn))}
			}
		}
		c := current(ctx)
		c.logs = append(c.logs, l)
	}).Export("log").
		Instantiate(ctx)
	if err != nil {
		return nil, err
	}
	return &testHost{r: r, compiled: make(map[string]wazero.CompiledModule)}, nil
}

// instance is one reactor instance.
type instance struct {
	t      *testing.T
	m      api.Module
	stderr *testWriter
}

// start instantiates the module at path (under functions/build) and runs
// its _initialize, if any, once.
func (h *testHost) start(t *testing.T, path string, env ...string) *instance {
	t.Helper()
	ctx := context.Background()
	h.mu.Lock()
	cm, ok := h.compiled[path]
	if !ok {
		var err error
		cm, err = h.r.CompileModule(ctx, readModule(t, path))
		if err != nil {
			h.mu.Unlock()
			t.Fatalf("compiling %s: %v", path, err)
		}
		h.compiled[path] = cm
	}
	h.mu.Unlock()

	stderr := &testWriter{t: t}
	cfg := wazero.NewModuleConfig().WithName("").WithArgs(path).
		WithStartFunctions("_initialize").
		WithStderr(stderr).WithSysNanotime().WithSysWalltime()
	for i := 0; i+1 < len(env); i += 2 {
		cfg = cfg.WithEnv(env[i], env[i+1])
	}
	m, err := h.r.InstantiateModule(context.WithValue(ctx, callKey{}, &call{}), cm, cfg)
	if err != nil {
		t.Fatalf("instantiating %s: %v", path, err)
	}
	t.Cleanup(func() { m.Close(ctx) })
	return &instance{t: t, m: m, stderr: stderr}
}

// testWriter keeps a guest's stderr and sends it to the test log, a line
// at a time (the Go runtime prints a fatal error in many small writes).
type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	all  strings.Builder
	line []byte
}

func (w *testWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			break
		}
		w.t.Logf("guest stderr: %s", w.line[:i])
		w.line = w.line[i+1:]
	}
	return len(p), nil
}

// result is one invocation's outcome.
type result struct {
	ret    uint32
	status int
	header [][2]string
	body   string
	errMsg string
	logs   []logLine
	err    error // a trap, an exit or the deadline
}

// invoke calls baton_handle once with input and HTTP-like metadata.
func (in *instance) invoke(input string, method, path, query string, header map[string][]string) result {
	in.t.Helper()
	if header == nil {
		header = map[string][]string{}
	}
	c := &call{
		input:  []byte(input),
		status: 200,
		meta: map[string]any{
			"method": method, "path": path, "query": query, "headers": header,
			"event": map[string]string{
				"id": "ev1", "source": "http", "type": "baton.http.request",
				"subject": "/fn/test" + path, "time": "2026-11-21T10:00:00.123456789Z",
			},
			"function": "test", "version": 3, "invocation_id": "inv1",
			"future_field": []any{1, "x", nil},
		},
		flat: map[string]string{"method": method, "path": path, "query": query, "function": "test", "version": "3"},
	}
	for k, v := range header {
		c.flat["header."+k] = strings.Join(v, ", ")
	}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), callKey{}, c), 30*time.Second)
	defer cancel()
	res, err := in.m.ExportedFunction("baton_handle").Call(ctx)
	r := result{status: c.status, header: c.header, body: string(c.body), errMsg: c.errMsg, logs: c.logs, err: err}
	if err == nil {
		r.ret = uint32(res[0])
	}
	return r
}

// post invokes with a POST to / carrying input.
func (in *instance) post(input string) result {
	in.t.Helper()
	return in.invoke(input, "POST", "/", "", nil)
}

func (r result) String() string {
	return fmt.Sprintf("ret=%d status=%d header=%v body=%q error=%q logs=%v err=%v",
		r.ret, r.status, r.header, r.body, r.errMsg, r.logs, r.err)
}

func TestRunPing(t *testing.T) {
	t.Parallel()
	in := sharedHost(t).start(t, "ping.wasm")
	r := in.post("")
	if r.err != nil || r.ret != 0 || r.body != "pong" || !reflect.DeepEqual(r.header, [][2]string{{"content-type", "text/plain"}}) {
		t.Errorf("ping: %v", r)
	}
}

func TestRunHello(t *testing.T) {
	t.Parallel()
	in := sharedHost(t).start(t, "hello.wasm", "GREETING", "Hi")
	tests := []struct {
		input, want string
		status      int
	}{
		{`{"name":"` + strings.Repeat("A", 100_000) + `"}`, `{"message":"Hi, ` + strings.Repeat("A", 100_000) + `!"}`, 200},
		{`{"name":"Ada"}`, `{"message":"Hi, Ada!"}`, 200}, // a shorter input after a longer one
		{``, `{"message":"Hi, world!"}`, 200},
		{`{"name":`, `{"error":"invalid JSON: unexpected end of JSON input"}`, 400},
	}
	for _, tt := range tests {
		r := in.post(tt.input)
		if r.err != nil || r.ret != 0 || r.status != tt.status || r.body != tt.want ||
			!reflect.DeepEqual(r.header, [][2]string{{"content-type", "application/json"}}) {
			t.Errorf("hello(%.40q): %.300v", tt.input, r)
		}
	}
}

func TestRunEcho(t *testing.T) {
	t.Parallel()
	in := sharedHost(t).start(t, "echo.wasm")
	body := "bin\x00ary\xff" + strings.Repeat("x", 100<<10) // larger than the SDK's output buffer
	r := in.invoke(body, "PUT", "/a/b", "x=1", map[string][]string{"content-type": {"application/octet-stream"}})
	want := [][2]string{
		{"content-type", "application/octet-stream"},
		{"x-echo-method", "PUT"},
		{"x-echo-path", "/a/b"},
		{"x-echo-query", "x=1"},
	}
	if r.err != nil || r.ret != 0 || r.body != body || !reflect.DeepEqual(r.header, want) {
		t.Errorf("echo: %.300v", r)
	}
}

func TestRunWordcount(t *testing.T) {
	t.Parallel()
	in := sharedHost(t).start(t, "wordcount.wasm")
	r := in.post("the cat and the hat\n")
	const want = `{"words":5,"lines":1,"bytes":20,"top":[{"word":"the","count":2},{"word":"and","count":1},{"word":"cat","count":1},{"word":"hat","count":1}]}`
	if r.err != nil || r.ret != 0 || r.body != want {
		t.Errorf("wordcount: %v", r)
	}
}

func TestRunGoPanic(t *testing.T) {
	t.Parallel()
	in := sharedHost(t).start(t, "testdata/gopanic.wasm")

	r := in.post("panic")
	if r.err != nil || r.ret != 1 || r.errMsg != "panic: boom" {
		t.Errorf("panic: %v", r)
	}
	if len(r.logs) != 1 || r.logs[0].Level != 3 || r.logs[0].Fields["panic"] != "panic: boom" {
		t.Errorf("panic not logged: %v", r.logs)
	}

	// The instance survived the panic.
	if r := in.post("still here"); r.err != nil || r.ret != 0 || r.body != "still here" {
		t.Errorf("after panic: %v", r)
	}

	r = in.post("log")
	want := []logLine{{Level: 1, Msg: "fixture log", Fields: map[string]any{"k": "v"}}}
	if r.err != nil || r.ret != 0 || r.body != "logged" || !reflect.DeepEqual(r.logs, want) {
		t.Errorf("log: %v", r)
	}

	// Past the memory cap the Go runtime gives up: it prints "fatal error:
	// out of memory" and a goroutine dump on stderr, then traps
	// (unreachable): memory_limit for the runtime.
	r = in.post("oom")
	if r.err == nil || !strings.Contains(r.err.Error(), "unreachable") {
		t.Errorf("oom: %.300v, want a trap", r)
	}
	if !strings.Contains(in.stderr.String(), "fatal error: out of memory") {
		t.Errorf("oom: no fatal error on stderr")
	}
}

func TestRunCounter(t *testing.T) {
	t.Parallel()
	in := sharedHost(t).start(t, "testdata/counter.wasm")
	for i := 1; i <= 12; i++ {
		if r := in.post(""); r.err != nil || r.body != fmt.Sprint(i) {
			t.Fatalf("call %d: %v", i, r)
		}
	}
}

func TestRunInitOnce(t *testing.T) {
	t.Parallel()
	in := sharedHost(t).start(t, "testdata/initonce.wasm")
	for i := range 3 {
		if r := in.post(""); r.err != nil || r.body != "1" {
			t.Fatalf("call %d: %v", i, r)
		}
	}
}

func TestRunFail(t *testing.T) {
	t.Parallel()
	in := sharedHost(t).start(t, "testdata/fail.wasm")
	if r := in.post(""); r.err != nil || r.ret != 1 || r.errMsg != "boom" {
		t.Errorf("fail: %v", r)
	}
}

func TestRunMeta(t *testing.T) {
	t.Parallel()
	in := sharedHost(t).start(t, "testdata/meta.wasm")
	hdr := map[string][]string{"accept": {"a", "b"}}
	if r := in.invoke("method", "DELETE", "/", "", hdr); r.err != nil || r.body != "DELETE" {
		t.Errorf("meta_get method: %v", r)
	}
	if r := in.invoke("header.accept", "GET", "/", "", hdr); r.err != nil || r.body != "a, b" {
		t.Errorf("meta_get header.accept: %v", r)
	}
	if r := in.invoke("nope", "GET", "/", "", hdr); r.err != nil || r.status != 404 || r.body != "" {
		t.Errorf("meta_get nope: %v", r)
	}
	r := in.invoke("", "GET", "/p", "q", hdr)
	var doc map[string]any
	if r.err != nil || json.Unmarshal([]byte(r.body), &doc) != nil || doc["path"] != "/p" {
		t.Errorf("meta_json: %v", r)
	}
}

// TestRunTraps checks the hostile fixtures fail as they should under
// testHost; the runtime's own tests check the error codes.
func TestRunTraps(t *testing.T) {
	t.Parallel()
	h := sharedHost(t)
	tests := []struct {
		path string
		want string // in the error
	}{
		{"testdata/trap.wasm", "unreachable"},
		{"testdata/membomb.wasm", "unreachable"},
		{"testdata/badstatus.wasm", "invalid status 999"},
	}
	for _, tt := range tests {
		r := h.start(t, tt.path).post("")
		if r.err == nil || !strings.Contains(r.err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", tt.path, r, tt.want)
		}
	}
}
