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
}

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
	// Live instances, of which Idle are waiting for work (Busy = Live-Idle).
	Live, Idle, Busy int
	// Queued callers waiting for an instance.
	Queued int
	// Created, Discarded count instances over the pool's life.
	Created, Discarded uint64
	// Rejected counts calls refused because the queue was full or timed out.
	Rejected uint64
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
		p.mu.Unlock()
		return inst, nil
	}
	if p.live < p.max {
		p.live++
		p.mu.Unlock()
		return p.createInstance(ctx)
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
	return p.createInstance(ctx)
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

// createInstance makes an instance for a slot already counted in live.
func (p *pool) createInstance(ctx context.Context) (*instance, error) {
	inst, err := p.create(ctx)
	p.mu.Lock()
	if err != nil {
		p.live--
		p.handOnSlotLocked()
		p.mu.Unlock()
		return nil, err
	}
	p.stats.Created++
	p.mu.Unlock()
	return inst, nil
}

// handOnSlotLocked gives a free slot to the first waiter, if any.
func (p *pool) handOnSlotLocked() {
	if len(p.waiters) > 0 && p.live < p.max {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.live++
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
		p.mu.Unlock()
		inst.close()
		return
	}
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		w.ch <- grant{inst: inst, ok: true}
		return
	}
	p.idle = append(p.idle, inst)
	p.mu.Unlock()
}

// shrink closes idle instances beyond keep and returns how many it closed.
func (p *pool) shrink(keep int) int {
	p.mu.Lock()
	if keep < 0 {
		keep = 0
	}
	var victims []*instance
	if len(p.idle) > keep {
		// The oldest idle instances are at the front.
		n := len(p.idle) - keep
		victims = append(victims, p.idle[:n]...)
		p.idle = append(p.idle[:0], p.idle[n:]...)
		p.live -= n
		p.stats.Discarded += uint64(n)
	}
	p.mu.Unlock()
	for _, v := range victims {
		v.close()
	}
	return len(victims)
}

// close discards idle instances and refuses new calls; busy instances are
// discarded when released.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	waiters := p.waiters
	p.waiters = nil
	p.mu.Unlock()
	for _, w := range waiters {
		w.ch <- grant{} // not ok: the waiter fails with busy
	}
	p.shrink(0)
}

func (p *pool) snapshot() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Live = p.live
	s.Idle = len(p.idle)
	s.Busy = p.live - len(p.idle)
	s.Queued = len(p.waiters)
	return s
}
