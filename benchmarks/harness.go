package main

// The harness: interleaved rounds, medians and the output line. Every
// scenario file builds on these few helpers and nothing else is shared.

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// target is the bound the compared value of a result must meet.
type target struct {
	op    string // "<=" or ">="
	value float64
}

func atMost(v float64) target  { return target{"<=", v} }
func atLeast(v float64) target { return target{">=", v} }

func (t target) String() string { return t.op + formatNum(t.value) }

// met reports whether x meets the target. NaN never does.
func (t target) met(x float64) bool {
	if t.op == ">=" {
		return x >= t.value
	}
	return x <= t.value
}

// result is one output line:
//
//	scenario=NAME baseline=X baton=Y unit=U ratio=R target=T
//
// Ratio is the value Target applies to. For most scenarios it is
// baton/baseline (for sampled sides the median of the per-round ratios,
// see pairedResult), so "<=1.3" means "at most 30% slower" and ">=0.85"
// (a throughput) means "at least 85% of the baseline". For the lines that
// compare an absolute difference (names ending in _added, and the allocs
// line) it is baton-baseline, in Unit.
type result struct {
	Scenario string  `json:"scenario"`
	Baseline float64 `json:"baseline"`
	Baton    float64 `json:"baton"`
	Unit     string  `json:"unit"`
	Ratio    float64 `json:"ratio"`
	Target   string  `json:"target"`
	Delta    bool    `json:"delta,omitempty"` // Ratio is baton-baseline
	Pass     bool    `json:"pass"`
	// Note is extra detail for the human summary (and the JSON output).
	Note string `json:"note,omitempty"`
}

// ratioResult compares baton/baseline with t.
func ratioResult(name, unit string, baseline, baton float64, t target) result {
	r := result{Scenario: name, Baseline: baseline, Baton: baton, Unit: unit, Target: t.String()}
	r.Ratio = baton / baseline
	if baseline == 0 {
		r.Ratio = math.NaN()
	}
	r.Pass = t.met(r.Ratio)
	return r
}

// deltaResult compares baton-baseline with t.
func deltaResult(name, unit string, baseline, baton float64, t target) result {
	r := result{Scenario: name, Baseline: baseline, Baton: baton, Unit: unit, Target: t.String(), Delta: true}
	r.Ratio = baton - baseline
	r.Pass = t.met(r.Ratio)
	return r
}

// line is the machine-readable form printed on stdout.
func (r result) line() string {
	return fmt.Sprintf("scenario=%s baseline=%s baton=%s unit=%s ratio=%s target=%s",
		r.Scenario, formatNum(r.Baseline), formatNum(r.Baton), r.Unit, formatNum(r.Ratio), r.Target)
}

func (r result) jsonLine() string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep "<=" readable
	err := enc.Encode(struct {
		result
		Ratio any `json:"ratio"` // NaN is not JSON: null instead
	}{r, jsonNum(r.Ratio)})
	if err != nil {
		return fmt.Sprintf(`{"scenario":%q,"error":%q}`, r.Scenario, err.Error())
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func jsonNum(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// formatNum prints v with no exponent and few digits: whole units above
// 1000, one decimal above 100, three below, trailing zeros dropped.
func formatNum(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	if math.IsInf(v, 0) {
		if v > 0 {
			return "+Inf"
		}
		return "-Inf"
	}
	prec := 3
	switch a := math.Abs(v); {
	case a >= 1000:
		prec = 0
	case a >= 100:
		prec = 1
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// percentile returns the p-th percentile (0-100) of xs by nearest rank,
// without changing xs. It is NaN for no samples.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func median(xs []float64) float64 { return percentile(xs, 50) }

// durationsPercentile is percentile for latencies, in the given unit.
func durationsPercentile(ds []time.Duration, p float64, unit time.Duration) float64 {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d) / float64(unit)
	}
	return percentile(xs, p)
}

// interleave takes n samples of each side, alternating between them in
// ABBA order (baseline, baton, baton, baseline, …) so that a machine that
// speeds up or slows down during the run affects both sides alike.
func interleave[T any](n int, baseline, baton func() (T, error)) (bs, ts []T, err error) {
	bs, ts = make([]T, 0, n), make([]T, 0, n)
	take := func(f func() (T, error), into *[]T) error {
		v, err := f()
		if err != nil {
			return err
		}
		*into = append(*into, v)
		return nil
	}
	for i := range n {
		first, second := baseline, baton
		firstInto, secondInto := &bs, &ts
		if i%2 == 1 {
			first, second = second, first
			firstInto, secondInto = secondInto, firstInto
		}
		if err := take(first, firstInto); err != nil {
			return nil, nil, err
		}
		if err := take(second, secondInto); err != nil {
			return nil, nil, err
		}
	}
	return bs, ts, nil
}

// timeBatch runs f n times and returns the mean nanoseconds per call.
func timeBatch(n int, f func() error) (float64, error) {
	start := time.Now()
	for range n {
		if err := f(); err != nil {
			return 0, err
		}
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n), nil
}

// timeOnce returns how long f took, in milliseconds.
func timeOnce(f func() error) (float64, error) {
	start := time.Now()
	err := f()
	return float64(time.Since(start).Nanoseconds()) / 1e6, err
}

// roundUp rounds v up to digits decimals, so that a target printed with
// formatNum is never stricter than the one computed.
func roundUp(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Ceil(v*p) / p
}

// pairedResult compares two sides sampled by interleave. Baseline and
// Baton are the medians of each side's samples; Ratio is the median of the
// per-round ratios baton/baseline. interleave takes each round's two
// samples back to back, so their ratio cancels what the machine was doing
// at the time, where the ratio of the two medians can pair a quiet
// baseline round with a busy baton round. The note gives the range of the
// per-round ratios (wide: a noisy run) and the ratio of the medians.
func pairedResult(name, unit string, baseline, baton []float64, t target) result {
	r := ratioResult(name, unit, median(baseline), median(baton), t)
	rs := make([]float64, 0, len(baseline))
	for i := range min(len(baseline), len(baton)) {
		if baseline[i] != 0 {
			rs = append(rs, baton[i]/baseline[i])
		}
	}
	if len(rs) == 0 {
		return r
	}
	r.Note = fmt.Sprintf("per-round ratios %s-%s, ratio of the medians %s",
		formatNum(percentile(rs, 0)), formatNum(percentile(rs, 100)), formatNum(r.Ratio))
	r.Ratio = median(rs)
	r.Pass = t.met(r.Ratio)
	return r
}

// joinNotes joins the non-empty notes with "; ".
func joinNotes(notes ...string) string {
	var out string
	for _, n := range notes {
		if n == "" {
			continue
		}
		if out != "" {
			out += "; "
		}
		out += n
	}
	return out
}
