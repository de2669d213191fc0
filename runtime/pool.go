package runtime

import (
	"context"
	"sync"
	"time"

	"github.com/baton-run/baton/event"
)

// pool holds the instances of one function version. At most max exist at
// once; callers beyond that wait in a FIFO queue bounded in length
// (maxQueue) and time (queueTimeout).
//
// The idle slice is ordered by the time each instance went idle, oldest
// first: release and prewarm append under the lock with the current
// monotonic time, and acquire takes from the end (LIFO, the warmest).
// Scale-down closes from the front.
type pool struct {
	create       func(context.Context) (*instance, error)
	max          int
	maxQueue     int
	queueTimeout time.Duration

	mu      sync.Mutex
	idle    []*instance // LIFO: the most recently used is the warmest
	live    int         // instances that exist or are being created
	waiters []*waiter
	closed  bool
	stats   PoolStats
	// peak is the most instances busy at once since the last observe.
	peak int
	// warming counts instances prewarm is creating: live, but not busy.
	warming int
	// onEmpty runs once, after close, when the last instance is gone
	// (the function's runtime may close only then: closing it under a
	// running or instantiating module races with its host calls).
	onEmpty func()
	emptied bool
}

// dropLocked unlocks p.mu after a slot was given up, closes inst (when
// not nil), and then, once, runs onEmpty if the pool is closed and holds
// no instance any more.
func (p *pool) dropLocked(inst *instance) {
	empty := p.closed && p.live == 0 && !p.emptied && p.onEmpty != nil
	if empty {
		p.emptied = true
	}
	p.mu.Unlock()
	if inst != nil {
		inst.close()
	}
	if empty {
		p.onEmpty()
	}
}

// epoch anchors monotime.
var epoch = time.Now()

// monotime is a cheap monotonic clock: nanoseconds since epoch, read
// without allocating.
func monotime() int64 { return int64(time.Since(epoch)) }

// waiter is a queued caller. A grant is an idle instance, or a nil
// instance with ok=true: permission to create one.
type waiter struct {
	ch chan grant
}

type grant struct {
	inst *instance
	ok   bool
}

var waiterPool = sync.Pool{New: func() any { return &waiter{ch: make(chan grant, 1)} }}

// PoolStats is a snapshot of a pool.
type PoolStats struct {
	// Live instances (including those being created), of which Idle are
	// waiting for work and Busy serve a call (or are being created for
	// one); the rest are being created by Prewarm.
	Live, Idle, Busy int
	// Queued callers waiting for an instance.
	Queued int
	// Created, Discarded count instances over the pool's life.
	Created, Discarded uint64
	// Rejected counts calls refused because the queue was full or timed out.
	Rejected uint64
	// ColdStarts counts instances created in the call path (a call had to
	// wait for instantiation and init); Prewarmed those created ahead of
	// demand by Prewarm.
	ColdStarts, Prewarmed uint64
	// ScaleFromZero counts calls that found no live instance at all.
	ScaleFromZero uint64
	// ScaledDown counts instances closed by ScaleDown and CloseIdle;
	// LastScaleDown is when the last of them closed any (zero if never).
	ScaledDown    uint64
	LastScaleDown time.Time
	// PeakBusy is the most instances busy at once since the previous
	// Function.Observe (or since load).
	PeakBusy int
}

func newPool(max, maxQueue int, queueTimeout time.Duration, create func(context.Context) (*instance, error)) *pool {
	if maxQueue < 0 {
		maxQueue = 0
	}
	return &pool{create: create, max: max, maxQueue: maxQueue, queueTimeout: queueTimeout}
}

var errPoolClosed = event.Errorf(event.CodeUnavailable, "function is being unloaded")

// acquire returns an instance for one call.
func (p *pool) acquire(ctx context.Context) (*instance, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errPoolClosed
	}
	if n := len(p.idle); n > 0 {
		inst := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.notePeakLocked()
		p.mu.Unlock()
		return inst, nil
	}
	if p.live == 0 {
		p.stats.ScaleFromZero++
	}
	if p.live < p.max {
		p.live++
		p.notePeakLocked()
		p.mu.Unlock()
		return p.createInstance(ctx, true)
	}
	if len(p.waiters) >= p.maxQueue {
		p.stats.Rejected++
		p.mu.Unlock()
		return nil, p.busy()
	}
	w := waiterPool.Get().(*waiter)
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()

	timer := time.NewTimer(p.queueTimeout)
	defer timer.Stop()
	var g grant
	received := false
	select {
	case g = <-w.ch:
		received = true
	case <-timer.C:
	case <-ctx.Done():
	}
	if !received {
		p.mu.Lock()
		removed := p.removeWaiter(w)
		if removed {
			p.stats.Rejected++
		}
		p.mu.Unlock()
		if !removed {
			// Granted while we were giving up: take it.
			g = <-w.ch
		}
	}
	waiterPool.Put(w)
	if !g.ok {
		if err := ctx.Err(); err != nil {
			return nil, &event.Error{Code: event.CodeCanceled, Message: "caller gave up while queued", Err: err}
		}
		return nil, p.busy()
	}
	if g.inst != nil {
		return g.inst, nil
	}
	return p.createInstance(ctx, true)
}

// busyLocked is the number of instances serving (or being created for) a
// call.
func (p *pool) busyLocked() int { return p.live - len(p.idle) - p.warming }

// notePeakLocked records the busy count after an acquire.
func (p *pool) notePeakLocked() {
	if b := p.busyLocked(); b > p.peak {
		p.peak = b
	}
}

func (p *pool) busy() error {
	return &event.Error{
		Code:       event.CodeBusy,
		Message:    "every instance is busy and the wait queue is full",
		RetryAfter: time.Second,
	}
}

func (p *pool) removeWaiter(w *waiter) bool {
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// createInstance makes an instance for a slot already counted in live;
// inCall says a caller is waiting for it (a cold start).
func (p *pool) createInstance(ctx context.Context, inCall bool) (*instance, error) {
	inst, err := p.create(ctx)
	p.mu.Lock()
	if err != nil {
		p.live--
		p.handOnSlotLocked()
		p.dropLocked(nil)
		return nil, err
	}
	p.stats.Created++
	if inCall {
		p.stats.ColdStarts++
	}
	p.mu.Unlock()
	return inst, nil
}

// handOnSlotLocked gives a free slot to the first waiter, if any.
func (p *pool) handOnSlotLocked() {
	if len(p.waiters) > 0 && p.live < p.max {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.live++
		p.notePeakLocked()
		w.ch <- grant{ok: true}
	}
}

// release returns inst after a call. A broken instance is discarded and
// its slot handed on.
func (p *pool) release(inst *instance, healthy bool) {
	p.mu.Lock()
	if !healthy || p.closed {
		p.live--
		p.stats.Discarded++
		p.handOnSlotLocked()
		p.dropLocked(inst)
		return
	}
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		w.ch <- grant{inst: inst, ok: true}
		return
	}
	inst.idleSince = monotime()
	p.idle = append(p.idle, inst)
	p.mu.Unlock()
}

// prewarm creates up to n instances ahead of demand, within max, and
// returns how many it added. Each goes to a queued caller if there is one,
// else to the idle list.
func (p *pool) prewarm(ctx context.Context, n int) (int, error) {
	added := 0
	for added < n {
		if err := ctx.Err(); err != nil {
			return added, err
		}
		p.mu.Lock()
		if p.closed || p.live >= p.max {
			p.mu.Unlock()
			break
		}
		p.live++
		p.warming++
		p.mu.Unlock()
		inst, err := p.create(ctx)
		p.mu.Lock()
		p.warming--
		if err != nil {
			p.live--
			p.handOnSlotLocked()
			p.dropLocked(nil)
			return added, err
		}
		p.stats.Created++
		p.stats.Prewarmed++
		added++
		if p.closed {
			p.live--
			p.stats.Discarded++
			p.dropLocked(inst)
			break
		}
		if len(p.waiters) > 0 {
			w := p.waiters[0]
			p.waiters = p.waiters[1:]
			p.mu.Unlock()
			w.ch <- grant{inst: inst, ok: true}
			continue
		}
		inst.idleSince = monotime()
		p.idle = append(p.idle, inst)
		p.mu.Unlock()
	}
	return added, nil
}

// shrink closes idle instances beyond keep, oldest first, and returns how
// many it closed.
func (p *pool) shrink(keep int) int {
	p.mu.Lock()
	n := len(p.idle) - max(keep, 0)
	return p.closeOldestLocked(n, true)
}

// closeIdle closes up to n of the oldest idle instances that have been
// idle for at least idleFor, and returns how many it closed.
func (p *pool) closeIdle(n int, idleFor time.Duration) int {
	p.mu.Lock()
	cutoff := monotime() - int64(idleFor)
	old := 0
	for old < len(p.idle) && p.idle[old].idleSince <= cutoff {
		old++
	}
	return p.closeOldestLocked(min(n, old), true)
}

// closeOldestLocked closes the n oldest idle instances; it unlocks p.mu.
// scaling says it is a scale-down (counted in the stats), not an unload.
func (p *pool) closeOldestLocked(n int, scaling bool) int {
	n = min(n, len(p.idle))
	if n <= 0 {
		p.mu.Unlock()
		return 0
	}
	victims := make([]*instance, n)
	copy(victims, p.idle[:n])
	rest := copy(p.idle, p.idle[n:])
	// Clear the tail so that the closed instances (and their memory) are
	// not kept alive by the slice's backing array.
	clear(p.idle[rest:])
	p.idle = p.idle[:rest]
	p.live -= n
	p.stats.Discarded += uint64(n)
	if scaling {
		p.stats.ScaledDown += uint64(n)
		p.stats.LastScaleDown = time.Now()
	}
	p.mu.Unlock()
	for _, v := range victims {
		v.close()
	}
	return n
}

// close discards idle instances and refuses new calls; busy instances are
// discarded when released, and onEmpty runs after the last.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	waiters := p.waiters
	p.waiters = nil
	p.mu.Unlock()
	for _, w := range waiters {
		w.ch <- grant{} // not ok: the waiter fails with busy
	}
	p.mu.Lock()
	p.closeOldestLocked(len(p.idle), false)
	p.mu.Lock()
	p.dropLocked(nil)
}

func (p *pool) snapshot() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Live = p.live
	s.Idle = len(p.idle)
	s.Busy = p.busyLocked()
	s.Queued = len(p.waiters)
	s.PeakBusy = max(p.peak, s.Busy)
	return s
}

// observe is snapshot plus the idle ages, oldest first, appended to ages;
// it starts a new peak period at the current busy count.
func (p *pool) observe(ages []time.Duration) (PoolStats, []time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Live = p.live
	s.Idle = len(p.idle)
	s.Busy = p.busyLocked()
	s.Queued = len(p.waiters)
	s.PeakBusy = max(p.peak, s.Busy)
	p.peak = s.Busy
	now := monotime()
	for _, inst := range p.idle {
		ages = append(ages, time.Duration(now-inst.idleSince))
	}
	return s, ages
}
