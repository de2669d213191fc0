// Package streamtrigger is the stream trigger kind: an existing JetStream
// stream (optionally only the subjects matching a filter) consumed
// through one durable pull consumer, "baton-trigger-<id>", that every
// node of a cluster shares, so that each message goes to one node at a
// time.
//
// Delivery is at least once. A message is acked after its invocation
// succeeded; a failed one is nacked with a delay that doubles with every
// delivery (Backoff, 2×Backoff, 4×Backoff, … capped at MaxBackoff); after
// MaxDeliver deliveries it is published, with the error, to the subject
// "baton.stream.dlq.<trigger id>" of the stream BATON_STREAM_DLQ and then
// acked. A message in flight when its node stops is nacked (or, when the
// node dies, redelivered once the trigger's ackWait passes), so a restart
// loses none.
//
// Deleting the trigger deletes its consumer ([triggers.Remover]); a
// trigger replaced by one on the same stream keeps it, and with it its
// place in the stream.
package streamtrigger

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/internal/jsworker"
	"github.com/nats-io/nuid"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/triggers"
	natstrigger "github.com/baton-run/baton/triggers/nats"
)

// Kind is the name of this kind.
const Kind = "stream"

// Defaults and bounds of the per-trigger settings.
const (
	DefaultConcurrency = 4
	MaxConcurrency     = 256
	DefaultBatch       = 16
	MaxBatch           = 1024
	DefaultMaxDeliver  = 5
	MaxMaxDeliver      = 100
	DefaultBackoff     = time.Second
	// MaxBackoff caps the delay before a redelivery.
	MaxBackoff = 5 * time.Minute
	// DefaultAckWait is the default of the ackWait setting: how long the
	// server waits for the ack of a delivered message before delivering
	// it again (to any node). A node running a long invocation tells the
	// server it is still working every ackWait/3.
	DefaultAckWait = 30 * time.Second
	// MinAckWait and MaxAckWait bound the ackWait setting.
	MinAckWait = time.Second
	MaxAckWait = 12 * time.Hour
)

// Dead letters.
const (
	// DLQStream is the stream holding the dead letters of every stream
	// trigger; the trigger creates it when missing.
	DLQStream = "BATON_STREAM_DLQ"
	// DLQSubjectPrefix + trigger id is the subject of a dead letter.
	DLQSubjectPrefix = "baton.stream.dlq."
)

// Headers of a dead letter, beside the message's own.
const (
	ErrorHeader      = natstrigger.ErrorHeader // "<code>: <message>" of the last failure
	TriggerHeader    = "Baton-Trigger"
	StreamHeader     = "Baton-Stream"
	SequenceHeader   = "Baton-Stream-Seq"
	SubjectHeader    = "Baton-Subject"
	DeliveriesHeader = "Baton-Deliveries"
)

// Durable is the name of the consumer of trigger id.
func Durable(id string) string { return "baton-trigger-" + id }

func init() { triggers.Register(Kind, newTrigger) }

var (
	_ triggers.Trigger = (*trigger)(nil)
	_ triggers.Remover = (*trigger)(nil)
)

// settings are a spec's stream fields with the defaults applied.
type settings struct {
	stream, filter             string
	concurrency, batch, maxDel int
	backoff, ackWait           time.Duration
}

func parse(spec triggers.Spec) (settings, error) {
	if err := spec.Only("stream", "filter", "concurrency", "batch", "maxDeliver", "backoff", "ackWait"); err != nil {
		return settings{}, err
	}
	s := settings{stream: spec.Stream, filter: spec.Filter, concurrency: spec.Concurrency,
		batch: spec.Batch, maxDel: spec.MaxDeliver, backoff: DefaultBackoff, ackWait: DefaultAckWait}
	switch {
	case s.stream == "":
		return s, triggers.Errorf("stream", "required: the name of an existing JetStream stream")
	case len(s.stream) > 255 || strings.ContainsAny(s.stream, " \t\r\n.*>/\\") || strings.ContainsFunc(s.stream, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return s, triggers.Errorf("stream", "%q is not a stream name (no whitespace, '.', '*', '>', '/' or '\\')", s.stream)
	}
	if s.filter != "" {
		if err := validFilter(s.filter); err != nil {
			return s, triggers.Errorf("filter", "%v", err)
		}
	}
	var err error
	if s.concurrency, err = bounded(s.concurrency, DefaultConcurrency, MaxConcurrency); err != nil {
		return s, triggers.Errorf("concurrency", "%v", err)
	}
	if s.batch, err = bounded(s.batch, DefaultBatch, MaxBatch); err != nil {
		return s, triggers.Errorf("batch", "%v", err)
	}
	if s.maxDel, err = bounded(s.maxDel, DefaultMaxDeliver, MaxMaxDeliver); err != nil {
		return s, triggers.Errorf("maxDeliver", "%v", err)
	}
	if spec.Backoff != "" {
		d, err := time.ParseDuration(spec.Backoff)
		if err != nil || d < 10*time.Millisecond || d > MaxBackoff {
			return s, triggers.Errorf("backoff", "%q is not a duration between 10ms and %s", spec.Backoff, MaxBackoff)
		}
		s.backoff = d
	}
	if spec.AckWait != "" {
		d, err := time.ParseDuration(spec.AckWait)
		if err != nil || d < MinAckWait || d > MaxAckWait {
			return s, triggers.Errorf("ackWait", "%q is not a duration between %s and %s", spec.AckWait, MinAckWait, MaxAckWait)
		}
		s.ackWait = d
	}
	return s, nil
}

func bounded(n, def, max int) (int, error) {
	switch {
	case n == 0:
		return def, nil
	case n < 0 || n > max:
		return 0, fmt.Errorf("%d is not between 1 and %d", n, max)
	}
	return n, nil
}

// validFilter checks a filter subject: like a nats trigger's subject, but
// baton's own subjects are allowed only for its own streams — a stream
// trigger reads what the stream holds, whatever the names.
func validFilter(subject string) error {
	err := natstrigger.ValidSubject(subject)
	if err != nil && strings.HasPrefix(err.Error(), "is reserved") {
		return nil
	}
	return err
}

// Backoff is the delay before redelivering a message whose delivery
// number n (1-based) failed: base doubled n-1 times, at most MaxBackoff.
func Backoff(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

// Outcome is what the trigger does with a message after an invocation.
type Outcome int

// The outcomes of [Decide].
const (
	Ack        Outcome = iota // succeeded: ack
	Retry                     // failed: nak with the backoff delay
	DeadLetter                // failed the last allowed delivery: dead-letter, then ack
	Release                   // the node is stopping: nak at once for another node
)

// Decide is the pure decision about a message delivered for the
// delivered-th time whose invocation returned err; stopping tells that
// the trigger is being stopped (a failure then is not the message's).
func Decide(err error, delivered, maxDeliver int, stopping bool) Outcome {
	switch {
	case err == nil:
		return Ack
	case stopping:
		return Release
	case delivered >= maxDeliver:
		return DeadLetter
	default:
		return Retry
	}
}

type trigger struct {
	spec triggers.Spec
	set  settings

	mu     sync.Mutex
	cc     jetstream.ConsumeContext
	cancel context.CancelFunc
	quit   chan struct{}
	work   chan jetstream.Msg
	wg     sync.WaitGroup
}

func newTrigger(spec triggers.Spec) (triggers.Trigger, error) {
	set, err := parse(spec)
	if err != nil {
		return nil, err
	}
	return &trigger{spec: spec, set: set}, nil
}

func (t *trigger) Start(ctx context.Context, env triggers.Env) error {
	if env.JetStream == nil || env.Invoke == nil {
		return errors.New("stream trigger: no JetStream")
	}
	st, err := env.JetStream.Stream(ctx, t.set.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("stream %q does not exist (create it first, e.g. nats stream add)", t.set.stream)
	}
	if err != nil {
		return fmt.Errorf("looking up stream %q: %w", t.set.stream, err)
	}
	if _, err := env.JetStream.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        DLQStream,
		Description: "baton stream trigger messages that failed every delivery",
		Subjects:    []string{DLQSubjectPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  2 * time.Minute,
	}); err != nil {
		return fmt.Errorf("creating stream %s: %w", DLQStream, err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       Durable(t.spec.ID),
		Description:   "baton stream trigger " + t.spec.ID,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       t.set.ackWait,
		MaxDeliver:    -1, // the trigger counts deliveries and dead-letters (Decide)
		FilterSubject: t.set.filter,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("creating consumer %s on stream %q: %w", cfg.Durable, t.set.stream, err)
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	quit := make(chan struct{})
	work := make(chan jetstream.Msg)
	t.mu.Lock()
	t.cancel, t.quit, t.work = cancel, quit, work
	t.mu.Unlock()
	for range t.set.concurrency {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			for {
				select {
				case <-quit:
					return
				case m := <-work:
					t.handle(runCtx, env, m)
				}
			}
		}()
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case work <- m:
		case <-quit:
			_ = m.Nak()
		}
	}, jetstream.PullMaxMessages(t.set.batch), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if !errors.Is(err, jetstream.ErrNoHeartbeat) {
			env.Logger.Debug("stream trigger: consuming", "err", err)
		}
	}))
	if err != nil {
		return fmt.Errorf("consuming stream %q: %w", t.set.stream, err)
	}
	t.mu.Lock()
	t.cc = cc
	t.mu.Unlock()
	return nil
}

// Remove deletes the trigger's durable consumer, unless the trigger
// store holds a stream trigger of the same id on the same stream (the
// spec was replaced, or the trigger added again), whose Start updates
// the consumer and goes on from where this one stopped. A missing
// consumer or stream is not an error. When the store cannot be read the
// consumer is kept: a consumer left behind costs little, one deleted
// under a running trigger would start it over from the beginning of
// the stream.
func (t *trigger) Remove(ctx context.Context, env triggers.Env) error {
	if env.JetStream == nil {
		return nil
	}
	store, err := triggers.OpenStore(ctx, env.JetStream)
	if err != nil {
		return fmt.Errorf("keeping consumer %s: %w", Durable(t.spec.ID), err)
	}
	var cur *triggers.Spec
	switch spec, err := store.Get(ctx, t.spec.ID); {
	case err == nil:
		cur = &spec
	case event.CodeOf(err) != event.CodeNotFound:
		return fmt.Errorf("keeping consumer %s: %w", Durable(t.spec.ID), err)
	}
	if keepConsumer(t.spec, cur) {
		return nil
	}
	err = env.JetStream.DeleteConsumer(ctx, t.set.stream, Durable(t.spec.ID))
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("deleting consumer %s of stream %q: %w", Durable(t.spec.ID), t.set.stream, err)
	}
	return nil
}

// keepConsumer is Remove's decision about the consumer of the removed
// trigger old, given the spec now stored under its id (nil: none): keep
// it when that is a stream trigger on the same stream.
func keepConsumer(old triggers.Spec, stored *triggers.Spec) bool {
	return stored != nil && stored.Kind == Kind && stored.Stream == old.Stream
}

// Stop stops pulling, lets the workers finish the messages already
// pulled (when ctx ends first, cancels the invocations and nacks their
// messages) and returns once no worker runs.
func (t *trigger) Stop(ctx context.Context) error {
	t.mu.Lock()
	cc, cancel, quit := t.cc, t.cancel, t.quit
	t.cc, t.cancel, t.quit = nil, nil, nil
	t.mu.Unlock()
	if cc != nil {
		cc.Drain() // hands the buffered messages to the workers, then stops
		select {
		case <-cc.Closed():
		case <-ctx.Done():
			cc.Stop()
		}
	}
	if cancel != nil && ctx.Err() != nil {
		cancel()
	}
	if quit != nil {
		close(quit)
	}
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if cancel != nil {
			cancel()
		}
		<-done
	}
	if cancel != nil {
		cancel()
	}
	return nil
}

func (t *trigger) handle(ctx context.Context, env triggers.Env, m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		env.Logger.Warn("stream trigger: message without metadata", "err", err)
		_ = m.Term()
		return
	}
	header := http.Header{}
	for k, vs := range m.Headers() {
		for _, v := range vs {
			header.Add(k, v)
		}
	}
	header.Set("X-Baton-Trigger", t.spec.ID)
	delivered := int(meta.NumDelivered)
	ev := &event.Event{
		ID:           strconv.FormatUint(meta.Sequence.Stream, 10),
		Source:       "stream",
		Type:         "baton.stream.message",
		Subject:      m.Subject(),
		Time:         meta.Timestamp,
		Header:       header,
		Data:         m.Data(),
		InvocationID: nuid.Next(),
		Attempt:      delivered,
	}
	// Tell the server the message is being worked on while the
	// invocation lasts longer than ackWait allows.
	stopBeat := jsworker.KeepAlive(m, t.set.ackWait/3)
	_, err = env.Invoke(ctx, t.spec.Function, ev)
	stopBeat()

	switch Decide(err, delivered, t.set.maxDel, ctx.Err() != nil) {
	case Ack:
		if err := m.Ack(); err != nil {
			env.Logger.Warn("stream trigger: acking", "seq", ev.ID, "err", err)
		}
	case Release:
		_ = m.Nak()
	case Retry:
		env.Logger.Debug("stream trigger: invocation failed, retrying", "seq", ev.ID, "delivered", delivered, "err", err)
		_ = m.NakWithDelay(Backoff(t.set.backoff, delivered))
	case DeadLetter:
		t.dead(ctx, env, m, meta, err)
	}
}

// dead publishes m with err to the dead-letter subject, then acks it; if
// publishing fails the message is nacked to try again later.
func (t *trigger) dead(ctx context.Context, env triggers.Env, m jetstream.Msg, meta *jetstream.MsgMetadata, ierr error) {
	seq := strconv.FormatUint(meta.Sequence.Stream, 10)
	h := nats.Header{}
	for k, vs := range m.Headers() {
		if k == jetstream.MsgIDHeader {
			continue
		}
		h[k] = append([]string(nil), vs...)
	}
	h.Set(ErrorHeader, errorText(ierr))
	h.Set(TriggerHeader, t.spec.ID)
	h.Set(StreamHeader, meta.Stream)
	h.Set(SequenceHeader, seq)
	h.Set(SubjectHeader, m.Subject())
	h.Set(DeliveriesHeader, strconv.FormatUint(meta.NumDelivered, 10))
	h.Set(jetstream.MsgIDHeader, t.spec.ID+"."+meta.Stream+"."+seq)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := env.JetStream.PublishMsg(pctx, &nats.Msg{Subject: DLQSubjectPrefix + t.spec.ID, Header: h, Data: m.Data()})
	if err != nil {
		env.Logger.Warn("stream trigger: storing the dead letter", "seq", seq, "err", err)
		_ = m.NakWithDelay(Backoff(t.set.backoff, int(meta.NumDelivered)))
		return
	}
	if err := m.Ack(); err != nil {
		env.Logger.Warn("stream trigger: acking a dead letter", "seq", seq, "err", err)
	}
	env.Logger.Info("stream trigger: message dead-lettered", "seq", seq, "subject", m.Subject(), "deliveries", meta.NumDelivered, "err", ierr)
}

// errorText is "<code>: <message>" of err, on one line.
func errorText(err error) string {
	var e *event.Error
	code, msg := event.CodeInternal, err.Error()
	if errors.As(err, &e) {
		code = e.Code
		if e.Message != "" {
			msg = e.Message
		}
	}
	msg = strings.NewReplacer("\r", " ", "\n", " ").Replace(msg)
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	return string(code) + ": " + msg
}
