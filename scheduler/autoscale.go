// Package scheduler holds baton's scheduling decisions as pure functions
// of observed state, apart from the plumbing that applies them (STYLE.md
// §2). The chain (ASL) engine lives in scheduler/asl.
package scheduler

import "time"

// HeadroomPercent is the idle headroom kept per recent busy instance: with
// a recent peak of P concurrent calls the scaler keeps ceil(P*25%) spare
// instances beyond it, so that a burst does not pay the init cost on
// every request.
const HeadroomPercent = 25

// PoolState is what was observed of one function version's pool on one
// node.
type PoolState struct {
	// Live instances, of which Idle wait for work and Busy serve a call.
	Live, Idle, Busy int
	// Queued calls wait for an instance.
	Queued int
	// IdleAges says how long each idle instance has been idle, longest
	// first.
	IdleAges []time.Duration
	// Peak is the most instances busy at once over the recent window
	// (see PeakWindow).
	Peak int
	// Min and Max bound the instances (the spec's minInstances and
	// maxInstances).
	Min, Max int
	// IdleTimeout is how long an instance may stay idle before it is
	// closed, unless it is needed to keep Min or the headroom.
	IdleTimeout time.Duration
}

// ScaleDecision is what to do to a pool.
type ScaleDecision struct {
	// Target is the number of live instances the pool should have.
	Target int
	// Prewarm is how many instances to create now, ahead of demand.
	Prewarm int
	// Close is how many idle instances to close, those idle longest first;
	// each has been idle for at least IdleTimeout.
	Close int
}

// Autoscale decides how a pool should change. The target is the recent
// demand (the larger of Peak and Busy+Queued) plus HeadroomPercent of it
// rounded up, within Min and Max. Below the target the pool is prewarmed;
// above it, idle instances past their IdleTimeout are closed, oldest first,
// down to the target. With no demand for a whole window and Min 0 the
// target is zero: the pool scales to zero once its instances have been
// idle for IdleTimeout.
func Autoscale(s PoolState) ScaleDecision {
	hi := max(s.Max, 0)
	lo := min(max(s.Min, 0), hi)
	demand := max(s.Peak, s.Busy+s.Queued, 0)
	spares := (demand*HeadroomPercent + 99) / 100
	d := ScaleDecision{Target: min(max(demand+spares, lo), hi)}
	switch {
	case s.Live < d.Target:
		d.Prewarm = d.Target - s.Live
	case s.Live > d.Target:
		old := 0
		for _, age := range s.IdleAges {
			if age >= s.IdleTimeout {
				old++
			}
		}
		d.Close = min(s.Live-d.Target, old, s.Idle)
	}
	return d
}

// PeakWindow is the running maximum of peak samples over a sliding window
// of time. The zero value is empty and ready; it is not safe for
// concurrent use. It keeps only the samples that can still become the
// maximum (a decreasing sequence), so it stays small.
type PeakWindow struct {
	samples []peakSample // peaks strictly decreasing, times increasing
}

type peakSample struct {
	at   time.Time
	peak int
}

// Add records the peak observed at now and returns the largest peak
// recorded within window before now (now included): samples at or before
// now-window are forgotten.
func (w *PeakWindow) Add(now time.Time, peak int, window time.Duration) int {
	// A sample no larger than the new one can never be the maximum again.
	for n := len(w.samples); n > 0 && w.samples[n-1].peak <= peak; n-- {
		w.samples = w.samples[:n-1]
	}
	w.samples = append(w.samples, peakSample{at: now, peak: peak})
	cutoff := now.Add(-window)
	drop := 0
	for drop < len(w.samples)-1 && !w.samples[drop].at.After(cutoff) {
		drop++
	}
	if drop > 0 {
		n := copy(w.samples, w.samples[drop:])
		clear(w.samples[n:])
		w.samples = w.samples[:n]
	}
	return w.samples[0].peak
}
