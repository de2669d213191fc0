package async

import (
	"time"

	"github.com/baton-run/baton/event"
)

// MaxBackoff caps the delay before a retry.
const MaxBackoff = 15 * time.Minute

// Decision is what to do with an invocation after a failed attempt.
type Decision struct {
	// Retry is true when another attempt runs after Delay; false means
	// dead-letter now.
	Retry bool
	Delay time.Duration
	// Reason says why there is no retry ("" when there is one).
	Reason string
}

// permanent lists the codes no retry can fix.
var permanent = map[event.Code]bool{
	event.CodeFunctionNotFound: true,
	event.CodeInputTooLarge:    true,
	event.CodeBadRequest:       true,
	event.CodeUnauthorized:     true,
}

// Decide is the retry decision after attempt n (1-based, counted within
// the current run: attempts since the last redrive) failed with code,
// under policy p. jitter is a random number in [0, 1): the delay is the
// exponential backoff Backoff·2^(n-1), capped at MaxBackoff, with its upper
// half randomised ("equal jitter"), so retries of many invocations that
// failed together spread out.
func Decide(n int, code event.Code, p Policy, jitter float64) Decision {
	switch {
	case permanent[code]:
		return Decision{Reason: "error " + string(code) + " is permanent"}
	case n > p.MaxRetries:
		return Decision{Reason: "no retries left"}
	}
	return Decision{Retry: true, Delay: Backoff(n, p.Backoff, jitter)}
}

// Backoff is the delay before the retry that follows attempt n.
func Backoff(n int, base time.Duration, jitter float64) time.Duration {
	d := base
	for i := 1; i < n && d < MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, MaxBackoff)
	half := d / 2
	return half + time.Duration(jitter*float64(d-half))
}

// A delivery that finds its function busy (every instance busy and the
// wait queue full, on this node and on the peer it was offered to) is not
// an attempt: the job goes back to the queue after a short delay
// (RATIONALE.md "Why is busy not an attempt?").
const (
	// BusyMinDelay is the shortest wait after a busy answer.
	BusyMinDelay = 200 * time.Millisecond
	// BusyMaxDelay caps the wait after a busy answer.
	BusyMaxDelay = time.Second
	// DefaultMaxBusyWait bounds how long an attempt waits for a free
	// instance: once the function has been busy this long since the last
	// attempt ran, a busy answer counts as a failed attempt (code busy).
	DefaultMaxBusyWait = time.Hour
)

// BusyDecision is what to do with an invocation whose function was busy.
type BusyDecision struct {
	// Wait is true when the busy answer is not an attempt: the invocation
	// is queued again after Delay. False means it counts as a failed
	// attempt with code busy, and [Decide] takes over.
	Wait  bool
	Delay time.Duration
}

// DecideBusy is the decision after a delivery found its function busy.
// streak is the number of busy answers in a row before this one (since the
// last attempt that ran, within the current run), waited how long ago the
// first of them came (0 when streak is 0), maxWait the bound on that wait.
// jitter is a random number in [0, 1): the delay is BusyMinDelay plus a
// random part of a window that doubles with the streak, from 200ms up to
// BusyMaxDelay (so 200–400ms, then 200–800ms, then 200ms–1s), so
// invocations that bounced together spread out.
func DecideBusy(streak int, waited, maxWait time.Duration, jitter float64) BusyDecision {
	if streak > 0 && waited >= maxWait {
		return BusyDecision{}
	}
	hi := BusyMaxDelay
	if streak < 3 {
		hi = min(BusyMinDelay<<(streak+1), BusyMaxDelay)
	}
	return BusyDecision{Wait: true, Delay: BusyMinDelay + time.Duration(jitter*float64(hi-BusyMinDelay))}
}

// AttemptNumber is the number, within the current run, of the attempt a
// delivery makes: the deliveries of the run less those that found the
// function busy (at least 1).
func AttemptNumber(delivered, busy int) int {
	return max(delivered-busy, 1)
}
