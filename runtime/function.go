package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/baton-run/baton/event"
)

// Function is one loaded function version with its instance pool. It is
// safe for concurrent use.
type Function struct {
	engine     *Engine
	rt         wazero.Runtime
	compiled   wazero.CompiledModule
	info       Info
	opts       Options
	log        *slog.Logger
	baseConfig wazero.ModuleConfig
	pool       *pool
	closed     atomic.Bool
	unloaded   chan struct{}
}

// Info describes the module.
func (f *Function) Info() Info { return f.info }

// Options returns the options the function was loaded with, limits defaulted.
func (f *Function) Options() Options { return f.opts }

// Stats is a snapshot of the function's pool.
func (f *Function) Stats() PoolStats { return f.pool.snapshot() }

// ScaleDown closes idle instances beyond keep, those idle longest first,
// and returns how many it closed. Their memory is returned; the compiled
// module stays loaded, so the next call is a scale-from-zero, not a
// compile.
func (f *Function) ScaleDown(keep int) int { return f.pool.shrink(keep) }

// CloseIdle closes up to n of the instances that have been idle for at
// least idleFor, those idle longest first, and returns how many it closed.
// Like ScaleDown it keeps the compiled module.
func (f *Function) CloseIdle(n int, idleFor time.Duration) int {
	return f.pool.closeIdle(n, idleFor)
}

// Prewarm creates up to n instances ahead of demand, never more than the
// function's MaxInstances in all, and returns how many it created. They
// wait idle (or serve calls already queued). It stops at the first error,
// and checks ctx between instances (an _initialize already running is
// bounded by the function's timeout, not by ctx).
func (f *Function) Prewarm(ctx context.Context, n int) (int, error) {
	if f.closed.Load() {
		return 0, errPoolClosed
	}
	return f.pool.prewarm(ctx, n)
}

// Observe is Stats plus how long each idle instance has been idle,
// longest first, appended to ages. It also starts a new period for
// PoolStats.PeakBusy, so one observer (the scaler) should call it.
func (f *Function) Observe(ages []time.Duration) (PoolStats, []time.Duration) {
	return f.pool.observe(ages)
}

// Close unloads the function and returns at once: calls after Close fail,
// idle instances go now and busy ones (and those being created) when
// their call ends; the function's runtime goes with the last of them
// (closing it under a running or instantiating module would race with
// its host calls). Unloaded says when that happened.
func (f *Function) Close(context.Context) error {
	if !f.closed.Swap(true) {
		f.pool.close()
	}
	return nil
}

// Unloaded is closed once a closed function's last instance and its
// runtime are gone.
func (f *Function) Unloaded() <-chan struct{} { return f.unloaded }

// reasons an instance was closed from outside its call.
const (
	reasonNone int32 = iota
	reasonTimeout
	reasonCanceled
)

// exit codes used when baton closes an instance.
const (
	exitCanceled = 0xBA70_0002
)

// instance is one instantiated module. Only one call uses it at a time.
type instance struct {
	fn     *Function
	mod    api.Module
	handle api.Function
	// ctx is passed to every call: it carries the instance to the host
	// functions and the caller's cancellation to wazero without an
	// allocation per call, and has no deadline (the timer below enforces
	// that, again without allocating).
	ctx    *callCtx
	call   callState
	timer  *time.Timer
	reason atomic.Int32
	stack  [1]uint64
	// stop closes when the current call must stop (see callCtx).
	stopCh chan struct{}
	cancel func()
	// watchTimer arms the watch of the caller's context (watchCaller)
	// on a call that outlasts watchDelay.
	watchTimer *time.Timer
	watchMu    sync.Mutex
	watchCtx   context.Context
	watchStop  func() bool
	stderr     *guestOutput
	stdout     *guestOutput
	// idleSince is the monotime at which the instance last went idle.
	idleSince int64
}

type instanceKey struct{}

func instanceFrom(ctx context.Context) *instance {
	if c, ok := ctx.(*callCtx); ok {
		return c.inst
	}
	inst, _ := ctx.Value(instanceKey{}).(*instance)
	return inst
}

// callCtx is the context of every call into one instance, made once per
// instance. wazero (WithCloseOnContextDone) watches its Done channel and
// stops the guest when it closes — at compiled code's checkpoints, safely
// from its own goroutine. Done is the instance's stop channel, closed by
// interrupt when the deadline timer fires or the caller goes away; an
// interrupted instance is discarded, so the channel is never reused.
// (Closing the module from another goroutine instead races with host
// functions that are using its resources.) Value answers the instance
// without a per-call context.WithValue; other keys go to the caller's
// context, swapped in under a lock for each call.
type callCtx struct {
	inst   *instance
	mu     sync.Mutex
	parent context.Context
}

func (c *callCtx) set(parent context.Context) {
	c.mu.Lock()
	c.parent = parent
	c.mu.Unlock()
}

func (c *callCtx) get() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parent
}

// Deadline reports none: the instance's timer enforces the deadline.
func (c *callCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done closes when the call must stop.
func (c *callCtx) Done() <-chan struct{} { return c.inst.stopCh }

// Err says why Done closed.
func (c *callCtx) Err() error {
	switch c.inst.reason.Load() {
	case reasonTimeout:
		return context.DeadlineExceeded
	case reasonCanceled:
		return context.Canceled
	}
	return nil
}

// Value answers the instance for instanceKey and asks the caller otherwise.
func (c *callCtx) Value(key any) any {
	if key == (instanceKey{}) {
		return c.inst
	}
	return c.get().Value(key)
}

// sleep is the guest's nanosleep (WASI poll_oneoff on a clock): it ends
// early when the call must stop, so a sleeping guest meets its deadline.
func (inst *instance) sleep(ns int64) {
	t := time.NewTimer(time.Duration(ns))
	select {
	case <-t.C:
	case <-inst.stopCh:
		t.Stop()
	}
}

// newInstance creates and initialises a reactor instance, or a token for
// a command (whose real instance is made per call).
func (f *Function) newInstance(ctx context.Context) (*instance, error) {
	inst := &instance{fn: f}
	if f.info.Mode == ModeCommand {
		return inst, nil
	}
	inst.ctx = &callCtx{inst: inst, parent: context.Background()}
	inst.stdout = &guestOutput{inst: inst, stream: "stdout"}
	inst.stderr = &guestOutput{inst: inst, stream: "stderr"}
	inst.stopCh = make(chan struct{})
	inst.cancel = func() { inst.interrupt(reasonCanceled) }
	mod, err := f.rt.InstantiateModule(ctx, f.compiled, f.baseConfig.WithStdout(inst.stdout).WithStderr(inst.stderr).WithNanosleep(inst.sleep))
	if err != nil {
		return nil, fmt.Errorf("instantiating %s: %w", f.opts.Name, err)
	}
	inst.mod = mod
	inst.handle = mod.ExportedFunction(exportMain)
	inst.timer = time.AfterFunc(time.Hour, func() { inst.interrupt(reasonTimeout) })
	inst.timer.Stop()
	inst.watchTimer = time.AfterFunc(time.Hour, inst.watchCaller)
	inst.watchTimer.Stop()
	if init := mod.ExportedFunction(exportInit); init != nil {
		inst.timer.Reset(f.opts.Limits.Timeout)
		err := init.CallWithStack(inst.ctx, nil)
		stopped := inst.timer.Stop()
		if err == nil && (!stopped || inst.reason.Load() != reasonNone) {
			err = errInterrupted
		}
		if err != nil {
			ferr := f.classify(inst, err)
			inst.close()
			return nil, fmt.Errorf("initialising %s: %w", f.opts.Name, ferr)
		}
	}
	return inst, nil
}

// watchDelay is how long a call runs before its caller's cancellation is
// watched. Watching costs a context.AfterFunc (two allocations); a warm
// call usually ends well before, so the steady state allocates nothing,
// and a caller that goes away stops a long call within watchDelay.
const watchDelay = 5 * time.Millisecond

// watch arms the watch of ctx for the call about to run: after
// watchDelay, or at once when ctx has ended already.
func (inst *instance) watch(ctx context.Context) {
	inst.watchMu.Lock()
	inst.watchCtx = ctx
	inst.watchMu.Unlock()
	if ctx.Err() != nil {
		inst.watchCaller()
		return
	}
	inst.watchTimer.Reset(watchDelay)
}

// watchCaller makes the caller's cancellation interrupt the running call.
func (inst *instance) watchCaller() {
	inst.watchMu.Lock()
	defer inst.watchMu.Unlock()
	if inst.watchCtx != nil && inst.watchStop == nil {
		inst.watchStop = context.AfterFunc(inst.watchCtx, inst.cancel)
	}
}

// unwatch ends the watch of the call that returned.
func (inst *instance) unwatch() {
	inst.watchTimer.Stop()
	inst.watchMu.Lock()
	stop := inst.watchStop
	inst.watchCtx, inst.watchStop = nil, nil
	inst.watchMu.Unlock()
	if stop != nil {
		stop()
	}
}

func (inst *instance) interrupt(reason int32) {
	if inst.reason.CompareAndSwap(reasonNone, reason) {
		close(inst.stopCh)
	}
}

func (inst *instance) close() {
	if inst.mod != nil {
		inst.timer.Stop()
		if inst.watchTimer != nil {
			inst.watchTimer.Stop()
		}
		_ = inst.mod.Close(context.Background())
	}
}

// Invoke runs the function on ev and writes the result into resp (which is
// Reset first). A failed invocation returns an *event.Error whose code says
// why (docs/abi.md); resp is then undefined.
func (f *Function) Invoke(ctx context.Context, ev *event.Event, resp *event.Response) error {
	if f.closed.Load() {
		return errPoolClosed
	}
	if len(ev.Data) > f.opts.Limits.MaxInputBytes {
		return event.Errorf(event.CodeInputTooLarge, "event data is %d bytes, more than the %d allowed", len(ev.Data), f.opts.Limits.MaxInputBytes)
	}
	inst, err := f.pool.acquire(ctx)
	if err != nil {
		return err
	}
	resp.Reset()
	if f.info.Mode == ModeCommand {
		err = f.runCommand(ctx, ev, resp)
		f.pool.release(inst, true)
		return err
	}

	inst.call = callState{ev: ev, resp: resp, errMsg: inst.call.errMsg[:0]}
	inst.stdout.reset()
	inst.stderr.reset()
	inst.timer.Reset(f.opts.Limits.Timeout)
	inst.ctx.set(ctx)
	watching := ctx.Done() != nil
	if watching {
		inst.watch(ctx)
	}
	err = inst.handle.CallWithStack(inst.ctx, inst.stack[:])
	stopped := inst.timer.Stop()
	if watching {
		inst.unwatch()
	}
	inst.ctx.set(context.Background())
	healthy := err == nil && stopped && inst.reason.Load() == reasonNone
	if err == nil && inst.reason.Load() != reasonNone {
		// Stopped while in a host call (a sleep cut short) and returned
		// before a checkpoint noticed: the deadline still counts.
		err = errInterrupted
	}
	if err != nil {
		err = f.classify(inst, err)
	} else if rc := int32(inst.stack[0]); rc != 0 {
		msg := string(inst.call.errMsg)
		if msg == "" {
			msg = "function returned " + strconv.Itoa(int(rc))
		}
		err = &event.Error{Code: event.CodeFunctionError, Message: msg}
	}
	inst.call = callState{errMsg: inst.call.errMsg[:0]}
	f.pool.release(inst, healthy)
	return err
}

var errInterrupted = errors.New("interrupted")

// classify turns the error of a guest call into an *event.Error.
func (f *Function) classify(inst *instance, err error) error {
	if fail := inst.call.fail; fail != nil {
		return fail
	}
	switch inst.reason.Load() {
	case reasonTimeout:
		return event.Errorf(event.CodeTimeout, "%s ran past its %s timeout", f.opts.Name, f.opts.Limits.Timeout)
	case reasonCanceled:
		return &event.Error{Code: event.CodeCanceled, Message: "the caller went away", Err: err}
	}
	msg := err.Error()
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		msg = fmt.Sprintf("exited with code %d", exit.ExitCode())
	} else if i := strings.IndexByte(msg, '\n'); i > 0 {
		msg = msg[:i] // drop the wasm stack trace
	}
	tail := ""
	if inst.stderr != nil {
		tail = inst.stderr.tail()
	}
	if tail != "" {
		msg += ": " + tail
	}
	if f.nearMemoryCap(inst) || strings.Contains(tail, "out of memory") {
		return &event.Error{Code: event.CodeMemoryLimit, Message: fmt.Sprintf("memory limit of %d MiB reached (%s)", f.opts.Limits.MemoryMiB, msg), Err: err}
	}
	return &event.Error{Code: event.CodeFunctionTrap, Message: msg, Err: err}
}

// nearMemoryCap reports whether the instance's memory is within 1 MiB of
// its cap: a trap there is almost surely a failed memory.grow.
func (f *Function) nearMemoryCap(inst *instance) bool {
	if inst.mod == nil {
		return false
	}
	mem := inst.mod.Memory()
	if mem == nil {
		return false
	}
	return uint64(mem.Size())+1<<20 > uint64(f.opts.Limits.MemoryMiB)<<20
}
