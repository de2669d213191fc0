// Package crontrigger is the cron trigger kind: a schedule (a cron
// expression with optional seconds, a descriptor such as @hourly, or
// "@every 30s"), in a time zone, that fires its target once per tick
// across the whole cluster.
//
// Every node runs every cron trigger; at each tick the nodes race to
// create the key "<trigger id>.<tick unix time>" in the KV bucket
// baton_trigger_leases (create-if-absent, kept for an hour) and only the
// winner fires. The target runs as an async invocation (retried,
// recorded, with its destinations), so a tick is not lost when the
// function fails once.
//
// Missed ticks: the bucket baton_trigger_state keeps "last.<trigger id>",
// the time of the last tick fired. When a node starts the trigger and
// ticks were missed since then (no node was up), policy "last" (the
// default) fires the most recent missed tick once, at once; "skip" fires
// none. Older missed ticks are never fired.
package crontrigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // time zones on hosts without a zoneinfo database

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/robfig/cron/v3"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/triggers"
)

// Kind is the name of this kind.
const Kind = "cron"

// Buckets in JetStream.
const (
	LeaseBucket = "baton_trigger_leases"
	StateBucket = "baton_trigger_state"
	// LeaseTTL is how long a tick's lease is kept: longer than any clock
	// skew between nodes.
	LeaseTTL = time.Hour
)

// Missed-tick policies.
const (
	MissedLast = "last"
	MissedSkip = "skip"
)

func init() { triggers.Register(Kind, newTrigger) }

var _ triggers.Trigger = (*trigger)(nil)

// parser accepts 5 or 6 fields (seconds optional), descriptors and
// CRON_TZ=/TZ= prefixes.
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is when a trigger fires: Next returns the first tick after t.
type Schedule interface {
	Next(t time.Time) time.Time
}

// every is "@every D" aligned to multiples of D since the zero time, so
// that every node computes the same ticks (robfig's ConstantDelaySchedule
// counts from when it was asked, which differs between nodes).
type every struct{ d time.Duration }

func (e every) Next(t time.Time) time.Time { return t.Truncate(e.d).Add(e.d) }

// Parse parses a schedule in a time zone ("" is UTC). Errors are
// *triggers.FieldError naming schedule or timezone.
func Parse(schedule, timezone string) (Schedule, error) {
	s := strings.TrimSpace(schedule)
	if s == "" {
		return nil, triggers.Errorf("schedule", "required, e.g. \"*/5 * * * *\", \"@hourly\" or \"@every 30s\"")
	}
	if rest, ok := strings.CutPrefix(s, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil, triggers.Errorf("schedule", "%q: %v", schedule, err)
		}
		if d < time.Second || d%time.Second != 0 {
			return nil, triggers.Errorf("schedule", "%q: the interval must be whole seconds, at least 1s", schedule)
		}
		return every{d}, nil
	}
	if timezone != "" {
		if strings.HasPrefix(s, "CRON_TZ=") || strings.HasPrefix(s, "TZ=") {
			return nil, triggers.Errorf("timezone", "given twice: in the field and as a CRON_TZ= prefix of the schedule")
		}
		if _, err := time.LoadLocation(timezone); err != nil {
			return nil, triggers.Errorf("timezone", "%q is not a known time zone (an IANA name such as Europe/Paris)", timezone)
		}
		s = "CRON_TZ=" + timezone + " " + s
	} else if !strings.HasPrefix(s, "CRON_TZ=") && !strings.HasPrefix(s, "TZ=") {
		s = "CRON_TZ=UTC " + s
	}
	sched, err := parser.Parse(s)
	if err != nil {
		return nil, triggers.Errorf("schedule", "%q: %v", schedule, err)
	}
	return sched, nil
}

type trigger struct {
	spec  triggers.Spec
	sched Schedule

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

func newTrigger(spec triggers.Spec) (triggers.Trigger, error) {
	if err := spec.Only("schedule", "timezone", "missed"); err != nil {
		return nil, err
	}
	sched, err := Parse(spec.Schedule, spec.Timezone)
	if err != nil {
		return nil, err
	}
	switch spec.Missed {
	case "", MissedLast, MissedSkip:
	default:
		return nil, triggers.Errorf("missed", "%q is not %s or %s", spec.Missed, MissedLast, MissedSkip)
	}
	return &trigger{spec: spec, sched: sched}, nil
}

// Missed is the pure catch-up decision: the most recent tick in
// (last, now] that policy says to fire, or the zero time.
func Missed(sched Schedule, policy string, last, now time.Time) time.Time {
	if policy == MissedSkip || last.IsZero() {
		return time.Time{}
	}
	var latest time.Time
	for t, n := sched.Next(last), 0; !t.After(now) && !t.IsZero(); t, n = sched.Next(t), n+1 {
		latest = t
		if n > 100000 { // a frequent schedule missed for long: jump ahead
			return lastBefore(sched, now)
		}
	}
	return latest
}

// lastBefore finds the latest tick at or before now by searching back.
func lastBefore(sched Schedule, now time.Time) time.Time {
	for back := time.Minute; back <= 400*24*time.Hour; back *= 4 {
		var latest time.Time
		for t := sched.Next(now.Add(-back)); !t.After(now) && !t.IsZero(); t = sched.Next(t) {
			latest = t
		}
		if !latest.IsZero() {
			return latest
		}
	}
	return time.Time{}
}

type runner struct {
	spec   triggers.Spec
	sched  Schedule
	env    triggers.Env
	leases jetstream.KeyValue
	state  jetstream.KeyValue
}

func (t *trigger) Start(ctx context.Context, env triggers.Env) error {
	if env.JetStream == nil || env.InvokeAsync == nil {
		return errors.New("cron trigger: no JetStream or async invocations on this node")
	}
	leases, err := env.JetStream.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: LeaseBucket, Description: "baton cron tick leases", History: 1, TTL: LeaseTTL, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("opening KV bucket %s: %w", LeaseBucket, err)
	}
	state, err := env.JetStream.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: StateBucket, Description: "baton trigger state (last cron tick fired)", History: 1, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("opening KV bucket %s: %w", StateBucket, err)
	}
	r := &runner{spec: t.spec, sched: t.sched, env: env, leases: leases, state: state}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	t.mu.Lock()
	t.cancel, t.done = cancel, done
	t.mu.Unlock()
	go func() {
		defer close(done)
		r.run(runCtx)
	}()
	return nil
}

func (t *trigger) Stop(ctx context.Context) error {
	t.mu.Lock()
	cancel, done := t.cancel, t.done
	t.cancel, t.done = nil, nil
	t.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		<-done // the loop only waits on NATS calls bounded by their own deadline
		return nil
	}
}

func (r *runner) run(ctx context.Context) {
	now := time.Now()
	if tick := Missed(r.sched, r.spec.Missed, r.last(ctx), now); !tick.IsZero() {
		r.env.Logger.Info("cron: firing a tick missed while no node ran", "tick", tick)
		r.fire(ctx, tick)
	}
	for {
		next := r.sched.Next(time.Now())
		if next.IsZero() {
			r.env.Logger.Warn("cron: the schedule has no next tick")
			return
		}
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		r.fire(ctx, next)
	}
}

// last is the last tick fired, or the trigger's creation when none was.
func (r *runner) last(ctx context.Context) time.Time {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	e, err := r.state.Get(cctx, "last."+r.spec.ID)
	if err == nil {
		if n, err := strconv.ParseInt(string(e.Value()), 10, 64); err == nil {
			return time.Unix(n, 0)
		}
	}
	return r.spec.Created
}

// LeaseKey is the lease key of one tick of trigger id.
func LeaseKey(id string, tick time.Time) string {
	return id + "." + strconv.FormatInt(tick.Unix(), 10)
}

// fire fires tick unless another node did: whoever creates the lease key
// fires.
func (r *runner) fire(ctx context.Context, tick time.Time) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	key := LeaseKey(r.spec.ID, tick)
	if _, err := r.leases.Create(cctx, key, []byte(r.env.Node)); err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
			r.env.Logger.Warn("cron: taking the tick's lease", "tick", tick, "err", err)
		}
		return
	}
	_, _ = r.state.Put(cctx, "last."+r.spec.ID, []byte(strconv.FormatInt(tick.Unix(), 10)))
	data, _ := json.Marshal(struct {
		Trigger  string    `json:"trigger"`
		Schedule string    `json:"schedule"`
		Tick     time.Time `json:"tick"`
	}{r.spec.ID, r.spec.Schedule, tick.UTC()})
	ev := &event.Event{
		ID:      key,
		Source:  "cron",
		Type:    "baton.cron.tick",
		Subject: r.spec.ID,
		Time:    tick,
		Method:  "POST",
		Path:    "/",
		Header: map[string][]string{
			"Content-Type":    {"application/json"},
			"X-Baton-Trigger": {r.spec.ID},
		},
		Data:         data,
		InvocationID: nuid.Next(),
	}
	id, err := r.env.InvokeAsync(cctx, r.spec.Function, ev, key)
	if err != nil {
		r.env.Logger.Error("cron: queueing the tick's invocation", "tick", tick, "err", err)
		return
	}
	r.env.Logger.Debug("cron: fired", "tick", tick, "invocation_id", id)
}
