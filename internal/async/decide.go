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
