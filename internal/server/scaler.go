package server

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/baton-run/baton/internal/registry"
	"github.com/baton-run/baton/runtime"
	"github.com/baton-run/baton/scheduler"
)

// DefaultScaleInterval is how often the scaler looks at the pools.
const DefaultScaleInterval = time.Second

// scaler is the executor of scheduler.Autoscale on one node: one goroutine
// that, every ScaleInterval and whenever the registry changes, observes
// every loaded function version, decides, and prewarms or closes
// instances. It also loads the current version of every function whose
// spec asks for minInstances, so those are warm before the first call.
type scaler struct {
	s        *Server
	interval time.Duration
	kick     chan struct{}
	// Owned by the scaler goroutine:
	fns  map[fnKey]*scaleState
	ages []time.Duration
}

// scaleState is what the scaler remembers of one loaded version.
type scaleState struct {
	fn     *runtime.Function
	window scheduler.PeakWindow
	failed bool // the last prewarm failed (logged once until it works)
}

// startScaler starts the scaler goroutine, owned by s.wg and stopped by
// the end of s.runCtx.
func (s *Server) startScaler() {
	interval := s.cfg.ScaleInterval
	if interval <= 0 {
		interval = DefaultScaleInterval
	}
	sc := &scaler{s: s, interval: interval, kick: make(chan struct{}, 1), fns: map[fnKey]*scaleState{}}
	s.scaler.Store(sc)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sc.run(s.runCtx)
	}()
}

// kickScaler makes the scaler look at the pools now rather than at its
// next tick (after a deploy, say). It never blocks.
func (s *Server) kickScaler() {
	sc := s.scaler.Load()
	if sc == nil {
		return
	}
	select {
	case sc.kick <- struct{}{}:
	default:
	}
}

func (sc *scaler) run(ctx context.Context) {
	t := time.NewTicker(sc.interval)
	defer t.Stop()
	for {
		sc.loadMinInstances(ctx)
		sc.scale(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-sc.kick:
		}
	}
}

// loadMinInstances loads the current version of each function whose spec
// has minInstances > 0, if this node has not loaded it yet.
func (sc *scaler) loadMinInstances(ctx context.Context) {
	s := sc.s
	type want struct {
		name string
		v    *registry.Version
	}
	var todo []want
	s.mu.RLock()
	for name, fn := range s.fns {
		if v := fn.Current(); v != nil && v.Spec.MinInstances > 0 && s.loaded[fnKey{name, v.Version}] == nil {
			todo = append(todo, want{name, v})
		}
	}
	s.mu.RUnlock()
	for _, w := range todo {
		if ctx.Err() != nil {
			return
		}
		if _, err := s.function(ctx, w.name, w.v); err != nil {
			s.log.Warn("loading a function for its minInstances", "function", w.name, "version", w.v.Version, "err", err)
		}
	}
}

// scale observes every loaded version and applies scheduler.Autoscale.
func (sc *scaler) scale(ctx context.Context, now time.Time) {
	s := sc.s
	type item struct {
		key  fnKey
		fn   *runtime.Function
		spec registry.Spec
	}
	var items []item
	s.mu.RLock()
	for k, f := range s.loaded {
		rec := s.fns[k.name]
		if rec == nil {
			continue
		}
		v := rec.Version(k.version)
		if v == nil {
			continue
		}
		items = append(items, item{k, f, v.Spec.WithDefaults()})
	}
	s.mu.RUnlock()

	seen := make(map[fnKey]bool, len(items))
	for _, it := range items {
		seen[it.key] = true
		st := sc.fns[it.key]
		if st == nil || st.fn != it.fn { // new, or unloaded and loaded again
			st = &scaleState{fn: it.fn}
			sc.fns[it.key] = st
		}
		idleTimeout := time.Duration(it.spec.IdleTimeout)
		var obs runtime.PoolStats
		obs, sc.ages = it.fn.Observe(sc.ages[:0])
		peak := st.window.Add(now, obs.PeakBusy, idleTimeout)
		d := scheduler.Autoscale(scheduler.PoolState{
			Live:        obs.Live,
			Idle:        obs.Idle,
			Busy:        obs.Busy,
			Queued:      obs.Queued,
			IdleAges:    sc.ages,
			Peak:        peak,
			Min:         it.spec.MinInstances,
			Max:         it.spec.MaxInstances,
			IdleTimeout: idleTimeout,
		})
		if d.Close > 0 {
			if n := it.fn.CloseIdle(d.Close, idleTimeout); n > 0 {
				s.log.Debug("scaled down", "function", it.key.name, "version", it.key.version, "closed", n, "live", obs.Live-n)
			}
		}
		if d.Prewarm > 0 && ctx.Err() == nil {
			n, err := it.fn.Prewarm(ctx, d.Prewarm)
			switch {
			case err != nil && !st.failed:
				st.failed = true
				s.log.Warn("prewarming instances", "function", it.key.name, "version", it.key.version, "err", err)
			case err == nil:
				st.failed = false
			}
			if n > 0 {
				s.log.Debug("prewarmed", "function", it.key.name, "version", it.key.version, "created", n, "target", d.Target)
			}
		}
	}
	for k := range sc.fns {
		if !seen[k] {
			delete(sc.fns, k)
		}
	}
}

// statusRow is one function version on one node in GET /api/v1/status
// (docs/http-api.md).
type statusRow struct {
	Node          string     `json:"node"`
	Name          string     `json:"name"`
	Version       int        `json:"version"`
	Loaded        bool       `json:"loaded"`
	Warm          int        `json:"warm"`
	Busy          int        `json:"busy"`
	Idle          int        `json:"idle"`
	Queued        int        `json:"queued"`
	ColdStarts    uint64     `json:"coldStarts"`
	ScaleFromZero uint64     `json:"scaleFromZero"`
	Prewarmed     uint64     `json:"prewarmed"`
	ScaledDown    uint64     `json:"scaledDown"`
	LastScaleDown *time.Time `json:"lastScaleDown,omitempty"`
	MinInstances  int        `json:"minInstances"`
	MaxInstances  int        `json:"maxInstances"`
	IdleTimeout   string     `json:"idleTimeout"`
}

// status lists every loaded version on this node, and the current version
// of every function not loaded here (Loaded false, all zero), sorted by
// name and version.
func (s *Server) status() []statusRow {
	rows := []statusRow{}
	s.mu.RLock()
	for k, f := range s.loaded {
		row := statusRow{Node: s.nodeID, Name: k.name, Version: k.version, Loaded: true}
		if rec := s.fns[k.name]; rec != nil {
			if v := rec.Version(k.version); v != nil {
				row.setSpec(v.Spec)
			}
		}
		st := f.Stats()
		// Warm leaves out instances the scaler is still creating.
		row.Warm, row.Busy, row.Idle, row.Queued = st.Idle+st.Busy, st.Busy, st.Idle, st.Queued
		row.ColdStarts, row.ScaleFromZero, row.Prewarmed, row.ScaledDown = st.ColdStarts, st.ScaleFromZero, st.Prewarmed, st.ScaledDown
		if !st.LastScaleDown.IsZero() {
			t := st.LastScaleDown.UTC()
			row.LastScaleDown = &t
		}
		rows = append(rows, row)
	}
	for name, rec := range s.fns {
		v := rec.Current()
		if v == nil || s.loaded[fnKey{name, v.Version}] != nil {
			continue
		}
		row := statusRow{Node: s.nodeID, Name: name, Version: v.Version}
		row.setSpec(v.Spec)
		rows = append(rows, row)
	}
	s.mu.RUnlock()
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Name != rows[j].Name {
			return rows[i].Name < rows[j].Name
		}
		return rows[i].Version < rows[j].Version
	})
	return rows
}

func (r *statusRow) setSpec(spec registry.Spec) {
	spec = spec.WithDefaults()
	r.MinInstances, r.MaxInstances, r.IdleTimeout = spec.MinInstances, spec.MaxInstances, spec.IdleTimeout.String()
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"node": s.nodeID, "functions": s.status()})
}
