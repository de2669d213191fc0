package async

import (
	"testing"
	"time"

	"github.com/baton-run/baton/event"
)

func TestDecide(t *testing.T) {
	p := Policy{MaxRetries: 2, Backoff: time.Second}
	tests := []struct {
		name   string
		n      int
		code   event.Code
		p      Policy
		jitter float64
		want   Decision
	}{
		{"first failure retries after base/2 with no jitter", 1, event.CodeFunctionError, p, 0, Decision{Retry: true, Delay: 500 * time.Millisecond}},
		{"first failure, full jitter", 1, event.CodeFunctionError, p, 0.999999999, Decision{Retry: true, Delay: time.Second - 1}},
		{"second failure doubles", 2, event.CodeTimeout, p, 0, Decision{Retry: true, Delay: time.Second}},
		{"last attempt dead", 3, event.CodeFunctionError, p, 0, Decision{Reason: "no retries left"}},
		{"no retries", 1, event.CodeFunctionTrap, Policy{MaxRetries: 0, Backoff: time.Second}, 0, Decision{Reason: "no retries left"}},
		{"permanent error", 1, event.CodeFunctionNotFound, p, 0, Decision{Reason: "error function_not_found is permanent"}},
		{"input too large is permanent", 1, event.CodeInputTooLarge, p, 0.5, Decision{Reason: "error input_too_large is permanent"}},
		{"busy retries", 1, event.CodeBusy, p, 0.5, Decision{Retry: true, Delay: 750 * time.Millisecond}},
		{"capped", 40, event.CodeFunctionError, Policy{MaxRetries: 100, Backoff: time.Minute}, 0, Decision{Retry: true, Delay: MaxBackoff / 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.n, tt.code, tt.p, tt.jitter); got != tt.want {
				t.Fatalf("Decide(%d, %s, %+v, %v) = %+v, want %+v", tt.n, tt.code, tt.p, tt.jitter, got, tt.want)
			}
		})
	}
}

func TestBackoffGrowsAndStaysInBounds(t *testing.T) {
	base := 100 * time.Millisecond
	prevMax := time.Duration(0)
	for n := 1; n <= 30; n++ {
		lo, hi := Backoff(n, base, 0), Backoff(n, base, 0.9999999)
		if lo > hi || hi > MaxBackoff || lo < prevMax/2 {
			t.Fatalf("attempt %d: delay range [%s, %s] (previous max %s)", n, lo, hi, prevMax)
		}
		prevMax = hi
	}
}

func TestDecideBusy(t *testing.T) {
	const almost = 0.999999999
	tests := []struct {
		name    string
		streak  int
		waited  time.Duration
		maxWait time.Duration
		jitter  float64
		want    BusyDecision
	}{
		{"first busy waits at least the minimum", 0, 0, time.Hour, 0, BusyDecision{Wait: true, Delay: 200 * time.Millisecond}},
		{"first busy, full jitter", 0, 0, time.Hour, almost, BusyDecision{Wait: true, Delay: 400*time.Millisecond - 1}},
		{"second busy, window doubles", 1, 300 * time.Millisecond, time.Hour, 0.5, BusyDecision{Wait: true, Delay: 500 * time.Millisecond}},
		{"third busy, capped window", 2, time.Second, time.Hour, almost, BusyDecision{Wait: true, Delay: time.Second - 1}},
		{"long streak stays within the cap", 5000, 59 * time.Minute, time.Hour, almost, BusyDecision{Wait: true, Delay: time.Second - 1}},
		{"long streak, no jitter", 5000, 59 * time.Minute, time.Hour, 0, BusyDecision{Wait: true, Delay: 200 * time.Millisecond}},
		{"busy for the whole bound counts as an attempt", 4000, time.Hour, time.Hour, 0.5, BusyDecision{}},
		{"busy past the bound counts as an attempt", 10, 2 * time.Hour, time.Hour, 0, BusyDecision{}},
		{"a first busy answer always waits", 0, 0, 0, 0, BusyDecision{Wait: true, Delay: 200 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DecideBusy(tt.streak, tt.waited, tt.maxWait, tt.jitter); got != tt.want {
				t.Fatalf("DecideBusy(%d, %s, %s, %v) = %+v, want %+v", tt.streak, tt.waited, tt.maxWait, tt.jitter, got, tt.want)
			}
		})
	}
}

func TestAttemptNumber(t *testing.T) {
	tests := []struct {
		name                  string
		delivered, busy, want int
	}{
		{"first delivery", 1, 0, 1},
		{"third delivery, no busy", 3, 0, 3},
		{"after two busy answers", 3, 2, 1},
		{"busy answers between attempts", 7, 4, 3},
		{"never below one", 2, 5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AttemptNumber(tt.delivered, tt.busy); got != tt.want {
				t.Fatalf("AttemptNumber(%d, %d) = %d, want %d", tt.delivered, tt.busy, got, tt.want)
			}
		})
	}
}
