package async

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/internal/jsworker"
	"github.com/nats-io/nuid"

	"github.com/baton-run/baton/event"
)

var b64 = base64.StdEncoding

// InvokeFunc runs one attempt of job. attempt is 1-based.
type InvokeFunc func(ctx context.Context, job *Job, attempt int) (*Result, error)

// PolicyFunc returns the async policy of the function job.Function names,
// as its spec says now.
type PolicyFunc func(function string) Policy

// Options configure a [Queue].
type Options struct {
	// Node names this node in attempts.
	Node string
	// Workers is how many invocations this node runs at once (default 16;
	// negative: none, the node only accepts invocations).
	Workers int
	// AckWait is how long an invocation may go without a sign of life
	// before another node gets it (default 30s). Workers signal progress
	// every AckWait/3 while a function runs, so it need not exceed the
	// function timeout; it bounds how soon the work of a dead node is
	// redelivered.
	AckWait time.Duration
	// Retention is how long records and idempotency keys are kept after
	// their last update (default 24h).
	Retention time.Duration
	// ShutdownGrace bounds how long Run waits for running invocations
	// after its context ends before cancelling them (default 10s).
	ShutdownGrace time.Duration
	// MaxBusyWait bounds how long an invocation waits for its busy
	// function between two attempts; past it a busy answer is a failed
	// attempt (default DefaultMaxBusyWait, see DecideBusy).
	MaxBusyWait time.Duration
	// Invoke runs an attempt; Policy gives a function's policy.
	Invoke InvokeFunc
	Policy PolicyFunc
	Logger *slog.Logger
}

// Queue is the async invocation machinery of one node.
type Queue struct {
	opts    Options
	js      jetstream.JetStream
	nc      *nats.Conn
	kv      jetstream.KeyValue
	work    jetstream.Stream
	dlq     jetstream.Stream
	maxData int
	log     *slog.Logger
}

// ErrNotFound is returned for an unknown (or expired) invocation id.
var ErrNotFound = event.Errorf(event.CodeNotFound, "no such invocation")

// Open creates (or updates) the streams, the bucket and the consumer.
func Open(ctx context.Context, js jetstream.JetStream, opts Options) (*Queue, error) {
	if opts.Workers == 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.AckWait <= 0 {
		opts.AckWait = DefaultAckWait
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 10 * time.Second
	}
	if opts.MaxBusyWait <= 0 {
		opts.MaxBusyWait = DefaultMaxBusyWait
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Policy == nil {
		opts.Policy = func(string) Policy { return DefaultPolicy }
	}
	q := &Queue{opts: opts, js: js, nc: js.Conn(), log: opts.Logger}
	var err error
	q.work, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        Stream,
		Description: "baton async invocations waiting for a worker",
		Subjects:    []string{SubjectPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("creating stream %s: %w", Stream, err)
	}
	q.dlq, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        DLQStream,
		Description: "baton async invocations that failed every attempt",
		Subjects:    []string{DLQSubjectPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("creating stream %s: %w", DLQStream, err)
	}
	q.kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "baton async invocation records and idempotency keys",
		TTL:         opts.Retention,
		Storage:     jetstream.FileStorage,
		History:     1,
	})
	if err != nil {
		return nil, fmt.Errorf("creating bucket %s: %w", Bucket, err)
	}
	q.maxData = MaxData
	if mp := int(q.nc.MaxPayload()); mp > 0 {
		q.maxData = min(q.maxData, (mp-64<<10)*3/4)
	}
	return q, nil
}

// MaxData is the largest event data Submit accepts.
func (q *Queue) MaxData() int { return q.maxData }

func recordKey(id string) string { return "inv." + id }

func idemKey(function, key string) string {
	name, _, _ := strings.Cut(function, ":")
	sum := sha256.Sum256([]byte(key))
	return "idem." + name + "." + hex.EncodeToString(sum[:16])
}

func functionName(ref string) string {
	name, _, _ := strings.Cut(ref, ":")
	return name
}

// Submit stores job durably and returns its id. With an idempotency key
// already used for the same function within the retention time, it stores
// nothing and returns the first invocation's id with dup true.
func (q *Queue) Submit(ctx context.Context, job *Job) (id string, dup bool, err error) {
	if job.ID == "" {
		job.ID = nuid.Next()
	}
	if job.Submitted.IsZero() {
		job.Submitted = time.Now()
	}
	if len(job.Event.Data) > q.maxData {
		return "", false, event.Errorf(event.CodeInputTooLarge, "event data is %d bytes, more than the %d an async invocation allows", len(job.Event.Data), q.maxData)
	}
	var ik string
	if job.IdempotencyKey != "" {
		ik = idemKey(job.Function, job.IdempotencyKey)
		if _, err := q.kv.Create(ctx, ik, []byte(job.ID)); err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) {
				return "", false, unavailable("storing the idempotency key", err)
			}
			e, err := q.kv.Get(ctx, ik)
			if err != nil {
				return "", false, unavailable("reading the idempotency key", err)
			}
			return string(e.Value()), true, nil
		}
	}
	rec := Record{
		ID: job.ID, Function: job.Function, Status: StatusQueued, Attempts: []Attempt{},
		IdempotencyKey: job.IdempotencyKey, Submitted: job.Submitted, Updated: time.Now(),
	}
	if err := q.putRecord(ctx, &rec); err == nil {
		err = q.publish(ctx, job, job.ID)
		if err == nil {
			return job.ID, false, nil
		}
	}
	// Not stored: forget the key and the record so a retry can submit.
	_ = q.kv.Purge(context.WithoutCancel(ctx), recordKey(job.ID))
	if ik != "" {
		_ = q.kv.Purge(context.WithoutCancel(ctx), ik)
	}
	return "", false, unavailable("storing the invocation", err)
}

func unavailable(what string, err error) error {
	return &event.Error{Code: event.CodeUnavailable, Message: fmt.Sprintf("%s: %v", what, err), Err: err}
}

// publish stores job in the work stream; msgID deduplicates retries.
func (q *Queue) publish(ctx context.Context, job *Job, msgID string) error {
	b, err := json.Marshal(job)
	if err != nil {
		return err
	}
	_, err = q.js.PublishMsg(ctx, &nats.Msg{
		Subject: SubjectPrefix + functionName(job.Function),
		Data:    b,
		Header:  nats.Header{jetstream.MsgIDHeader: []string{msgID}},
	})
	return err
}

// Get returns the record of invocation id.
func (q *Queue) Get(ctx context.Context, id string) (*Record, error) {
	rec, _, err := q.getRecord(ctx, id)
	return rec, err
}

func (q *Queue) getRecord(ctx context.Context, id string) (*Record, uint64, error) {
	if id == "" || strings.ContainsAny(id, ".*> ") {
		return nil, 0, ErrNotFound
	}
	e, err := q.kv.Get(ctx, recordKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, unavailable("reading the invocation", err)
	}
	var rec Record
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, 0, fmt.Errorf("decoding invocation %s: %w", id, err)
	}
	return &rec, e.Revision(), nil
}

func (q *Queue) putRecord(ctx context.Context, rec *Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = q.kv.Put(ctx, recordKey(rec.ID), b)
	return err
}

// update applies change to the record of job (created from job when it
// expired), with compare-and-set.
func (q *Queue) update(ctx context.Context, job *Job, change func(*Record)) (*Record, error) {
	for try := 0; ; try++ {
		rec, rev, err := q.getRecord(ctx, job.ID)
		if errors.Is(err, ErrNotFound) {
			rec = &Record{ID: job.ID, Function: job.Function, Submitted: job.Submitted, IdempotencyKey: job.IdempotencyKey, Attempts: []Attempt{}}
		} else if err != nil {
			return nil, err
		}
		change(rec)
		rec.Updated = time.Now()
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		if rev == 0 {
			_, err = q.kv.Create(ctx, recordKey(job.ID), b)
		} else {
			_, err = q.kv.Update(ctx, recordKey(job.ID), b, rev)
		}
		if err == nil {
			return rec, nil
		}
		if try >= 5 || !(errors.Is(err, jetstream.ErrKeyExists) || strings.Contains(err.Error(), "wrong last sequence")) {
			return nil, fmt.Errorf("updating invocation %s: %w", job.ID, err)
		}
	}
}

// Run consumes invocations with opts.Workers workers until ctx ends, then
// waits for the running ones (cancelling them after ShutdownGrace).
func (q *Queue) Run(ctx context.Context) error {
	if q.opts.Workers < 0 {
		return nil
	}
	cons, err := q.js.CreateOrUpdateConsumer(ctx, Stream, jetstream.ConsumerConfig{
		Durable:       Consumer,
		Description:   "baton async workers of every node",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.opts.AckWait,
		MaxDeliver:    -1, // the workers count attempts and dead-letter (Decide)
		MaxAckPending: 4096,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("creating consumer %s: %w", Consumer, err)
	}
	if err := jsworker.Consume(ctx, cons, q.opts.Workers, q.opts.ShutdownGrace, q.log.With("stream", Stream), q.handle); err != nil {
		return fmt.Errorf("consuming %s: %w", Stream, err)
	}
	return nil
}

// handle runs one delivery of an invocation and settles it: ack, nak with
// a delay, or dead letter.
func (q *Queue) handle(ctx context.Context, msg jetstream.Msg) {
	var job Job
	if err := json.Unmarshal(msg.Data(), &job); err != nil || job.ID == "" {
		q.log.Error("async: dropping an undecodable invocation", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	meta, err := msg.Metadata()
	if err != nil {
		q.log.Error("async: no metadata", "invocation_id", job.ID, "err", err)
		_ = msg.Nak()
		return
	}
	rec, _, err := q.getRecord(ctx, job.ID)
	if err == nil && rec.Status.Final() && rec.Redrives == job.Redrives {
		_ = msg.Ack() // a redelivery of a finished invocation
		return
	}
	busy := 0
	if err == nil {
		busy = rec.BusyDeliveries
	}
	// The attempt number within this run: busy answers are not attempts.
	n := AttemptNumber(int(meta.NumDelivered), busy)
	attempt := job.AttemptOffset + n
	pol := q.opts.Policy(job.Function)
	log := q.log.With("function", job.Function, "invocation_id", job.ID, "attempt", attempt)

	if n > pol.MaxRetries+1 {
		// Delivered again after its last attempt (its node died mid-run).
		q.dead(ctx, msg, &job, pol, log, "no retries left")
		return
	}
	started := time.Now()
	cur, err := q.update(ctx, &job, func(r *Record) {
		r.Status, r.NextAttempt = StatusRunning, time.Time{}
		r.Attempts = append(r.Attempts, Attempt{Attempt: attempt, Node: q.opts.Node, Started: started})
	})
	if err != nil {
		log.Warn("async: recording the attempt", "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}

	stopBeat := jsworker.KeepAlive(msg, q.opts.AckWait/3)
	res, err := q.opts.Invoke(ctx, &job, attempt)
	stopBeat()
	ended := time.Now()
	finish := func(r *Record, code event.Code, message string) {
		for i := range r.Attempts {
			if a := &r.Attempts[i]; a.Attempt == attempt && a.Ended.IsZero() {
				a.Ended, a.Code, a.Message = ended, code, message
				if res != nil && res.Node != "" {
					a.Node = res.Node
				}
			}
		}
		r.BusyStreak, r.BusySince = 0, time.Time{}
	}
	if err == nil {
		rec, uerr := q.update(ctx, &job, func(r *Record) {
			finish(r, "", "")
			r.Status, r.Result, r.Error, r.Finished = StatusSucceeded, res, nil, ended
		})
		if uerr != nil {
			log.Warn("async: recording the result", "err", uerr)
			_ = msg.NakWithDelay(time.Second)
			return
		}
		_ = msg.DoubleAck(ctx)
		q.deliver(ctx, pol.OnSuccess, rec, "success", log)
		return
	}
	code := event.CodeOf(err)
	message := err.Error()
	var ee *event.Error
	if errors.As(err, &ee) && ee.Message != "" {
		message = ee.Message
	}
	if len(message) > maxMessage {
		message = message[:maxMessage]
	}
	if ctx.Err() != nil {
		// This node is stopping: let another node (or the restart) run it.
		_, _ = q.update(context.WithoutCancel(ctx), &job, func(r *Record) {
			finish(r, event.CodeCanceled, "the node stopped during the attempt")
			r.Status = StatusQueued
		})
		_ = msg.Nak()
		return
	}
	if code == event.CodeBusy {
		var waited time.Duration
		if !cur.BusySince.IsZero() {
			waited = ended.Sub(cur.BusySince)
		}
		if b := DecideBusy(cur.BusyStreak, waited, q.opts.MaxBusyWait, rand.Float64()); b.Wait {
			// Not an attempt: take back the one recorded, queue it again.
			next := ended.Add(b.Delay)
			if _, err := q.update(ctx, &job, func(r *Record) {
				r.Attempts = slices.DeleteFunc(r.Attempts, func(a Attempt) bool {
					return a.Attempt == attempt && a.Ended.IsZero() && a.Node == q.opts.Node
				})
				r.Status, r.NextAttempt = StatusQueued, next
				r.BusyDeliveries++
				r.BusyStreak++
				if r.BusySince.IsZero() {
					r.BusySince = ended
				}
			}); err != nil {
				log.Warn("async: recording a busy answer", "err", err)
			}
			log.Debug("async: function busy, waiting", "delay", b.Delay, "streak", cur.BusyStreak+1)
			_ = msg.NakWithDelay(b.Delay)
			return
		}
		message = fmt.Sprintf("%s (busy %d times in a row over %s)", message, cur.BusyStreak+1, waited.Round(time.Millisecond))
	}
	d := Decide(n, code, pol, rand.Float64())
	if !d.Retry {
		if _, err := q.update(ctx, &job, func(r *Record) {
			finish(r, code, message)
			r.Error = &Failure{Code: code, Message: message}
		}); err != nil {
			log.Warn("async: recording the failure", "err", err)
		}
		q.dead(ctx, msg, &job, pol, log, d.Reason)
		return
	}
	if _, err := q.update(ctx, &job, func(r *Record) {
		finish(r, code, message)
		r.Status, r.Error, r.NextAttempt = StatusFailed, &Failure{Code: code, Message: message}, ended.Add(d.Delay)
	}); err != nil {
		log.Warn("async: recording the failure", "err", err)
	}
	log.Debug("async: attempt failed, retrying", "code", code, "delay", d.Delay)
	_ = msg.NakWithDelay(d.Delay)
}

// dead moves job to the dead-letter stream, then acks it.
func (q *Queue) dead(ctx context.Context, msg jetstream.Msg, job *Job, pol Policy, log *slog.Logger, reason string) {
	now := time.Now()
	markDead := func(r *Record) {
		for i := range r.Attempts {
			if a := &r.Attempts[i]; a.Ended.IsZero() && a.Code == "" {
				a.Code, a.Message = event.CodeUnavailable, "the node running the attempt stopped"
			}
		}
		r.Status, r.Finished, r.NextAttempt = StatusDead, now, time.Time{}
	}
	// The dead letter is stored before the record says dead, so that a
	// caller who sees the status can redrive it at once. (A crash in
	// between redelivers the job, which dies again: the message id keeps
	// the dead letter single.)
	var attempts []Attempt
	cur, _, err := q.getRecord(ctx, job.ID)
	switch {
	case err == nil:
		dead := *cur
		dead.Attempts = slices.Clone(cur.Attempts)
		markDead(&dead)
		attempts = dead.Attempts
	case !errors.Is(err, ErrNotFound):
		log.Warn("async: reading the record of a dead letter", "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	dl := DeadLetter{ID: job.ID, Function: job.Function, Attempts: attempts, Died: now, Job: *job}
	b, err := json.Marshal(dl)
	if err == nil {
		_, err = q.js.PublishMsg(ctx, &nats.Msg{
			Subject: DLQSubjectPrefix + functionName(job.Function) + "." + job.ID,
			Data:    b,
			Header:  nats.Header{jetstream.MsgIDHeader: []string{fmt.Sprintf("%s.dead.%d", job.ID, job.Redrives)}},
		})
	}
	if err != nil {
		log.Warn("async: storing the dead letter", "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	// A redrive can take the dead letter before the record says dead:
	// then the record belongs to the redriven run, which must not be
	// marked dead by this one.
	superseded := false
	rec, err := q.update(ctx, job, func(r *Record) {
		if superseded = r.Redrives != job.Redrives; !superseded {
			markDead(r)
		}
	})
	if err != nil {
		log.Warn("async: recording the dead letter", "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	_ = msg.DoubleAck(ctx)
	if superseded {
		log.Info("async: dead letter redriven before it was recorded", "reason", reason)
		return
	}
	log.Info("async: invocation dead-lettered", "reason", reason, "attempts", len(rec.Attempts))
	q.deliver(ctx, pol.OnFailure, rec, "failure", log)
}

// deliver sends the final record to a destination.
func (q *Queue) deliver(ctx context.Context, d *Destination, rec *Record, kind string, log *slog.Logger) {
	if d == nil {
		return
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	switch {
	case d.Subject != "":
		err = q.nc.Publish(d.Subject, b)
	case d.Function != "":
		_, _, err = q.Submit(ctx, &Job{
			Function: d.Function,
			Event: Event{
				ID: nuid.Next(), Source: "baton.async", Type: "baton.async." + kind,
				Subject: rec.ID, Time: time.Now(), Method: "POST", Path: "/",
				Header: map[string][]string{"Content-Type": {"application/json"}}, Data: b,
			},
		})
	}
	if err != nil {
		log.Warn("async: delivering to the on"+kind+" destination", "err", err)
	}
}

// DeadLetters lists the dead letters, of one function when function is
// not empty, oldest first.
func (q *Queue) DeadLetters(ctx context.Context, function string) ([]DeadLetter, error) {
	filter := DLQSubjectPrefix + ">"
	if function != "" {
		filter = DLQSubjectPrefix + function + ".*"
	}
	out := []DeadLetter{}
	err := q.scanDLQ(ctx, filter, func(_ uint64, dl DeadLetter) { out = append(out, dl) })
	return out, err
}

func (q *Queue) scanDLQ(ctx context.Context, filter string, fn func(seq uint64, dl DeadLetter)) error {
	for seq := uint64(1); ; {
		m, err := q.dlq.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return unavailable("reading the dead-letter stream", err)
		}
		var dl DeadLetter
		if err := json.Unmarshal(m.Data, &dl); err == nil {
			fn(m.Sequence, dl)
		}
		seq = m.Sequence + 1
	}
}

// Redrive re-queues the dead letter of invocation id with a fresh budget
// of attempts (attempt numbers go on counting).
func (q *Queue) Redrive(ctx context.Context, id string) (*Record, error) {
	if id == "" || strings.ContainsAny(id, ".*> ") {
		return nil, ErrNotFound
	}
	m, err := q.dlq.GetLastMsgForSubject(ctx, DLQSubjectPrefix+"*."+id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, event.Errorf(event.CodeNotFound, "invocation %s is not in the dead-letter stream", id)
	}
	if err != nil {
		return nil, unavailable("reading the dead-letter stream", err)
	}
	var dl DeadLetter
	if err := json.Unmarshal(m.Data, &dl); err != nil {
		return nil, fmt.Errorf("decoding dead letter %s: %w", id, err)
	}
	return q.redrive(ctx, m.Sequence, dl)
}

// RedriveAll re-queues every dead letter of function and returns how many.
func (q *Queue) RedriveAll(ctx context.Context, function string) (int, error) {
	type entry struct {
		seq uint64
		dl  DeadLetter
	}
	var all []entry
	if err := q.scanDLQ(ctx, DLQSubjectPrefix+function+".*", func(seq uint64, dl DeadLetter) {
		all = append(all, entry{seq, dl})
	}); err != nil {
		return 0, err
	}
	for i, e := range all {
		if _, err := q.redrive(ctx, e.seq, e.dl); err != nil {
			return i, err
		}
	}
	return len(all), nil
}

func (q *Queue) redrive(ctx context.Context, seq uint64, dl DeadLetter) (*Record, error) {
	job := dl.Job
	last := job.AttemptOffset
	for _, a := range dl.Attempts {
		last = max(last, a.Attempt)
	}
	job.AttemptOffset = last
	job.Redrives++
	rec, err := q.update(ctx, &job, func(r *Record) {
		r.Status, r.Finished, r.Redrives = StatusQueued, time.Time{}, job.Redrives
		// A new run: its deliveries count from 1 again.
		r.BusyDeliveries, r.BusyStreak, r.BusySince = 0, 0, time.Time{}
		if len(r.Attempts) == 0 {
			r.Attempts = dl.Attempts
		}
	})
	if err != nil {
		return nil, err
	}
	if err := q.publish(ctx, &job, fmt.Sprintf("%s.redrive.%d", job.ID, job.Redrives)); err != nil {
		return nil, unavailable("re-queueing the invocation", err)
	}
	if err := q.dlq.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		q.log.Warn("async: removing a redriven dead letter", "invocation_id", job.ID, "err", err)
	}
	return rec, nil
}
