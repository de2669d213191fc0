package main

// Tests of the harness (formatting, statistics, round order) and of the
// benchmark setups themselves: both sides of a scenario must do the same
// work. Nothing here is timed or runs a scenario's measurement.

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/baton-run/baton/internal/testutil"
)

func TestResultLine(t *testing.T) {
	tests := []struct {
		name string
		r    result
		want string
		pass bool
	}{
		{
			name: "ratio within an upper bound",
			r:    ratioResult("scale_from_zero", "ms", 2.5, 3, atMost(1.3)),
			want: "scenario=scale_from_zero baseline=2.5 baton=3 unit=ms ratio=1.2 target=<=1.3",
			pass: true,
		},
		{
			name: "throughput below its lower bound",
			r:    ratioResult("http_warm_rps", "req/s", 20000, 16000, atLeast(0.85)),
			want: "scenario=http_warm_rps baseline=20000 baton=16000 unit=req/s ratio=0.8 target=>=0.85",
			pass: false,
		},
		{
			name: "delta: ratio holds baton-baseline",
			r:    deltaResult("warm_invoke_64B_added", "ns", 612.34, 1105.5, atMost(1000)),
			want: "scenario=warm_invoke_64B_added baseline=612.3 baton=1106 unit=ns ratio=493.2 target=<=1000",
			pass: true,
		},
		{
			name: "added allocations",
			r:    deltaResult("warm_invoke_allocs", "allocs/op", 3, 5, atMost(0)),
			want: "scenario=warm_invoke_allocs baseline=3 baton=5 unit=allocs/op ratio=2 target=<=0",
			pass: false,
		},
		{
			name: "zero baseline has no ratio",
			r:    ratioResult("x", "bytes", 0, 10, atMost(1.15)),
			want: "scenario=x baseline=0 baton=10 unit=bytes ratio=NaN target=<=1.15",
			pass: false,
		},
	}
	lineRE := regexp.MustCompile(`^scenario=\S+ baseline=\S+ baton=\S+ unit=\S+ ratio=\S+ target=(<=|>=)\S+$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.r.line()
			if got != tt.want {
				t.Errorf("line()\n got %s\nwant %s", got, tt.want)
			}
			if !lineRE.MatchString(got) {
				t.Errorf("line %q is not in the documented format", got)
			}
			if tt.r.Pass != tt.pass {
				t.Errorf("Pass = %v, want %v", tt.r.Pass, tt.pass)
			}
		})
	}
}

func TestJSONLine(t *testing.T) {
	for _, r := range []result{
		ratioResult("a", "ms", 2, 3, atMost(1.2)),
		ratioResult("b", "ms", 0, 3, atMost(1.2)),
	} {
		var got map[string]any
		if err := json.Unmarshal([]byte(r.jsonLine()), &got); err != nil {
			t.Fatalf("jsonLine %s: %v", r.jsonLine(), err)
		}
		if got["scenario"] != r.Scenario || got["target"] != "<=1.2" || got["unit"] != "ms" {
			t.Errorf("jsonLine = %s", r.jsonLine())
		}
		if strings.Contains(r.jsonLine(), `\u003c`) || strings.Contains(r.jsonLine(), "\n") {
			t.Errorf("jsonLine %q escapes its target or is not one line", r.jsonLine())
		}
		if math.IsNaN(r.Ratio) && got["ratio"] != nil {
			t.Errorf("NaN ratio encoded as %v, want null", got["ratio"])
		}
	}
}

func TestFormatNum(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {1, "1"}, {0.85, "0.85"}, {1.2345, "1.234"}, {1.2346, "1.235"},
		{99.99, "99.99"}, {123.45, "123.5"}, {999.94, "999.9"}, {1000, "1000"},
		{15678.4, "15678"}, {3982049, "3982049"}, {-0.0001, "0"}, {-2.5, "-2.5"},
		{math.NaN(), "NaN"}, {math.Inf(1), "+Inf"},
	}
	for _, tt := range tests {
		if got := formatNum(tt.in); got != tt.want {
			t.Errorf("formatNum(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	tests := []struct {
		p    float64
		want float64
	}{{0, 1}, {20, 1}, {50, 3}, {90, 5}, {99, 5}, {100, 5}}
	for _, tt := range tests {
		if got := percentile(xs, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", xs, tt.p, got, tt.want)
		}
	}
	if xs[0] != 5 {
		t.Error("percentile reordered its input")
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2 {
		t.Errorf("median of 4 samples = %v, want the lower middle, 2", got)
	}
}

func TestInterleaveABBA(t *testing.T) {
	var order strings.Builder
	n := 0
	side := func(name string) func() (int, error) {
		return func() (int, error) {
			order.WriteString(name)
			n++
			return n, nil
		}
	}
	bs, ts, err := interleave(4, side("B"), side("T"))
	if err != nil {
		t.Fatal(err)
	}
	if got := order.String(); got != "BTTBBTTB" {
		t.Errorf("order %s, want BTTBBTTB", got)
	}
	if len(bs) != 4 || len(ts) != 4 || bs[0] != 1 || ts[0] != 2 || ts[1] != 3 || bs[1] != 4 {
		t.Errorf("samples: baseline %v, baton %v", bs, ts)
	}
}

func TestPairedResult(t *testing.T) {
	// Round 2 pairs a fast baseline with a slow baton sample: the ratio of
	// the medians (30/20 = 1.5) misses the target, the per-round ratios
	// (1.1, 1.5, 1) have median 1.1.
	r := pairedResult("p", "ms", []float64{10, 20, 40}, []float64{11, 30, 40}, atMost(1.2))
	if r.Baseline != 20 || r.Baton != 30 || r.Ratio != 1.1 || !r.Pass {
		t.Errorf("pairedResult = %+v", r)
	}
	if want := "per-round ratios 1-1.5, ratio of the medians 1.5"; r.Note != want {
		t.Errorf("note %q, want %q", r.Note, want)
	}
	if want := "scenario=p baseline=20 baton=30 unit=ms ratio=1.1 target=<=1.2"; r.line() != want {
		t.Errorf("line %q, want %q", r.line(), want)
	}
	if got := joinNotes("a", "", "b"); got != "a; b" {
		t.Errorf("joinNotes = %q", got)
	}
}

func TestRoundUp(t *testing.T) {
	if got := roundUp(2.5121, 3); got != 2.513 {
		t.Errorf("roundUp(2.5121, 3) = %v", got)
	}
	if got := roundUp(2.5, 3); got != 2.5 {
		t.Errorf("roundUp(2.5, 3) = %v", got)
	}
}

func TestRunFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"nothing selected", []string{"-only", "^no-such-scenario$"}, 0},
		{"bad regexp", []string{"-only", "("}, 2},
		{"unknown flag", []string{"-nope"}, 2},
		{"stray argument", []string{"warm"}, 2},
		{"bad duration", []string{"-duration", "0s"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &stderr); code != tt.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tt.code, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q, want nothing", stdout.String())
			}
		})
	}
}

func TestScenarioNames(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range scenarios {
		for _, l := range s.lines {
			if seen[l] {
				t.Errorf("line name %s used twice", l)
			}
			seen[l] = true
		}
	}
	if !scenarios[0].matches(regexp.MustCompile("allocs")) {
		t.Error("-only does not match a line name")
	}
}

// The two sides of warm_invoke_64B echo the same 64 bytes.
func TestWarmInvokeSidesAgree(t *testing.T) {
	w, err := newWarmInvoke(context.Background(), echo64(t)) // checks the echo
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if len(w.payload) != 64 {
		t.Errorf("payload is %d bytes, want 64", len(w.payload))
	}
}

// The two sides of scale_from_zero run the Go guest to the same response:
// the raw host's metadata matches what runtime/ gives the guest.
func TestStartupSidesAgree(t *testing.T) {
	ctx := context.Background()
	name, wasm := goGuest(t)
	s, err := newScaleFromZero(ctx, name, wasm, testutil.CacheDir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close(ctx)
	if _, err := s.raw(ctx); err != nil {
		t.Fatalf("raw: %v", err)
	}
	if _, err := s.baton(ctx); err != nil {
		t.Fatalf("baton: %v", err)
	}
	if len(s.resp.Body) == 0 || !bytes.Equal(s.resp.Body, s.host.out) {
		t.Errorf("responses differ: baton %q, raw %q", s.resp.Body, s.host.out)
	}
}
