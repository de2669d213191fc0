package natstrigger

import "time"

func timeNow() time.Time { return time.Now() }

// waitTick paces the wait for a draining subscription.
func waitTick() <-chan time.Time { return time.After(10 * time.Millisecond) }
