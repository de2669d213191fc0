package asl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// TaskInvoker runs the function behind a Task state. target is
// "fn:NAME" or "fn:NAME:QUALIFIER" for function resources (Lambda ARNs
// and the lambda:invoke integration are mapped to it), else the Resource
// as written. A failure should be a *TaskError so that Retry and Catch see
// its name; any other error counts as States.TaskFailed.
type TaskInvoker interface {
	Invoke(ctx context.Context, target string, input json.RawMessage) (json.RawMessage, error)
}

// TaskInvokerFunc adapts a function to TaskInvoker.
type TaskInvokerFunc func(ctx context.Context, target string, input json.RawMessage) (json.RawMessage, error)

// Invoke calls f.
func (f TaskInvokerFunc) Invoke(ctx context.Context, target string, input json.RawMessage) (json.RawMessage, error) {
	return f(ctx, target, input)
}

// Clock tells time and sleeps; tests swap in InstantClock.
type Clock interface {
	Now() time.Time
	// SleepUntil returns when t has come or ctx is done (with ctx.Err()).
	SleepUntil(ctx context.Context, t time.Time) error
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// SleepUntil sleeps until t or until ctx is done.
func (SystemClock) SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// InstantClock is a Clock whose SleepUntil returns at once and moves the
// clock forward, so Wait states and retry back-offs take no real time.
type InstantClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewInstantClock returns an InstantClock reading start.
func NewInstantClock(start time.Time) *InstantClock { return &InstantClock{now: start} }

// Now returns the clock's time.
func (c *InstantClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// SleepUntil advances the clock to t (if later) and returns.
func (c *InstantClock) SleepUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	if t.After(c.now) {
		c.now = t
	}
	c.mu.Unlock()
	return ctx.Err()
}

// RunOptions configures Run.
type RunOptions struct {
	// Invoker runs Task states; without one every task fails.
	Invoker TaskInvoker
	// Clock defaults to SystemClock.
	Clock Clock
	// Info names the execution for the context object; defaults apply.
	Info ExecutionInfo
}

// Result is the outcome of Run.
type Result struct {
	Status Status          `json:"status"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
	Cause  string          `json:"cause,omitempty"`
	// StatesEntered lists state names in the order they were entered;
	// states of concurrent branches interleave.
	StatesEntered []string `json:"statesEntered"`
	// History is every event, in the order they were recorded.
	History []HistoryEvent `json:"history"`
}

// Run executes m in memory to completion: the simple driver of Step.
// Parallel branches and Map iterations run concurrently (bounded by
// MaxConcurrency); every goroutine it starts has ended when it returns.
// The error is for the driver itself (bad input, a Step error); a failed
// execution is a Result with Status FAILED.
func Run(ctx context.Context, m *Machine, input json.RawMessage, opts RunOptions) (*Result, error) {
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	in, err := decodeJSON(input)
	if err != nil {
		return nil, fmt.Errorf("running execution: input is not JSON: %w", err)
	}
	clock := opts.Clock
	if clock == nil {
		clock = SystemClock{}
	}
	info := opts.Info
	if info.StartTime.IsZero() {
		info.StartTime = clock.Now()
	}
	input = valueToRaw(in)
	ex := NewExecution(info, input)
	r := &runner{m: m, invoker: opts.Invoker, clock: clock}
	rctx := ctx
	var cancel context.CancelFunc = func() {}
	if m.TimeoutSeconds > 0 {
		rctx, cancel = context.WithTimeout(ctx, time.Duration(m.TimeoutSeconds)*time.Second)
	}
	defer cancel()
	status, err := r.execute(rctx, ex)
	res := &Result{Status: status, StatesEntered: r.entered, History: r.history}
	if err != nil {
		return res, err
	}
	switch status {
	case StatusSucceeded:
		res.Output = ex.Output
	case StatusFailed:
		res.Error, res.Cause = ex.Error, ex.Cause
	case StatusAborted:
		if ctx.Err() == nil && rctx.Err() != nil {
			res.Status = StatusTimedOut
			res.Error, res.Cause = ErrorTimeout, "The execution timed out"
		}
	}
	return res, nil
}

type runner struct {
	m       *Machine
	invoker TaskInvoker
	clock   Clock

	mu      sync.Mutex
	history []HistoryEvent
	entered []string
}

func (r *runner) record(evs []HistoryEvent, detached bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range evs {
		r.history = append(r.history, e)
		if !detached && strings.HasSuffix(e.Type, "StateEntered") {
			r.entered = append(r.entered, e.Name)
		}
	}
}

type childEnd struct {
	index  int
	status Status
	output json.RawMessage
	err    string
	cause  string
	fault  error
}

// execute drives one execution (root or child) to its end.
func (r *runner) execute(ctx context.Context, ex *Execution) (Status, error) {
	ev := Event{Kind: EventStart, Time: r.clock.Now()}
	done := make(chan childEnd)
	running := map[int]context.CancelFunc{}
	var wg sync.WaitGroup
	stopChildren := func() {
		for _, c := range running {
			c()
		}
		for len(running) > 0 {
			e := <-done
			delete(running, e.index)
		}
		wg.Wait()
	}
	defer stopChildren()
	for {
		d, err := r.m.Step(ex, ev)
		if err != nil {
			return StatusFailed, err
		}
		r.record(d.Events, ex.Detached)
		if d.CancelChildren {
			stopChildren()
		}
		switch d.Kind {
		case DecideSucceed:
			return StatusSucceeded, nil
		case DecideFail:
			return StatusFailed, nil
		case DecideContinue:
			ev = Event{Kind: EventContinue}
		case DecideRunTask:
			ev = r.runTask(ctx, d.Task)
			if ctx.Err() != nil {
				return StatusAborted, nil
			}
		case DecideWait:
			if err := r.clock.SleepUntil(ctx, d.Until); err != nil {
				return StatusAborted, nil
			}
			ev = Event{Kind: EventTimerFired}
		case DecideStartChildren, DecideAwaitChildren:
			for _, child := range d.Children {
				cctx, cancel := context.WithCancel(ctx)
				running[child.Index] = cancel
				wg.Add(1)
				go func(child *Execution) {
					defer wg.Done()
					st, err := r.execute(cctx, child)
					done <- childEnd{index: child.Index, status: st, output: child.Output, err: child.Error, cause: child.Cause, fault: err}
				}(child)
			}
			if len(running) == 0 {
				return StatusFailed, errors.New("running execution: awaiting children but none is running")
			}
			select {
			case e := <-done:
				running[e.index]()
				delete(running, e.index)
				switch {
				case e.fault != nil:
					return StatusFailed, e.fault
				case e.status == StatusSucceeded:
					ev = Event{Kind: EventChildSucceeded, Child: e.index, Output: e.output}
				case e.status == StatusAborted:
					return StatusAborted, nil
				default:
					ev = Event{Kind: EventChildFailed, Child: e.index, Error: e.err, Cause: e.cause}
				}
			case <-ctx.Done():
				return StatusAborted, nil
			}
		default:
			return StatusFailed, fmt.Errorf("running execution: unknown decision %q", d.Kind)
		}
		ev.Time = r.clock.Now()
	}
}

func (r *runner) runTask(ctx context.Context, call *TaskCall) Event {
	if r.invoker == nil {
		return Event{Kind: EventTaskFailed, Error: ErrorTaskFailed, Cause: "no task invoker is configured"}
	}
	tctx := ctx
	cancel := context.CancelFunc(func() {})
	if call.TimeoutSeconds > 0 {
		tctx, cancel = context.WithTimeout(ctx, time.Duration(call.TimeoutSeconds)*time.Second)
	}
	defer cancel()
	out, err := r.invoker.Invoke(tctx, call.Target, call.Input)
	if err != nil {
		if ctx.Err() == nil && tctx.Err() != nil {
			return Event{Kind: EventTaskFailed, Error: ErrorTimeout, Cause: fmt.Sprintf("the task did not finish within %d seconds", call.TimeoutSeconds)}
		}
		name, cause := ErrorNameCause(err)
		return Event{Kind: EventTaskFailed, Error: name, Cause: cause}
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	if _, err := decodeJSON(out); err != nil {
		return Event{Kind: EventTaskFailed, Error: ErrorTaskFailed, Cause: "the task returned invalid JSON: " + err.Error()}
	}
	return Event{Kind: EventTaskSucceeded, Output: out}
}
