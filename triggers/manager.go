package triggers

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Action is what the manager does about one trigger when its spec
// changes.
type Action int

// The actions of [Decide].
const (
	Keep    Action = iota // nothing to do
	Start                 // start the new spec
	Stop                  // stop the running one
	Restart               // stop the running one, start the new spec
)

// Decide is the manager's pure decision: running is the spec of the
// trigger running now (nil: none), desired the stored one (nil: deleted).
func Decide(running, desired *Spec) Action {
	switch {
	case running == nil && desired == nil:
		return Keep
	case running == nil:
		return Start
	case desired == nil:
		return Stop
	case Equal(*running, *desired):
		return Keep
	default:
		return Restart
	}
}

// DefaultStartTimeout bounds how long starting one trigger may take.
const DefaultStartTimeout = 30 * time.Second

// DefaultStopTimeout bounds how long stopping one trigger may take.
const DefaultStopTimeout = 10 * time.Second

// Manager runs the triggers of one node: Apply brings a trigger in line
// with its stored spec, Close stops them all. It is safe for concurrent
// use; every trigger it started is stopped by Close.
type Manager struct {
	env Env

	mu      sync.Mutex
	closed  bool
	running map[string]*running
	failed  map[string]string // id → why its last start failed
}

type running struct {
	spec Spec
	t    Trigger
}

// NewManager returns a Manager starting triggers with env (whose Logger is
// tagged per trigger).
func NewManager(env Env) *Manager {
	if env.Logger == nil {
		env.Logger = slog.Default()
	}
	return &Manager{env: env, running: map[string]*running{}, failed: map[string]string{}}
}

// Apply brings trigger id in line with spec (nil: it was deleted). A
// trigger that fails to start is logged, cleaned up and reported by
// Status; the next change of its spec tries again.
func (m *Manager) Apply(ctx context.Context, id string, spec *Spec) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	var cur *Spec
	r := m.running[id]
	if r != nil {
		cur = &r.spec
	}
	act := Decide(cur, spec)
	if act == Keep && spec != nil && r == nil {
		act = Start
	}
	switch act {
	case Keep:
		return
	case Stop, Restart:
		m.stop(id, r)
		m.remove(id, r)
		if act == Stop {
			delete(m.failed, id)
			return
		}
	}
	log := m.env.Logger.With("trigger", id, "kind", spec.Kind)
	t, err := New(*spec)
	if err == nil {
		env := m.env
		env.Logger = log
		sctx, cancel := context.WithTimeout(ctx, DefaultStartTimeout)
		err = t.Start(sctx, env)
		cancel()
		if err != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultStopTimeout)
			_ = t.Stop(sctx) // clean up a partial start
			cancel()
		}
	}
	if err != nil {
		m.failed[id] = err.Error()
		log.Error("trigger did not start", "function", spec.Function, "err", err)
		return
	}
	delete(m.failed, id)
	m.running[id] = &running{spec: *spec, t: t}
	log.Info("trigger started", "function", spec.Function)
}

func (m *Manager) stop(id string, r *running) {
	delete(m.running, id)
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultStopTimeout)
	defer cancel()
	if err := r.t.Stop(ctx); err != nil {
		m.env.Logger.Warn("stopping trigger", "trigger", id, "err", err)
	}
}

// Remover is implemented by a kind whose trigger leaves state outside
// the node (a bucket notification, a durable consumer). The manager calls
// Remove, after Stop, when the trigger is deleted or its spec replaced;
// not when the node merely shuts down. It must be idempotent: every node
// running the trigger calls it.
type Remover interface {
	Remove(ctx context.Context, env Env) error
}

func (m *Manager) remove(id string, r *running) {
	if r == nil {
		return
	}
	rm, ok := r.t.(Remover)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultStopTimeout)
	defer cancel()
	if err := rm.Remove(ctx, m.env); err != nil {
		m.env.Logger.Warn("removing trigger", "trigger", id, "err", err)
	}
}

// Status reports whether trigger id runs on this node and, if its last
// start failed, why.
func (m *Manager) Status(id string) (ok bool, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok = m.running[id]
	return ok, m.failed[id]
}

// Running lists the ids of the triggers running on this node, sorted.
func (m *Manager) Running() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.running))
	for id := range m.running {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Close stops every trigger; Apply does nothing afterwards.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	var errs []error
	for id, r := range m.running {
		if err := r.t.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
		delete(m.running, id)
	}
	return errors.Join(errs...)
}
