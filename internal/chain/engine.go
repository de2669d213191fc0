// Package chain is baton's durable chain executor: it carries out the
// decisions of the pure ASL core (scheduler/asl) with every transition
// recorded in NATS JetStream, so that an execution survives the death of
// the node running it. See README.md for the storage layout.
package chain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/scheduler/asl"
)

// Names of the JetStream assets the executor uses.
const (
	// ChainsBucket holds chain definitions: NAME → current, NAME.vN → version N.
	ChainsBucket = "baton_chains"
	// ExecBucket holds one snapshot per execution, keyed by execution id.
	ExecBucket = "baton_executions"
	// HistoryStream holds history, one message per step, on
	// HistoryPrefix + execution id.
	HistoryStream = "BATON_CHAIN_HISTORY"
	HistoryPrefix = "baton.chain.history."
	// WorkStream is the work queue of "advance execution X" items, on
	// WorkPrefix + execution id, consumed by Consumer on every node.
	WorkStream = "BATON_CHAIN_WORK"
	WorkPrefix = "baton.chain.work."
	// EndedPrefix + execution id is a plain NATS subject on which a node
	// announces, once recorded, the end of an execution (for Wait).
	EndedPrefix = "baton.chain.ended."
	// AbortedPrefix + execution id announces, once recorded, that an
	// execution (or a branch) was stopped: the node running its task
	// cancels it.
	AbortedPrefix = "baton.chain.aborted."
	Consumer      = "baton-chain-workers"
)

// Defaults of Options.
const (
	DefaultWorkers          = 64
	DefaultAckWait          = 30 * time.Second
	DefaultHistoryRetention = 7 * 24 * time.Hour
)

// InvokeFunc runs the function of a Task state once. key is the stable
// idempotency key of this step attempt ("EXEC/ENTERED/ATTEMPT"). A failure
// should be a *asl.TaskError (see TaskError); a context error means the
// node is stopping and the step will run again elsewhere.
type InvokeFunc func(ctx context.Context, call *asl.TaskCall, key string) (json.RawMessage, error)

// Options configure an Engine.
type Options struct {
	// Workers bounds how many work items this node handles at once.
	Workers int
	// AckWait is how long a work item may go without a sign of life from
	// its worker before another node gets it (default 30s).
	AckWait time.Duration
	// HistoryRetention is how long history is kept, and the record of an
	// ended execution (default 7 days, at least 1s).
	HistoryRetention time.Duration
	// Invoke runs Task states.
	Invoke InvokeFunc
	// Clock tells time (default asl.SystemClock). Any other clock is
	// virtual: Wait states and retry delays are slept on it inline, which
	// is what the conformance runner wants.
	Clock  asl.Clock
	Logger *slog.Logger
}

// Engine stores chains and runs their executions.
type Engine struct {
	opts    Options
	js      jetstream.JetStream
	chains  jetstream.KeyValue
	execs   jetstream.KeyValue
	history jetstream.Stream
	work    jetstream.Stream
	log     *slog.Logger
	virtual bool

	mu       sync.RWMutex
	machines map[machineKey]*asl.Machine

	// tasks cancels the task each execution runs on this node, for a stop.
	tasksMu sync.Mutex
	tasks   map[string]*runningTask
	// stopped remembers the executions announced stopped lately, for a
	// task that registers after the announcement went by.
	stopped map[string]stoppedRun
}

// runningTask is the task an execution runs on this node, in the run of
// redrive count redrives.
type runningTask struct {
	stop     context.CancelCauseFunc
	redrives int
}

// stoppedRun is a stop announcement: when it came, and for which run.
type stoppedRun struct {
	at       time.Time
	redrives int
}

// errStopped is the cause of a task cancelled because its execution was
// stopped.
var errStopped = errors.New("the execution was stopped")

// Open creates (or updates) the buckets, streams and the consumer.
func Open(ctx context.Context, js jetstream.JetStream, opts Options) (*Engine, error) {
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.AckWait <= 0 {
		opts.AckWait = DefaultAckWait
	}
	if opts.HistoryRetention <= 0 {
		opts.HistoryRetention = DefaultHistoryRetention
	}
	opts.HistoryRetention = max(opts.HistoryRetention, time.Second) // the least TTL JetStream takes
	if opts.Clock == nil {
		opts.Clock = asl.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	_, real := opts.Clock.(asl.SystemClock)
	e := &Engine{opts: opts, js: js, log: opts.Logger, virtual: !real, machines: map[machineKey]*asl.Machine{}, tasks: map[string]*runningTask{}, stopped: map[string]stoppedRun{}}
	var err error
	if e.chains, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: ChainsBucket, Description: "baton chain definitions", Storage: jetstream.FileStorage, History: 1,
	}); err != nil {
		return nil, fmt.Errorf("creating bucket %s: %w", ChainsBucket, err)
	}
	if e.execs, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: ExecBucket, Description: "baton chain execution snapshots", Storage: jetstream.FileStorage, History: 1,
		// Per-message TTLs: an ended execution's record expires with its
		// history (see saveCached).
		LimitMarkerTTL: time.Minute,
	}); err != nil {
		return nil, fmt.Errorf("creating bucket %s: %w", ExecBucket, err)
	}
	if e.history, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        HistoryStream,
		Description: "baton chain execution history",
		Subjects:    []string{HistoryPrefix + ">"},
		Storage:     jetstream.FileStorage,
		MaxAge:      opts.HistoryRetention,
		Duplicates:  min(2*time.Minute, opts.HistoryRetention),
	}); err != nil {
		return nil, fmt.Errorf("creating stream %s: %w", HistoryStream, err)
	}
	if e.work, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        WorkStream,
		Description: "baton chain executions waiting for a worker",
		Subjects:    []string{WorkPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  2 * time.Minute,
	}); err != nil {
		return nil, fmt.Errorf("creating stream %s: %w", WorkStream, err)
	}
	return e, nil
}

// Execution is the durable record of one execution (or of one Parallel
// branch or Map iteration: a child, with Parent set).
type Execution struct {
	ID      string `json:"id"`
	Chain   string `json:"chain"`
	Version int    `json:"version"`
	// Parent and Fanout link a child to the Parallel/Map state run that
	// started it; Index is its branch or item index.
	Parent string `json:"parent,omitempty"`
	Fanout string `json:"fanout,omitempty"`
	Index  int    `json:"index,omitempty"`

	Status   asl.Status      `json:"status"`
	Input    json.RawMessage `json:"input"`
	Output   json.RawMessage `json:"output,omitempty"`
	Error    string          `json:"error,omitempty"`
	Cause    string          `json:"cause,omitempty"`
	Started  time.Time       `json:"started"`
	Stopped  time.Time       `json:"stopped,omitzero"`
	Redrives int             `json:"redrives,omitempty"`

	// State is the interpreter's snapshot; Next the last decision (what
	// the execution waits for), without its events.
	State *asl.Execution `json:"state"`
	Next  *asl.Decision  `json:"next,omitempty"`
	// Outbox holds the history events of the last recorded step until
	// they are known to be in the history stream.
	Outbox []asl.HistoryEvent `json:"outbox,omitempty"`
}

// Final reports whether the execution has ended.
func (x *Execution) Final() bool { return x.Status != asl.StatusRunning }

// ErrExecutionNotFound is returned for an unknown execution id.
var ErrExecutionNotFound = event.Errorf(event.CodeNotFound, "no such execution")

// validID reports whether id can only name one KV key / subject.
func validID(id string) bool {
	if id == "" || len(id) > 512 || id[0] == '.' || id[len(id)-1] == '.' || strings.Contains(id, "..") {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func (e *Engine) load(ctx context.Context, id string) (*Execution, uint64, error) {
	if !validID(id) {
		return nil, 0, event.Errorf(event.CodeNotFound, "no execution %q", id)
	}
	ent, err := e.execs.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, event.Errorf(event.CodeNotFound, "no execution %q", id)
	}
	if err != nil {
		return nil, 0, unavailable("reading execution", err)
	}
	x, err := decodeExecution(ent.Value())
	if err != nil {
		return nil, 0, fmt.Errorf("decoding execution %s: %w", id, err)
	}
	return x, ent.Revision(), nil
}

// Get returns the execution with id.
func (e *Engine) Get(ctx context.Context, id string) (*Execution, error) {
	x, _, err := e.load(ctx, id)
	return x, err
}

// Executions lists the (root) executions of chain, oldest first.
func (e *Engine) Executions(ctx context.Context, chain string) ([]*Execution, error) {
	if _, err := e.Chain(ctx, chain); err != nil {
		return nil, err
	}
	lister, err := e.execs.ListKeysFiltered(ctx, chain+".*")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, unavailable("listing executions", err)
	}
	var out []*Execution
	for k := range lister.Keys() {
		x, _, err := e.load(ctx, k)
		if err != nil {
			continue // deleted meanwhile
		}
		out = append(out, x)
	}
	sortExecutions(out)
	return out, nil
}

func sortExecutions(xs []*Execution) {
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && xs[j].Started.Before(xs[j-1].Started); j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
}

// StartOptions configure Start.
type StartOptions struct {
	// Name, when set, makes the start idempotent: the execution id is
	// CHAIN.NAME and starting it again returns the existing execution.
	Name string
}

// Start begins an execution of the current version of chain with input
// (JSON; empty means {}) and returns it at once.
func (e *Engine) Start(ctx context.Context, chain string, input json.RawMessage, opts StartOptions) (*Execution, error) {
	c, err := e.Chain(ctx, chain)
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(input))) == 0 {
		input = json.RawMessage("{}")
	}
	if !json.Valid(input) {
		return nil, event.Errorf(event.CodeBadRequest, "execution input is not JSON")
	}
	name := opts.Name
	if name == "" {
		name = nuid.Next()
	} else if !validID(name) || strings.Contains(name, ".") {
		return nil, event.Errorf(event.CodeBadRequest, "execution name %q: use letters, digits, '-' and '_'", name)
	}
	id := chain + "." + name
	now := e.opts.Clock.Now().UTC()
	x := &Execution{
		ID: id, Chain: chain, Version: c.Version, Status: asl.StatusRunning, Input: input, Started: now,
		State: asl.NewExecution(rootInfo(chain, name, now), input),
	}
	data, err := json.Marshal(x)
	if err != nil {
		return nil, err
	}
	if _, err := e.execs.Create(ctx, id, data); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) && opts.Name != "" {
			return e.Get(ctx, id)
		}
		return nil, unavailable("recording execution", err)
	}
	if err := e.enqueue(ctx, workItem{ID: id}, id+"/start"); err != nil {
		return nil, err
	}
	return x, nil
}

// rootInfo is the context object's execution part of execution name of
// chain, started at start (its Input left out).
func rootInfo(chain, name string, start time.Time) asl.ExecutionInfo {
	return asl.ExecutionInfo{
		ID:               "arn:baton:states:local:000000000000:execution:" + chain + ":" + name,
		Name:             name,
		StateMachineID:   "arn:baton:states:local:000000000000:stateMachine:" + chain,
		StateMachineName: chain,
		// Step Functions always names a role; baton has none of its
		// own, so the context object carries a fixed one.
		RoleArn:   "arn:baton:iam::000000000000:role/baton",
		StartTime: start,
	}
}

// workItem asks a worker to advance execution ID; Event (with Child and
// Fanout) reports the end of one of its children.
type workItem struct {
	ID     string     `json:"id"`
	Event  *asl.Event `json:"event,omitempty"`
	Child  string     `json:"child,omitempty"`
	Fanout string     `json:"fanout,omitempty"`
}

func (e *Engine) enqueue(ctx context.Context, it workItem, msgID string) error {
	data, _ := json.Marshal(it)
	_, err := e.js.PublishMsg(ctx, &nats.Msg{Subject: WorkPrefix + it.ID, Data: data, Header: nats.Header{jetstream.MsgIDHeader: []string{msgID}}})
	if err != nil {
		return unavailable("queueing execution work", err)
	}
	return nil
}

// waitPoll bounds how long Wait goes without reading the record.
const waitPoll = time.Second

// waitRace bounds the quick reads of the record Wait does after it
// started.
const waitRace = 8 * time.Millisecond

// Wait blocks until execution id has ended (or ctx is done) and returns it.
//
// It listens on EndedPrefix+id, where the node that records an end
// announces it (a plain NATS message: a KV watch would create a JetStream
// consumer per call, and listening to every update of the record made each
// step of a running execution cost a delivery per waiter), and reads the
// record itself to confirm an end. The announcement is best effort, so it
// also reads the record 1ms, 2ms, 4ms and 8ms after it started (an end
// recorded before it listened), 1ms, 2ms, 4ms… after every announcement,
// and every waitPoll (one a slow listener missed, or a node that died
// between recording and announcing).
func (e *Engine) Wait(ctx context.Context, id string) (*Execution, error) {
	if !validID(id) {
		return nil, event.Errorf(event.CodeNotFound, "no execution %q", id)
	}
	ch := make(chan *nats.Msg, 4)
	sub, err := e.js.Conn().ChanSubscribe(EndedPrefix+id, ch)
	if err != nil {
		return nil, unavailable("watching execution", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	ended := func() (*Execution, bool, error) {
		ent, err := e.execs.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, true, event.Errorf(event.CodeNotFound, "no execution %q", id)
		}
		if err != nil {
			return nil, true, unavailable("reading execution", err)
		}
		if stillRunning(ent.Value()) {
			return nil, false, nil // most reads: skip decoding the record
		}
		x, err := decodeExecution(ent.Value())
		if err != nil {
			return nil, true, fmt.Errorf("decoding execution %s: %w", id, err)
		}
		return x, x.Final(), nil
	}
	if x, end, err := ended(); end {
		return x, err
	}
	delay, heard := time.Millisecond, false
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
			delay, heard = time.Millisecond, true
		case <-timer.C:
			delay = min(2*delay, waitPoll)
			if !heard && delay > waitRace {
				delay = waitPoll // only a missed message is left
			}
		}
		if x, end, err := ended(); end {
			return x, err
		}
		timer.Reset(delay)
	}
}

// runningPrefix is how a running execution's status is encoded.
var runningPrefix = []byte(`"status":"` + asl.StatusRunning + `"`)

// stillRunning reports, without decoding it, whether a stored execution
// is running: the first "status" key of the encoding is the execution's
// own (it comes before State, and the fields before it are ids, numbers
// and names that cannot hold a quote).
func stillRunning(data []byte) bool {
	if len(data) > 0 && data[0] == compressedMark {
		var err error
		if data, err = uncompress(data); err != nil {
			return false // let decoding report it
		}
	}
	i := bytes.Index(data, []byte(`"status":`))
	return i >= 0 && bytes.HasPrefix(data[i:], runningPrefix)
}

// HistoryEntry is one history event with the execution it belongs to.
type HistoryEntry struct {
	Execution string `json:"execution"`
	asl.HistoryEvent
}

type historyMsg struct {
	Execution string             `json:"execution"`
	Events    []asl.HistoryEvent `json:"events"`
}

// History returns the history of execution id and of its children, in
// the order it was recorded.
func (e *Engine) History(ctx context.Context, id string) ([]HistoryEntry, error) {
	x, _, err := e.load(ctx, id)
	if err != nil {
		return nil, err
	}
	cons, err := e.history.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{HistoryPrefix + id, HistoryPrefix + id + ".>"},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, unavailable("reading history", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, unavailable("reading history", err)
	}
	pending := info.NumPending
	var out []HistoryEntry
	// An event can reach the stream twice (a flush racing the worker that
	// published it, beyond the stream's duplicate window), never after a
	// later event of its execution: keep the first of each id.
	last := map[string]int64{}
	for pending > 0 {
		batch, err := cons.Fetch(int(min(pending, 256)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, unavailable("reading history", err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			var hm historyMsg
			if err := json.Unmarshal(msg.Data(), &hm); err != nil {
				continue
			}
			for _, ev := range hm.Events {
				if ev.ID <= last[hm.Execution] {
					continue
				}
				last[hm.Execution] = ev.ID
				out = append(out, HistoryEntry{Execution: hm.Execution, HistoryEvent: ev})
			}
			if meta, err := msg.Metadata(); err == nil {
				pending = meta.NumPending
			}
		}
		if batch.Error() != nil && n == 0 {
			return nil, unavailable("reading history", batch.Error())
		}
		if n == 0 {
			break
		}
	}
	// The last steps' events may still be on their way to the stream.
	for _, ev := range x.Outbox {
		if ev.ID > last[id] {
			last[id] = ev.ID
			out = append(out, HistoryEntry{Execution: id, HistoryEvent: ev})
		}
	}
	return out, nil
}

// save records x with compare-and-set on rev. It returns the new
// revision; a conflict is errConflict.
func (e *Engine) save(ctx context.Context, x *Execution, rev uint64) (uint64, error) {
	return e.saveCached(ctx, x, rev, nil)
}

// saveCached is save with the encoding of the outbox events cached in c.
func (e *Engine) saveCached(ctx context.Context, x *Execution, rev uint64, c eventCache) (uint64, error) {
	data, err := encodeExecution(x, c)
	if err != nil {
		return 0, err
	}
	var nrev uint64
	if x.Final() {
		// An ended execution is kept as long as its history: its last
		// record expires after the retention (a redrive writes a running
		// record without one).
		var ack *jetstream.PubAck
		ack, err = e.js.PublishMsg(ctx, &nats.Msg{Subject: "$KV." + ExecBucket + "." + x.ID, Data: data},
			jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(e.opts.HistoryRetention))
		if err == nil {
			nrev = ack.Sequence
		}
	} else {
		nrev, err = e.execs.Update(ctx, x.ID, data, rev)
	}
	if err != nil {
		if isConflict(err) {
			return 0, errConflict
		}
		return 0, unavailable("recording execution", err)
	}
	if x.Final() {
		// Tell waiters (best effort: Wait also polls the record), and the
		// node running the task of a stopped execution.
		_ = e.js.Conn().Publish(EndedPrefix+x.ID, nil)
		if x.Status == asl.StatusAborted {
			// The redrive count tells this run from a later one.
			_ = e.js.Conn().Publish(AbortedPrefix+x.ID, strconv.AppendInt(nil, int64(x.Redrives), 10))
		}
	}
	return nrev, nil
}

var errConflict = errors.New("execution changed meanwhile")

// lastEventHeader names the id of the last event of a history message.
const lastEventHeader = "Baton-Last-Event"

// publishEvents publishes events (of execution id, in id order) as one
// history message and returns the future of its ack. The message id
// (ID/FIRST-LAST) lets the stream drop a repeat of the same batch.
func (e *Engine) publishEvents(id string, events []asl.HistoryEvent, c eventCache) (jetstream.PubAckFuture, error) {
	if len(events) == 0 {
		return nil, nil
	}
	data, err := encodeHistory(id, events, c)
	if err != nil {
		return nil, err
	}
	lastID := strconv.FormatInt(events[len(events)-1].ID, 10)
	msgID := id + "/" + strconv.FormatInt(events[0].ID, 10) + "-" + lastID
	return e.js.PublishMsgAsync(&nats.Msg{Subject: HistoryPrefix + id, Data: data, Header: nats.Header{
		jetstream.MsgIDHeader: []string{msgID},
		lastEventHeader:       []string{lastID},
	}})
}

// lastRecorded returns the id of the last event of execution id in the
// history stream (0: none).
func (e *Engine) lastRecorded(ctx context.Context, id string) (int64, error) {
	msg, err := e.history.GetLastMsgForSubject(ctx, HistoryPrefix+id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, unavailable("reading history", err)
	}
	if n, err := strconv.ParseInt(msg.Header.Get(lastEventHeader), 10, 64); err == nil {
		return n, nil
	}
	var hm historyMsg
	if err := json.Unmarshal(msg.Data, &hm); err != nil || len(hm.Events) == 0 {
		return 0, nil
	}
	return hm.Events[len(hm.Events)-1].ID, nil
}

// historyAckTimeout bounds the wait for a history ack that never comes
// (the events stay in the snapshot's outbox for the next delivery).
const historyAckTimeout = 10 * time.Second

func waitAck(ctx context.Context, f jetstream.PubAckFuture) error {
	if f == nil {
		return nil
	}
	select {
	case <-f.Ok():
		return nil
	default:
	}
	t := time.NewTimer(historyAckTimeout)
	defer t.Stop()
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return unavailable("recording history", err)
	case <-t.C:
		return event.Errorf(event.CodeUnavailable, "recording history: no ack after %s", historyAckTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flushOutbox makes sure the outbox of a loaded record is in the history
// stream (after a crash, or when the worker that recorded it has not
// published it yet): it publishes the events after the last one the
// stream has, and waits for the ack. Every writer publishes the events of
// an outbox in id order, one batch at a time, and drops an event from the
// outbox only once it is acked, so the stream never holds an event before
// an earlier one it lacks: "after the last one" covers what is missing.
// (It may hold an event twice, when two writers flush at once; History
// keeps the first.)
func (e *Engine) flushOutbox(ctx context.Context, x *Execution) error {
	if len(x.Outbox) == 0 {
		return nil
	}
	last, err := e.lastRecorded(ctx, x.ID)
	if err != nil {
		return err
	}
	i := 0
	for i < len(x.Outbox) && x.Outbox[i].ID <= last {
		i++
	}
	f, err := e.publishEvents(x.ID, x.Outbox[i:], nil)
	if err != nil {
		return err
	}
	return waitAck(ctx, f)
}

// appendEvent records one event outside a step (stop, redrive), after the
// events not yet in the history stream.
func appendEvent(x *Execution, ev asl.HistoryEvent) {
	x.State.Seq++
	ev.ID = x.State.Seq
	x.Outbox = append(x.Outbox, ev)
}

// Stop aborts a running execution and its children.
func (e *Engine) Stop(ctx context.Context, id, errName, cause string) (*Execution, error) {
	for {
		x, rev, err := e.load(ctx, id)
		if err != nil {
			return nil, err
		}
		if x.Parent != "" {
			return nil, event.Errorf(event.CodeBadRequest, "%s is a branch of %s: stop that execution", id, x.Parent)
		}
		if x.Final() {
			return nil, event.Errorf(event.CodeBadRequest, "execution %s has already ended (%s)", id, x.Status)
		}
		now := e.opts.Clock.Now().UTC()
		x.Status, x.Error, x.Cause, x.Stopped = asl.StatusAborted, errName, cause, now
		appendEvent(x, asl.HistoryEvent{Time: now, Type: "ExecutionAborted", Error: errName, Cause: cause})
		if _, err := e.save(ctx, x, rev); errors.Is(err, errConflict) {
			continue
		} else if err != nil {
			return nil, err
		}
		if err := e.flushOutbox(ctx, x); err != nil {
			e.log.Warn("chain: recording the stop in history", "execution", id, "err", err)
		}
		e.abortChildren(ctx, x)
		return x, nil
	}
}

// Redrive restarts a failed, timed out or stopped execution from the
// state it failed in, with that state's input, variables and a fresh
// retry budget. A Parallel or Map state runs all its children again.
func (e *Engine) Redrive(ctx context.Context, id string) (*Execution, error) {
	for {
		x, rev, err := e.load(ctx, id)
		if err != nil {
			return nil, err
		}
		if x.Parent != "" {
			return nil, event.Errorf(event.CodeBadRequest, "%s is a branch of %s: redrive that execution", id, x.Parent)
		}
		switch {
		case !x.Final():
			return nil, event.Errorf(event.CodeBadRequest, "execution %s is still running", id)
		case x.Status == asl.StatusSucceeded:
			return nil, event.Errorf(event.CodeBadRequest, "execution %s succeeded: only failed, timed out or aborted executions can be redriven", id)
		case x.State == nil || x.State.State == "":
			return nil, event.Errorf(event.CodeBadRequest, "execution %s failed before entering a state: start a new one", id)
		}
		now := e.opts.Clock.Now().UTC()
		st := x.State
		st.Status, st.Error, st.Cause, st.Output = asl.StatusRunning, "", "", nil
		st.Awaiting, st.Attempts, st.Task, st.Pending, st.Fanout = asl.AwaitRetry, nil, nil, nil, nil
		st.RetryCount++ // new child ids for a Parallel/Map state
		x.Status, x.Error, x.Cause, x.Output, x.Stopped = asl.StatusRunning, "", "", nil, time.Time{}
		x.Redrives++
		x.Started = now
		x.Next = &asl.Decision{Kind: asl.DecideWait, Until: now}
		appendEvent(x, asl.HistoryEvent{Time: now, Type: "ExecutionRedriven", Name: st.State, Attempt: x.Redrives})
		if _, err := e.save(ctx, x, rev); errors.Is(err, errConflict) {
			continue
		} else if err != nil {
			return nil, err
		}
		if err := e.flushOutbox(ctx, x); err != nil {
			e.log.Warn("chain: recording the redrive in history", "execution", id, "err", err)
		}
		if err := e.enqueue(ctx, workItem{ID: id}, id+"/redrive/"+strconv.Itoa(x.Redrives)); err != nil {
			return nil, err
		}
		return x, nil
	}
}

// runningChildren lists the ids of children of x still running.
func runningChildren(x *Execution) []string {
	st := x.State
	if st == nil || st.Awaiting != asl.AwaitChildren || st.Fanout == nil {
		return nil
	}
	key := fanoutKey(st)
	var ids []string
	for i := 0; i < st.Fanout.Started && i < len(st.Fanout.Done); i++ {
		if !st.Fanout.Done[i] {
			ids = append(ids, childID(x.ID, key, i))
		}
	}
	return ids
}

func fanoutKey(st *asl.Execution) string {
	return strconv.FormatInt(st.EnteredEventID, 10) + "-" + strconv.Itoa(st.RetryCount)
}

func childID(parent, fanout string, index int) string {
	return parent + "." + fanout + "-" + strconv.Itoa(index)
}

// abortChildren marks the running children of x (recursively) aborted;
// their workers stop at their next step.
func (e *Engine) abortChildren(ctx context.Context, x *Execution) {
	for _, id := range runningChildren(x) {
		e.abort(ctx, id)
	}
}

func (e *Engine) abort(ctx context.Context, id string) {
	for {
		c, rev, err := e.load(ctx, id)
		if err != nil || c.Final() {
			return
		}
		// Keep the fan-out bookkeeping to find grandchildren.
		grand := runningChildren(c)
		c.Status, c.Error, c.Cause, c.Stopped = asl.StatusAborted, "", "cancelled: its Parallel or Map state ended", e.opts.Clock.Now().UTC()
		if _, err := e.save(ctx, c, rev); errors.Is(err, errConflict) {
			continue
		} else if err != nil {
			e.log.Warn("chain: aborting a branch", "execution", id, "err", err)
			return
		}
		// The branch's worker stops at its next step: publish what it
		// recorded and has not published yet.
		if err := e.flushOutbox(ctx, c); err != nil {
			e.log.Warn("chain: recording a branch's history", "execution", id, "err", err)
		}
		for _, g := range grand {
			e.abort(ctx, g)
		}
		return
	}
}
