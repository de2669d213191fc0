package scheduler

import (
	"testing"
	"time"
)

func ages(ds ...time.Duration) []time.Duration { return ds }

func TestAutoscale(t *testing.T) {
	const timeout = time.Minute
	old, fresh := 2*timeout, timeout/2
	tests := []struct {
		name string
		s    PoolState
		want ScaleDecision
	}{
		{
			name: "empty pool, no demand, min 0: nothing",
			s:    PoolState{Max: 8, IdleTimeout: timeout},
			want: ScaleDecision{},
		},
		{
			name: "empty pool prewarmed to min",
			s:    PoolState{Min: 2, Max: 8, IdleTimeout: timeout},
			want: ScaleDecision{Target: 2, Prewarm: 2},
		},
		{
			name: "min above max is capped at max",
			s:    PoolState{Min: 5, Max: 3, IdleTimeout: timeout},
			want: ScaleDecision{Target: 3, Prewarm: 3},
		},
		{
			name: "never below min, however long idle",
			s:    PoolState{Live: 2, Idle: 2, IdleAges: ages(old, old), Min: 2, Max: 8, IdleTimeout: timeout},
			want: ScaleDecision{Target: 2},
		},
		{
			name: "idle past the timeout above min: down to min",
			s:    PoolState{Live: 3, Idle: 3, IdleAges: ages(old, old, old), Min: 1, Max: 8, IdleTimeout: timeout},
			want: ScaleDecision{Target: 1, Close: 2},
		},
		{
			name: "no traffic for the timeout, min 0: scale to zero",
			s:    PoolState{Live: 4, Idle: 4, IdleAges: ages(old, old, old, timeout), Max: 8, IdleTimeout: timeout},
			want: ScaleDecision{Target: 0, Close: 4},
		},
		{
			name: "idle but not yet past the timeout: kept",
			s:    PoolState{Live: 2, Idle: 2, IdleAges: ages(fresh, fresh), Max: 8, IdleTimeout: timeout},
			want: ScaleDecision{Target: 0},
		},
		{
			name: "only those past the timeout close, oldest first",
			s:    PoolState{Live: 3, Idle: 3, IdleAges: ages(old, fresh, fresh), Max: 8, IdleTimeout: timeout},
			want: ScaleDecision{Target: 0, Close: 1},
		},
		{
			name: "one recent call keeps one spare (ceil 25%)",
			s:    PoolState{Live: 1, Idle: 1, IdleAges: ages(fresh), Peak: 1, Max: 8, IdleTimeout: timeout},
			want: ScaleDecision{Target: 2, Prewarm: 1},
		},
		{
			name: "busy now counts as demand",
			s:    PoolState{Live: 4, Busy: 4, Max: 8, IdleTimeout: timeout},
			want: ScaleDecision{Target: 5, Prewarm: 1},
		},
		{
			name: "recent peak of 8 keeps 2 spares",
			s:    PoolState{Live: 8, Idle: 8, IdleAges: ages(old, old, old, old, old, old, old, old), Peak: 8, Max: 16, IdleTimeout: timeout},
			want: ScaleDecision{Target: 10, Prewarm: 2},
		},
		{
			name: "headroom is capped at max",
			s:    PoolState{Live: 8, Busy: 8, Peak: 8, Max: 8, IdleTimeout: timeout},
			want: ScaleDecision{Target: 8},
		},
		{
			name: "queued calls count as demand",
			s:    PoolState{Live: 2, Busy: 2, Queued: 6, Max: 16, IdleTimeout: timeout},
			want: ScaleDecision{Target: 10, Prewarm: 8},
		},
		{
			name: "peak fell: idle beyond demand+headroom close once past the timeout",
			s:    PoolState{Live: 10, Busy: 2, Idle: 8, IdleAges: ages(old, old, old, old, old, old, fresh, fresh), Peak: 2, Max: 16, IdleTimeout: timeout},
			want: ScaleDecision{Target: 3, Close: 6},
		},
		{
			name: "busy instances are never closed",
			s:    PoolState{Live: 5, Busy: 4, Idle: 1, IdleAges: ages(old), Max: 8, IdleTimeout: timeout},
			want: ScaleDecision{Target: 5},
		},
		{
			name: "more ages than idle instances (raced): close at most Idle",
			s:    PoolState{Live: 2, Idle: 1, Busy: 1, IdleAges: ages(old, old), Max: 8, IdleTimeout: timeout},
			want: ScaleDecision{Target: 2},
		},
		{
			name: "max 0 (unloading): close everything idle past the timeout",
			s:    PoolState{Live: 1, Idle: 1, IdleAges: ages(old), Min: 1, Peak: 3, IdleTimeout: timeout},
			want: ScaleDecision{Target: 0, Close: 1},
		},
		{
			name: "negative inputs are treated as zero",
			s:    PoolState{Min: -1, Max: 4, Peak: -3, IdleTimeout: timeout},
			want: ScaleDecision{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Autoscale(tt.s); got != tt.want {
				t.Fatalf("Autoscale(%+v)\n got %+v\nwant %+v", tt.s, got, tt.want)
			}
		})
	}
}

// TestAutoscaleInvariants checks, over a grid of states, that a decision
// never goes below min or above max, never both prewarms and closes, and
// never closes more than the idle instances past their timeout.
func TestAutoscaleInvariants(t *testing.T) {
	const timeout = time.Second
	for maxI := 0; maxI <= 6; maxI++ {
		for minI := 0; minI <= maxI; minI++ {
			for busy := 0; busy <= maxI; busy++ {
				for idle := 0; busy+idle <= maxI; idle++ {
					for oldIdle := 0; oldIdle <= idle; oldIdle++ {
						for peak := 0; peak <= 8; peak++ {
							var a []time.Duration
							for i := 0; i < idle; i++ {
								if i < oldIdle {
									a = append(a, 2*timeout)
								} else {
									a = append(a, timeout/2)
								}
							}
							s := PoolState{Live: busy + idle, Idle: idle, Busy: busy, IdleAges: a, Peak: peak, Min: minI, Max: maxI, IdleTimeout: timeout}
							d := Autoscale(s)
							after := s.Live + d.Prewarm - d.Close
							switch {
							case d.Prewarm < 0 || d.Close < 0 || (d.Prewarm > 0 && d.Close > 0):
								t.Fatalf("%+v: bad decision %+v", s, d)
							case d.Close > oldIdle:
								t.Fatalf("%+v: closes %d, only %d are past the timeout", s, d.Close, oldIdle)
							case after > maxI:
								t.Fatalf("%+v: %+v leaves %d live, above max", s, d, after)
							case d.Close > 0 && after < minI:
								t.Fatalf("%+v: %+v leaves %d live, below min", s, d, after)
							case d.Prewarm > 0 && after != d.Target:
								t.Fatalf("%+v: %+v does not reach the target", s, d)
							case peak == 0 && minI == 0 && oldIdle == idle && busy == 0 && after != 0:
								t.Fatalf("%+v: %+v does not scale to zero", s, d)
							}
						}
					}
				}
			}
		}
	}
}

func TestPeakWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	const window = 10 * time.Second
	steps := []struct {
		at, peak, want int
	}{
		{0, 3, 3},
		{1, 0, 3},
		{2, 5, 5},
		{3, 1, 5},
		{11, 0, 5}, // the 5 at 2s is within 10s of 11s
		{12, 2, 2}, // 2s is now 10s ago: forgotten; 3s (1) and 12s (2) remain
		{13, 0, 2},
		{30, 0, 0}, // everything older than 10s forgotten
		{31, 4, 4},
	}
	var w PeakWindow
	for _, s := range steps {
		if got := w.Add(at(s.at), s.peak, window); got != s.want {
			t.Fatalf("at %ds, peak %d: window max = %d, want %d", s.at, s.peak, got, s.want)
		}
		if len(w.samples) > 3 {
			t.Fatalf("at %ds the window keeps %d samples: %v", s.at, len(w.samples), w.samples)
		}
	}
}
