package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/internal/jsworker"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/scheduler/asl"
)

// stoppedMemory is how long a node remembers that an execution was
// stopped, for a task about to start when the announcement came.
const stoppedMemory = time.Minute

// shutdownGrace bounds how long Run lets running steps finish after its
// context ends before cancelling them (their work is redelivered).
const shutdownGrace = 5 * time.Second

// Run consumes work items with the shared durable consumer until ctx
// ends. Every node runs one; a node that dies leaves its items unacked,
// and JetStream redelivers them to another node after AckWait.
func (e *Engine) Run(ctx context.Context) error {
	cons, err := e.js.CreateOrUpdateConsumer(ctx, WorkStream, jetstream.ConsumerConfig{
		Durable:       Consumer,
		Description:   "baton chain workers of every node",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       e.opts.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 65536,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("creating consumer %s: %w", Consumer, err)
	}
	sub, err := e.js.Conn().Subscribe(AbortedPrefix+">", func(m *nats.Msg) {
		id := strings.TrimPrefix(m.Subject, AbortedPrefix)
		redrives, err := strconv.Atoi(string(m.Data))
		if err != nil {
			return
		}
		now := time.Now()
		e.tasksMu.Lock()
		t := e.tasks[id]
		for k, s := range e.stopped {
			if now.Sub(s.at) > stoppedMemory {
				delete(e.stopped, k)
			}
		}
		e.stopped[id] = stoppedRun{at: now, redrives: redrives}
		e.tasksMu.Unlock()
		if t != nil && t.redrives == redrives {
			t.stop(errStopped)
		}
	})
	if err != nil {
		return fmt.Errorf("listening for stopped executions: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := jsworker.Consume(ctx, cons, e.opts.Workers, shutdownGrace, e.log.With("stream", WorkStream), e.handle); err != nil {
		return fmt.Errorf("consuming %s: %w", WorkStream, err)
	}
	return nil
}

// outcome says how to settle a work item.
type outcome struct {
	retry bool          // redeliver (at once, or after delay)
	delay time.Duration // with retry: when
}

var (
	done      = outcome{}
	retrySoon = outcome{retry: true, delay: time.Second}
)

func (e *Engine) handle(ctx context.Context, msg jetstream.Msg) {
	var it workItem
	if err := json.Unmarshal(msg.Data(), &it); err != nil || !validID(it.ID) {
		e.log.Error("chain: dropping an undecodable work item", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	stop := jsworker.KeepAlive(msg, e.opts.AckWait/3)
	o := e.advance(ctx, &it)
	stop()
	switch {
	case !o.retry:
		_ = msg.Ack()
	case o.delay > 0:
		_ = msg.NakWithDelay(o.delay)
	default:
		_ = msg.Nak()
	}
}

// publisher publishes the history of the steps one worker records, one
// batch in flight at a time. An event leaves the snapshot's outbox only
// once the stream has acked it, so a step never waits for the history of
// the previous one: the snapshot (written with compare-and-set before the
// next step starts) holds whatever the stream may still lack.
type publisher struct {
	e       *Engine
	pending jetstream.PubAckFuture // the batch in flight
	upTo    int64                  // the id of its last event
	acked   int64                  // the stream has every event up to here
	cache   eventCache             // the encoding of the events not acked
}

// settle notes the ack of the batch in flight (waiting for it if block)
// and drops the acked events from x's outbox.
func (p *publisher) settle(ctx context.Context, x *Execution, block bool) error {
	if p.pending != nil {
		if block {
			if err := waitAck(ctx, p.pending); err != nil {
				return err
			}
		} else {
			select {
			case <-p.pending.Ok():
			case err := <-p.pending.Err():
				return unavailable("recording history", err)
			default:
				return nil
			}
		}
		p.pending, p.acked = nil, max(p.acked, p.upTo)
		p.cache.forget(p.acked)
	}
	i := 0
	for i < len(x.Outbox) && x.Outbox[i].ID <= p.acked {
		i++
	}
	if i > 0 {
		x.Outbox = x.Outbox[i:len(x.Outbox):len(x.Outbox)]
	}
	return nil
}

// While an execution runs on, its worker lets up to historyBatch events
// or historyBatchBytes of them pile up in the outbox before it publishes
// them: a history message per step costs the stream about as much as the
// snapshot update, and every KB the snapshot carries costs each update
// a few microseconds. When a batch is in flight and the outbox holds
// outboxMaxBytes, it waits for that batch's ack before the next snapshot,
// which bounds the snapshot. The outbox is published in any case when the
// worker lets go of the execution.
const (
	historyBatch      = 32
	historyBatchBytes = 4 << 10
	outboxMaxBytes    = 64 << 10
)

// full reports whether x's outbox holds historyBatch events or limit
// bytes of them.
func (p *publisher) full(x *Execution, limit int) bool {
	if len(x.Outbox) >= historyBatch {
		return true
	}
	n := 0
	for i := range x.Outbox {
		b, err := p.cache.encode(&x.Outbox[i])
		if err != nil {
			return true // the snapshot will not encode either: let it fail there
		}
		n += len(b)
	}
	return n >= limit
}

// publish sends the outbox of x, recorded, unless a batch is in flight
// (its events go with the next one).
func (p *publisher) publish(x *Execution) error {
	if p.pending != nil || len(x.Outbox) == 0 {
		return nil
	}
	f, err := p.e.publishEvents(x.ID, x.Outbox, p.cache)
	if err != nil {
		return err
	}
	p.pending, p.upTo = f, x.Outbox[len(x.Outbox)-1].ID
	return nil
}

// flush publishes all of x's recorded outbox and waits for the acks.
func (p *publisher) flush(ctx context.Context, x *Execution) error {
	if err := p.settle(ctx, x, true); err != nil {
		return err
	}
	if err := p.publish(x); err != nil {
		return err
	}
	return p.settle(ctx, x, true)
}

// advance drives execution it.ID as far as it can go without waiting:
// it runs tasks inline, records every step (snapshot with compare-and-set)
// before starting the next, publishes the history behind (see publisher),
// and returns when the execution ends, waits (timer, children) or this
// node stops.
func (e *Engine) advance(ctx context.Context, it *workItem) (o outcome) {
	x, rev, err := e.load(ctx, it.ID)
	if event.CodeOf(err) == event.CodeNotFound {
		return done
	}
	if err != nil {
		e.log.Warn("chain: loading execution", "execution", it.ID, "err", err)
		return retrySoon
	}
	if err := e.flushOutbox(ctx, x); err != nil {
		return retrySoon
	}
	p := &publisher{e: e, cache: eventCache{}}
	if n := len(x.Outbox); n > 0 {
		p.acked = x.Outbox[n-1].ID
		x.Outbox = nil // in the stream now: the next snapshot drops them
	}
	// startUnrecorded: the outbox holds the events of a start step not
	// recorded yet (see below); they must not reach the history stream.
	startUnrecorded := false
	defer func() {
		// Only the events of snapshots we recorded (and a flushed
		// reload) are here; an error leaves them for the next delivery.
		if startUnrecorded {
			x.Outbox = nil
		}
		if err := p.flush(ctx, x); err != nil && !o.retry {
			o = retrySoon
		}
	}()
	reload := func() bool {
		nx, nrev, err := e.load(ctx, it.ID)
		if err != nil {
			return false
		}
		x, rev, startUnrecorded = nx, nrev, false
		// Events of the step that lost the race were cached under ids
		// that the winner's events may reuse.
		clear(p.cache)
		return true
	}
	for {
		if ctx.Err() != nil {
			return outcome{retry: true}
		}
		if x.Final() {
			if err := p.flush(ctx, x); err != nil {
				return retrySoon
			}
			if x.Parent != "" && x.Status != asl.StatusAborted {
				if err := e.notifyParent(ctx, x); err != nil {
					return retrySoon
				}
			}
			return done
		}
		m, err := e.machine(ctx, x.Chain, x.Version)
		if err != nil {
			if event.CodeOf(err) == event.CodeUnavailable {
				return retrySoon
			}
			m = nil
		}
		now := e.opts.Clock.Now().UTC()
		deadline := e.deadline(m, x)
		var ev asl.Event
		var cancel []string
		switch {
		case m == nil:
			e.finish(x, now, asl.StatusFailed, asl.ErrorRuntime, err.Error(), "ExecutionFailed")
		case !deadline.IsZero() && !now.Before(deadline):
			e.finish(x, now, asl.StatusTimedOut, asl.ErrorTimeout, "The execution timed out", "ExecutionTimedOut")
			cancel = runningChildren(x)
		case x.State.Status == "":
			ev = asl.Event{Kind: asl.EventStart}
		case x.Next != nil && x.Next.Kind == asl.DecideStartChildren:
			if err := e.startChildren(ctx, x, now); err != nil {
				return retrySoon
			}
			x.Next = &asl.Decision{Kind: asl.DecideAwaitChildren}
			if err := p.settle(ctx, x, false); err != nil {
				return retrySoon
			}
			nrev, err := e.saveCached(ctx, x, rev, p.cache)
			if errors.Is(err, errConflict) {
				if !reload() {
					return retrySoon
				}
				continue
			}
			if err != nil {
				return retrySoon
			}
			rev = nrev
			if err := p.publish(x); err != nil {
				return retrySoon
			}
			continue
		case it.Event != nil:
			if !childEndCurrent(x, it) {
				return done // a late or repeated report: nothing to do
			}
			ev = *it.Event
			cancel = without(runningChildren(x), it.Child)
		case x.Next == nil:
			return done
		case x.Next.Kind == asl.DecideRunTask:
			ev, err = e.runTask(ctx, x, deadline)
			if err != nil {
				return outcome{retry: true} // this node is stopping
			}
			if now = e.opts.Clock.Now().UTC(); !deadline.IsZero() && !now.Before(deadline) {
				continue // timed out while the task ran
			}
		case x.Next.Kind == asl.DecideWait:
			until := x.Next.Until
			if !deadline.IsZero() && deadline.Before(until) {
				until = deadline
			}
			if e.virtual {
				if err := e.opts.Clock.SleepUntil(ctx, until); err != nil {
					return outcome{retry: true}
				}
			} else if d := until.Sub(now); d > 0 {
				return outcome{retry: true, delay: d} // a durable timer
			}
			if until.Equal(deadline) {
				continue
			}
			ev = asl.Event{Kind: asl.EventTimerFired}
		case x.Next.Kind == asl.DecideContinue:
			ev = asl.Event{Kind: asl.EventContinue}
		default: // AwaitChildren with no report, or an ended decision
			return done
		}
		if ev.Kind != "" {
			ev.Time = e.opts.Clock.Now().UTC()
			d, err := m.Step(x.State, ev)
			if err != nil {
				e.finish(x, ev.Time, asl.StatusFailed, asl.ErrorRuntime, err.Error(), "ExecutionFailed")
			} else {
				e.apply(x, d, ev.Time)
				if !d.CancelChildren {
					cancel = nil
				}
			}
			if ev.Kind == asl.EventStart && x.Next != nil && x.Next.Kind == asl.DecideRunTask && !x.Final() {
				// The start is not recorded on its own when it leads to
				// a task: the record (not started) replays to the same
				// task call and idempotency key, and the step that ends
				// the task records the start with it.
				startUnrecorded = true
				continue
			}
		}
		if err := p.settle(ctx, x, p.pending != nil && p.full(x, outboxMaxBytes)); err != nil {
			return retrySoon
		}
		nrev, err := e.saveCached(ctx, x, rev, p.cache)
		if errors.Is(err, errConflict) {
			if !reload() {
				return retrySoon
			}
			continue // someone else moved it (a stop, another report): look again
		}
		if err != nil {
			e.log.Warn("chain: recording a step", "execution", x.ID, "err", err)
			return retrySoon
		}
		rev, startUnrecorded = nrev, false
		if p.full(x, historyBatchBytes) {
			if err := p.publish(x); err != nil {
				return retrySoon
			}
		}
		it.Event = nil
		for _, id := range cancel {
			e.abort(ctx, id)
		}
	}
}

// deadline is when a root execution times out (zero: never).
func (e *Engine) deadline(m *asl.Machine, x *Execution) time.Time {
	if m == nil || x.Parent != "" || m.TimeoutSeconds <= 0 {
		return time.Time{}
	}
	return x.Started.Add(time.Duration(m.TimeoutSeconds) * time.Second)
}

func without(ids []string, id string) []string {
	out := ids[:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// apply records a decision in x.
func (e *Engine) apply(x *Execution, d asl.Decision, now time.Time) {
	x.Outbox = append(x.Outbox, d.Events...)
	d.Events = nil
	switch d.Kind {
	case asl.DecideSucceed:
		x.Status, x.Output, x.Stopped = asl.StatusSucceeded, d.Output, now
		d.Output = nil
	case asl.DecideFail:
		x.Status, x.Error, x.Cause, x.Stopped = asl.StatusFailed, d.Error, d.Cause, now
	}
	x.Next = &d
}

// finish ends x outside the interpreter (timeout, a definition gone).
func (e *Engine) finish(x *Execution, now time.Time, status asl.Status, name, cause, evType string) {
	x.Status, x.Error, x.Cause, x.Stopped = status, name, cause, now
	x.State.Status, x.State.Error, x.State.Cause = status, name, cause
	x.Next = nil
	if x.Parent == "" {
		appendEvent(x, asl.HistoryEvent{Time: now, Type: evType, Error: name, Cause: cause})
	}
}

func childEndCurrent(x *Execution, it *workItem) bool {
	st := x.State
	if st.Awaiting != asl.AwaitChildren || st.Fanout == nil || x.Next == nil || x.Next.Kind != asl.DecideAwaitChildren {
		return false
	}
	i := it.Event.Child
	return it.Fanout == fanoutKey(st) && i >= 0 && i < len(st.Fanout.Done) && !st.Fanout.Done[i]
}

// startChildren records and queues the children of a StartChildren
// decision. Both are idempotent, so a crash half-way is repaired by
// doing it again.
func (e *Engine) startChildren(ctx context.Context, x *Execution, now time.Time) error {
	key := fanoutKey(x.State)
	for _, c := range x.Next.Children {
		id := childID(x.ID, key, c.Index)
		rec := &Execution{ID: id, Chain: x.Chain, Version: x.Version, Parent: x.ID, Fanout: key, Index: c.Index,
			Status: asl.StatusRunning, Input: c.Input, Started: now, State: c}
		data, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if _, err := e.execs.Create(ctx, id, data); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return unavailable("recording a branch", err)
		}
		if err := e.enqueue(ctx, workItem{ID: id}, id+"/start"); err != nil {
			return err
		}
	}
	return nil
}

// notifyParent queues the report of child x's end to its parent.
func (e *Engine) notifyParent(ctx context.Context, x *Execution) error {
	ev := &asl.Event{Kind: asl.EventChildSucceeded, Child: x.Index, Output: x.Output}
	if x.Status != asl.StatusSucceeded {
		ev = &asl.Event{Kind: asl.EventChildFailed, Child: x.Index, Error: x.Error, Cause: x.Cause}
	}
	return e.enqueue(ctx, workItem{ID: x.Parent, Event: ev, Child: x.ID, Fanout: x.Fanout}, x.ID+"/end")
}

// IdempotencyKey is the key a Task invocation carries: stable across
// redeliveries of the same step attempt, different for each retry and
// each time the state is entered again.
func IdempotencyKey(execID string, enteredEventID int64, attempt int) string {
	return execID + "/" + strconv.FormatInt(enteredEventID, 10) + "/" + strconv.Itoa(attempt)
}

// runTask runs the task of x's RunTask decision and returns its outcome
// as an event; the error is set only when ctx ended (node stopping).
func (e *Engine) runTask(ctx context.Context, x *Execution, deadline time.Time) (asl.Event, error) {
	call := x.Next.Task
	if call == nil {
		return asl.Event{Kind: asl.EventTaskFailed, Error: asl.ErrorRuntime, Cause: "no task call recorded"}, nil
	}
	if e.opts.Invoke == nil {
		return asl.Event{Kind: asl.EventTaskFailed, Error: asl.ErrorTaskFailed, Cause: "no task invoker is configured"}, nil
	}
	// A stop of the execution (announced on AbortedPrefix) cancels it.
	tctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	mine := &runningTask{stop: stop, redrives: x.Redrives}
	e.tasksMu.Lock()
	e.tasks[x.ID] = mine
	s, ok := e.stopped[x.ID]
	stoppedLately := ok && s.redrives == x.Redrives
	e.tasksMu.Unlock()
	if stoppedLately {
		// Stopped after this worker loaded the execution: the task's
		// step would fail its compare-and-set anyway.
		stop(errStopped)
	}
	defer func() {
		e.tasksMu.Lock()
		if e.tasks[x.ID] == mine { // not a redelivery's, run meanwhile
			delete(e.tasks, x.ID)
		}
		e.tasksMu.Unlock()
	}()
	cancel := context.CancelFunc(func() {})
	if call.TimeoutSeconds > 0 {
		tctx, cancel = context.WithTimeout(tctx, time.Duration(call.TimeoutSeconds)*time.Second)
	}
	defer cancel()
	if !deadline.IsZero() && !e.virtual {
		var c2 context.CancelFunc
		tctx, c2 = context.WithDeadline(tctx, deadline)
		defer c2()
	}
	out, err := e.opts.Invoke(tctx, call, IdempotencyKey(x.ID, x.State.EnteredEventID, call.Attempt))
	if err != nil {
		if ctx.Err() != nil {
			return asl.Event{}, ctx.Err()
		}
		if errors.Is(context.Cause(tctx), errStopped) {
			// The step's record fails its compare-and-set: the stop wins.
			return asl.Event{Kind: asl.EventTaskFailed, Error: asl.ErrorTaskFailed, Cause: errStopped.Error()}, nil
		}
		if tctx.Err() != nil || event.CodeOf(err) == event.CodeTimeout {
			cause := "the task timed out"
			if call.TimeoutSeconds > 0 {
				cause = fmt.Sprintf("the task did not finish within %d seconds", call.TimeoutSeconds)
			}
			return asl.Event{Kind: asl.EventTaskFailed, Error: asl.ErrorTimeout, Cause: cause}, nil
		}
		name, cause := asl.ErrorNameCause(err)
		return asl.Event{Kind: asl.EventTaskFailed, Error: name, Cause: cause}, nil
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	if !json.Valid(out) {
		return asl.Event{Kind: asl.EventTaskFailed, Error: asl.ErrorTaskFailed, Cause: "the task returned invalid JSON"}, nil
	}
	return asl.Event{Kind: asl.EventTaskSucceeded, Output: out}, nil
}
