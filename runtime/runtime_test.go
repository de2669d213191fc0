package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/internal/testutil"
	"github.com/baton-run/baton/runtime"
)

func newEngine(t *testing.T, logger *slog.Logger) *runtime.Engine {
	t.Helper()
	e, err := runtime.NewEngine(context.Background(), runtime.Config{CacheDir: testutil.CacheDir(t), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

func load(t *testing.T, e *runtime.Engine, module string, limits runtime.Limits) *runtime.Function {
	t.Helper()
	name := filepath.Base(module)
	f, err := e.Load(context.Background(), testutil.Module(t, module), runtime.Options{Name: name, Version: 1, Limits: limits, Env: map[string]string{"GREETING": "Howdy"}})
	if err != nil {
		t.Fatalf("loading %s: %v", module, err)
	}
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	return f
}

func invoke(t *testing.T, f *runtime.Function, data string) (*event.Response, error) {
	t.Helper()
	var resp event.Response
	ev := event.Event{ID: "e1", Source: "test", Method: "POST", Path: "/", Data: []byte(data), InvocationID: "inv-1"}
	err := f.Invoke(context.Background(), &ev, &resp)
	return &resp, err
}

func TestInspect(t *testing.T) {
	e := newEngine(t, nil)
	tests := []struct {
		name    string
		module  []byte
		mode    runtime.Mode
		wantErr string
	}{
		{"garbage", []byte("\x00asm\x01\x00\x00\x00garbage"), "", "invalid wasm"},
		{"not wasm", []byte("hello, world"), "", "invalid wasm"},
		{"bad import", testutil.Module(t, "testdata/badimport"), "", `unsupported import "env"."foo"`},
		{"no export", testutil.Module(t, "testdata/noexport"), "", "exports neither baton_handle nor _start"},
		{"reactor without c-shared", testutil.Module(t, "testdata/nocshared"), "", "-buildmode=c-shared"},
		{"go reactor", testutil.Module(t, "hello"), runtime.ModeReactor, ""},
		{"wat reactor", testutil.Module(t, "ping"), runtime.ModeReactor, ""},
		{"wasi command", testutil.Module(t, "upper"), runtime.ModeCommand, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := e.Inspect(context.Background(), tt.module)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if !errors.Is(err, event.ErrInvalidModule) {
					t.Fatalf("err = %v is not invalid_module", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode != tt.mode {
				t.Fatalf("mode = %s, want %s", info.Mode, tt.mode)
			}
		})
	}
}

func TestLoadRejectsMemoryBeyondLimit(t *testing.T) {
	e := newEngine(t, nil)
	// Go modules start with several MiB of memory.
	_, err := e.Load(context.Background(), testutil.Module(t, "hello"), runtime.Options{Name: "hello", Limits: runtime.Limits{MemoryMiB: 1}})
	if !errors.Is(err, event.ErrInvalidModule) || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("err = %v, want invalid_module about memory", err)
	}
}

func TestReactorExamples(t *testing.T) {
	e := newEngine(t, nil)
	t.Run("ping", func(t *testing.T) {
		f := load(t, e, "ping", runtime.Limits{})
		resp, err := invoke(t, f, "")
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != "pong" || resp.Status != 200 {
			t.Fatalf("got %d %q", resp.Status, resp.Body)
		}
	})
	t.Run("hello", func(t *testing.T) {
		f := load(t, e, "hello", runtime.Limits{})
		for i := 0; i < 3; i++ { // warm calls reuse the instance
			resp, err := invoke(t, f, `{"name":"Ada"}`)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(resp.Body), "Howdy, Ada!") {
				t.Fatalf("body = %q, want the greeting from env GREETING", resp.Body)
			}
		}
		if s := f.Stats(); s.Created != 1 || s.Idle != 1 {
			t.Fatalf("stats = %+v, want one instance reused", s)
		}
	})
}

func TestInstanceReuseAndInit(t *testing.T) {
	e := newEngine(t, nil)
	counter := load(t, e, "testdata/counter", runtime.Limits{})
	for want := 1; want <= 3; want++ {
		resp, err := invoke(t, counter, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := string(resp.Body); got != fmt.Sprint(want) {
			t.Fatalf("call %d: counter = %q: the instance was not reused", want, got)
		}
	}
	initonce := load(t, e, "testdata/initonce", runtime.Limits{})
	for i := 0; i < 3; i++ {
		resp, err := invoke(t, initonce, "")
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != "1" {
			t.Fatalf("_initialize ran %q times on one instance, want 1", resp.Body)
		}
	}
}

// TestHostileGuests runs each hostile guest and checks that it fails with
// the right code, its instance is discarded, and the function keeps
// serving afterwards.
func TestHostileGuests(t *testing.T) {
	e := newEngine(t, nil)
	tests := []struct {
		module string
		limits runtime.Limits
		input  string
		code   event.Code
		msg    string
	}{
		{"testdata/loop", runtime.Limits{Timeout: 100 * time.Millisecond}, "", event.CodeTimeout, "timeout"},
		{"testdata/sleeper", runtime.Limits{Timeout: 100 * time.Millisecond}, "", event.CodeTimeout, "timeout"},
		{"testdata/membomb", runtime.Limits{MemoryMiB: 4}, "", event.CodeMemoryLimit, "memory limit of 4 MiB"},
		{"testdata/outbomb", runtime.Limits{MaxOutputBytes: 1 << 20}, "", event.CodeOutputTooLarge, "1048576"},
		{"testdata/trap", runtime.Limits{}, "", event.CodeFunctionTrap, "unreachable"},
		{"testdata/fail", runtime.Limits{}, "", event.CodeFunctionError, "boom"},
		{"testdata/badstatus", runtime.Limits{}, "", event.CodeInvalidStatus, "999"},
		{"testdata/gopanic", runtime.Limits{}, "panic", event.CodeFunctionError, "panic"},
		{"testdata/gopanic", runtime.Limits{MemoryMiB: 24}, "oom", event.CodeMemoryLimit, "memory limit of 24 MiB"},
		{"testdata/cmdloop", runtime.Limits{Timeout: 100 * time.Millisecond}, "", event.CodeTimeout, "timeout"},
		{"testdata/cmdexit", runtime.Limits{}, "", event.CodeFunctionError, "bad things"},
		{"upper", runtime.Limits{}, "fail", event.CodeFunctionError, "exit code 3"},
	}
	for _, tt := range tests {
		t.Run(tt.module+"/"+tt.input, func(t *testing.T) {
			f := load(t, e, tt.module, tt.limits)
			for i := 0; i < 2; i++ { // twice: a fresh instance fails the same way
				_, err := invoke(t, f, tt.input)
				if event.CodeOf(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("call %d: err = %v, want code %s containing %q", i, err, tt.code, tt.msg)
				}
			}
			s := f.Stats()
			if s.Busy != 0 || s.Queued != 0 {
				t.Fatalf("stats after failures = %+v, want nothing busy or queued", s)
			}
			if tt.code != event.CodeFunctionError && f.Info().Mode == runtime.ModeReactor && s.Discarded != 2 {
				t.Fatalf("stats = %+v, want both broken instances discarded", s)
			}
		})
	}
}

func TestHostileGuestDoesNotDisturbOthers(t *testing.T) {
	e := newEngine(t, nil)
	loop := load(t, e, "testdata/loop", runtime.Limits{Timeout: 300 * time.Millisecond, MaxInstances: 2})
	ping := load(t, e, "ping", runtime.Limits{})
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = invoke(t, loop, "")
		}()
	}
	// While both loop instances spin, other functions serve normally.
	for i := 0; i < 50; i++ {
		if resp, err := invoke(t, ping, ""); err != nil || string(resp.Body) != "pong" {
			t.Fatalf("ping while loop runs: %v %q", err, resp.Body)
		}
	}
	wg.Wait()
}

func TestCommand(t *testing.T) {
	e := newEngine(t, nil)
	f := load(t, e, "upper", runtime.Limits{})
	for i := 0; i < 3; i++ {
		resp, err := invoke(t, f, "hello, wasi")
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != "HELLO, WASI" {
			t.Fatalf("body = %q", resp.Body)
		}
	}
}

func TestInputTooLarge(t *testing.T) {
	e := newEngine(t, nil)
	f := load(t, e, "ping", runtime.Limits{MaxInputBytes: 10})
	_, err := invoke(t, f, strings.Repeat("x", 11))
	if !errors.Is(err, event.ErrInputTooLarge) {
		t.Fatalf("err = %v, want input_too_large", err)
	}
	if s := f.Stats(); s.Created != 0 {
		t.Fatalf("an instance was created for a refused call: %+v", s)
	}
}

func TestQueueBounds(t *testing.T) {
	e := newEngine(t, nil)
	t.Run("no queue", func(t *testing.T) {
		f := load(t, e, "testdata/loop", runtime.Limits{Timeout: 500 * time.Millisecond, MaxInstances: 1, MaxQueue: -1})
		done := make(chan error, 1)
		go func() { _, err := invoke(t, f, ""); done <- err }()
		testutil.Eventually(t, 5*time.Second, "the instance to be busy", func() bool { return f.Stats().Busy == 1 })
		_, err := invoke(t, f, "")
		var be *event.Error
		if !errors.As(err, &be) || be.Code != event.CodeBusy || be.RetryAfter <= 0 {
			t.Fatalf("err = %v, want busy with a retry-after", err)
		}
		<-done
	})
	t.Run("queue timeout", func(t *testing.T) {
		f := load(t, e, "testdata/loop", runtime.Limits{Timeout: 2 * time.Second, MaxInstances: 1, MaxQueue: 1, QueueTimeout: 50 * time.Millisecond})
		done := make(chan error, 1)
		go func() { _, err := invoke(t, f, ""); done <- err }()
		testutil.Eventually(t, 5*time.Second, "the instance to be busy", func() bool { return f.Stats().Busy == 1 })
		if _, err := invoke(t, f, ""); !errors.Is(err, event.ErrBusy) {
			t.Fatalf("err = %v, want busy after the queue timeout", err)
		}
		if s := f.Stats(); s.Queued != 0 || s.Rejected != 1 {
			t.Fatalf("stats = %+v", s)
		}
		<-done
	})
	t.Run("queued call is served", func(t *testing.T) {
		f := load(t, e, "testdata/loop", runtime.Limits{Timeout: 200 * time.Millisecond, MaxInstances: 1, MaxQueue: 1, QueueTimeout: 5 * time.Second})
		errs := make(chan error, 2)
		for i := 0; i < 2; i++ {
			go func() { _, err := invoke(t, f, ""); errs <- err }()
		}
		for i := 0; i < 2; i++ {
			// Both run (one after the other) to their deadline: the queued
			// one got the slot of the discarded instance.
			if err := <-errs; !errors.Is(err, event.ErrTimeout) {
				t.Fatalf("err = %v, want timeout", err)
			}
		}
		if s := f.Stats(); s.Created != 2 || s.Rejected != 0 {
			t.Fatalf("stats = %+v", s)
		}
	})
}

func TestCancel(t *testing.T) {
	e := newEngine(t, nil)
	f := load(t, e, "testdata/loop", runtime.Limits{Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		testutil.Eventually(t, 5*time.Second, "the call to start", func() bool { return f.Stats().Busy == 1 })
		cancel()
	}()
	var resp event.Response
	err := f.Invoke(ctx, &event.Event{}, &resp)
	if !errors.Is(err, event.ErrCanceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
}

// TestConcurrentCalls hammers one pool from many goroutines (run with -race).
func TestConcurrentCalls(t *testing.T) {
	e := newEngine(t, nil)
	f := load(t, e, "hello", runtime.Limits{MaxInstances: 4, MaxQueue: 1000})
	const workers, calls = 32, 20
	var ok atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var resp event.Response
			for i := 0; i < calls; i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				ev := event.Event{Data: []byte(`{"name":"` + name + `"}`)}
				if err := f.Invoke(context.Background(), &ev, &resp); err != nil {
					t.Error(err)
					return
				}
				if !bytes.Contains(resp.Body, []byte(name)) {
					t.Errorf("got %q for %s: a response crossed calls", resp.Body, name)
					return
				}
				ok.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok.Load() != workers*calls {
		t.Fatalf("%d of %d calls succeeded", ok.Load(), workers*calls)
	}
	if s := f.Stats(); s.Live > 4 || s.Created > 4 {
		t.Fatalf("stats = %+v, want at most 4 instances", s)
	}
}

func TestGuestLog(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEngine(t, logger)
	f := load(t, e, "testdata/gopanic", runtime.Limits{})
	resp, err := invoke(t, f, "log")
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != "logged" {
		t.Fatalf("body = %q", resp.Body)
	}
	out := buf.String()
	for _, want := range []string{`"function":"gopanic"`, `"invocation_id":"inv-1"`, `"k":"v"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("log %q lacks %s", out, want)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCompilationCacheSurvivesRestart loads a module with one engine, then
// with a second engine on the same cache directory (a restart): the second
// load must come from the cache, leaving its files untouched.
func TestCompilationCacheSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	module := testutil.Module(t, "ping")
	snapshot := func() map[string]time.Time {
		m := map[string]time.Time{}
		_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				m[p] = fi.ModTime()
			}
			return nil
		})
		return m
	}
	run := func() {
		e, err := runtime.NewEngine(context.Background(), runtime.Config{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		f, err := e.Load(context.Background(), module, runtime.Options{Name: "ping"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := invoke(t, f, ""); err != nil {
			t.Fatal(err)
		}
		_ = f.Close(context.Background())
		_ = e.Close(context.Background())
	}
	run()
	first := snapshot()
	if len(first) == 0 {
		t.Fatal("nothing was written to the compilation cache")
	}
	time.Sleep(10 * time.Millisecond) // let a rewrite show in mtimes
	run()
	second := snapshot()
	if len(second) != len(first) {
		t.Fatalf("cache files: %d after first start, %d after restart", len(first), len(second))
	}
	for p, mt := range first {
		if !second[p].Equal(mt) {
			t.Fatalf("%s was rewritten on restart: the module was compiled again", p)
		}
	}
}

// A caller whose context has ended before the call, or ends while the
// guest sleeps, gets canceled (the watch of the caller starts after
// watchDelay, or at once for a context already done).
func TestCancelBeforeAndDuringSleep(t *testing.T) {
	e := newEngine(t, nil)
	f := load(t, e, "testdata/sleeper", runtime.Limits{Timeout: time.Minute})
	done, cancel := context.WithCancel(context.Background())
	cancel()
	var resp event.Response
	if err := f.Invoke(done, &event.Event{}, &resp); !errors.Is(err, event.ErrCanceled) {
		t.Fatalf("an ended context: err = %v, want canceled", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		testutil.Eventually(t, 5*time.Second, "the call to start", func() bool { return f.Stats().Busy == 1 })
		cancel()
	}()
	if err := f.Invoke(ctx, &event.Event{}, &resp); !errors.Is(err, event.ErrCanceled) {
		t.Fatalf("cancelled while asleep: err = %v, want canceled", err)
	}
}
