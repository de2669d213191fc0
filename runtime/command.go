package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/baton-run/baton/event"
)

// runCommand runs a WASI command module once on ev: a fresh instance with
// the data on stdin and metadata in the environment; stdout is the body.
func (f *Function) runCommand(ctx context.Context, ev *event.Event, resp *event.Response) error {
	stderr := &guestOutput{log: f.log, stream: "stderr", invocationID: ev.InvocationID}
	stdout := &limitWriter{resp: resp, limit: f.opts.Limits.MaxOutputBytes}
	cfg := f.baseConfig.
		WithStdin(bytes.NewReader(ev.Data)).
		WithStdout(stdout).
		WithStderr(stderr)
	for _, kv := range commandEnv(f, ev) {
		cfg = cfg.WithEnv(kv[0], kv[1])
	}

	ctx, cancel := context.WithTimeoutCause(ctx, f.opts.Limits.Timeout, errDeadline)
	defer cancel()
	cfg = cfg.WithNanosleep(func(ns int64) { // a sleeping guest still meets its deadline
		t := time.NewTimer(time.Duration(ns))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	})
	mod, err := f.rt.InstantiateModule(ctx, f.compiled, cfg)
	if err != nil {
		return fmt.Errorf("instantiating %s: %w", f.opts.Name, err)
	}
	defer mod.Close(context.Background())
	stdout.mod = mod

	_, err = mod.ExportedFunction(exportCmd).Call(ctx)
	var exit *sys.ExitError
	switch {
	case err == nil:
	case stdout.over.Load():
		return event.Errorf(event.CodeOutputTooLarge, "the function wrote more than %d bytes", stdout.limit)
	case errors.Is(context.Cause(ctx), errDeadline):
		return event.Errorf(event.CodeTimeout, "%s ran past its %s timeout", f.opts.Name, f.opts.Limits.Timeout)
	case ctx.Err() != nil:
		return &event.Error{Code: event.CodeCanceled, Message: "the caller went away", Err: ctx.Err()}
	case errors.As(err, &exit) && exit.ExitCode() == 0:
		err = nil
	case errors.As(err, &exit):
		msg := fmt.Sprintf("exit code %d", exit.ExitCode())
		if tail := stderr.tail(); tail != "" {
			msg += ": " + tail
		}
		if strings.Contains(msg, "out of memory") {
			return event.Errorf(event.CodeMemoryLimit, "memory limit of %d MiB reached (%s)", f.opts.Limits.MemoryMiB, msg)
		}
		return &event.Error{Code: event.CodeFunctionError, Message: msg}
	default:
		inst := &instance{fn: f, mod: mod, stderr: stderr}
		return f.classify(inst, err)
	}
	stderr.mu.Lock()
	stderr.flushLocked()
	stderr.mu.Unlock()
	return err
}

var errDeadline = errors.New("function deadline")

// commandEnv lists the BATON_* variables of a command invocation.
func commandEnv(f *Function, ev *event.Event) [][2]string {
	env := [][2]string{
		{"BATON_FUNCTION", f.opts.Name},
		{"BATON_VERSION", fmt.Sprint(f.opts.Version)},
		{"BATON_INVOCATION_ID", ev.InvocationID},
		{"BATON_ATTEMPT", fmt.Sprint(max(ev.Attempt, 1))},
		{"BATON_METHOD", ev.Method},
		{"BATON_PATH", ev.Path},
		{"BATON_QUERY", ev.Query},
		{"BATON_EVENT_ID", ev.ID},
		{"BATON_EVENT_SOURCE", ev.Source},
		{"BATON_EVENT_TYPE", ev.Type},
		{"BATON_EVENT_SUBJECT", ev.Subject},
	}
	if !ev.Time.IsZero() {
		env = append(env, [2]string{"BATON_EVENT_TIME", ev.Time.UTC().Format(time.RFC3339Nano)})
	}
	for _, k := range sortedKeys(flatHeader(ev)) {
		name := "BATON_HEADER_" + strings.ToUpper(strings.ReplaceAll(k, "-", "_"))
		env = append(env, [2]string{name, strings.Join(ev.Header.Values(k), ", ")})
	}
	return env
}

func flatHeader(ev *event.Event) map[string]string {
	m := make(map[string]string, len(ev.Header))
	for k := range ev.Header {
		m[k] = ""
	}
	return m
}

// limitWriter appends to resp.Body up to limit and stops the guest past it.
type limitWriter struct {
	resp  *event.Response
	limit int
	mod   api.Module
	over  atomic.Bool
}

var errOutputTooLarge = errors.New("output too large")

func (w *limitWriter) Write(p []byte) (int, error) {
	if len(w.resp.Body)+len(p) > w.limit {
		w.over.Store(true)
		if w.mod != nil {
			_ = w.mod.CloseWithExitCode(context.Background(), exitCanceled)
		}
		return 0, errOutputTooLarge
	}
	w.resp.Body = append(w.resp.Body, p...)
	return len(p), nil
}
