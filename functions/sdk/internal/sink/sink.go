// Package sink is where the sdk's log lines go when a function runs
// natively (go test) instead of in baton. It is shared by sdk, which
// writes to it, and sdktest, which records from it.
package sink

import (
	"os"
	"strconv"
	"sync"
)

// Func receives one log line: its level (0 debug … 3 error), message and
// fields (a JSON object, or empty).
type Func func(level int, msg string, fields []byte)

var (
	mu  sync.RWMutex
	cur Func = Stderr
)

// Emit sends a line to the current sink.
func Emit(level int, msg string, fields []byte) {
	mu.RLock()
	f := cur
	mu.RUnlock()
	f(level, msg, fields)
}

// Set makes f the sink and returns a function that restores the previous
// one.
func Set(f Func) (restore func()) {
	mu.Lock()
	prev := cur
	cur = f
	mu.Unlock()
	return func() {
		mu.Lock()
		cur = prev
		mu.Unlock()
	}
}

var levels = [...]string{"DEBUG", "INFO", "WARN", "ERROR"}

// Stderr is the default sink: one line per call on standard error,
// "LEVEL msg fields".
func Stderr(level int, msg string, fields []byte) {
	name := "LEVEL(" + strconv.Itoa(level) + ")"
	if level >= 0 && level < len(levels) {
		name = levels[level]
	}
	line := make([]byte, 0, len(name)+len(msg)+len(fields)+3)
	line = append(line, name...)
	line = append(line, ' ')
	line = strconv.AppendQuote(line, msg)
	if len(fields) > 0 {
		line = append(line, ' ')
		line = append(line, fields...)
	}
	line = append(line, '\n')
	os.Stderr.Write(line)
}
