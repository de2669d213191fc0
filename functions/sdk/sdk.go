// Package sdk writes baton functions in Go. A function is a handler, much
// like a net/http one, registered from an init function:
//
//	func init() { sdk.Handle(hello) }
//
//	func main() {} // never run in a reactor build; see below
//
//	func hello(w sdk.ResponseWriter, e *sdk.Event) error {
//		w.Header().Set("content-type", "text/plain")
//		_, err := w.Write([]byte("hello, " + e.Query))
//		return err
//	}
//
// Built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hello.wasm .
//
// the program is a baton reactor: the package exports baton_handle and
// talks to the host through the imports of the guest ABI (docs/abi.md).
// In that build mode the host runs package initialisation once per
// instance (the _initialize export) and never calls main, which is why the
// handler is registered from init.
//
// Built for any other target (go test, go vet), the package is a plain Go
// library: the sdktest package runs handlers in-process.
package sdk

import (
	"errors"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// Event is one invocation's input: the event data and its metadata.
//
// Data is only valid until the handler returns: the SDK reuses its buffer
// for the next invocation, so copy it (bytes.Clone) to keep it.
type Event struct {
	// Data is the event payload: the request body for HTTP events.
	Data []byte

	// Method is the HTTP method, or empty for non-HTTP events.
	Method string
	// Path is the path after /fn/{name}, starting with "/".
	Path string
	// Query is the raw query string, without "?".
	Query string
	// Header holds the request headers, keyed by lower-case name. It is
	// nil when the event has none; Header's methods accept a nil map.
	Header Header

	// ID, Source, Type, Subject and Time are the CloudEvents attributes.
	ID      string
	Source  string
	Type    string
	Subject string
	Time    time.Time

	// Function and Version name the function being run.
	Function string
	Version  int
	// InvocationID identifies this invocation; log it to correlate.
	InvocationID string
}

// ResponseWriter builds the response, as http.ResponseWriter does.
//
// Changing the Header map after the first call to WriteHeader or Write has
// no effect. The status is 200 unless WriteHeader sets another; a status
// outside 100–599 fails the invocation (invalid_status). Write never
// returns an error; a body past the function's output cap stops it
// (output_too_large).
type ResponseWriter interface {
	Header() Header
	WriteHeader(status int)
	Write(p []byte) (int, error)
}

// HandlerFunc handles one event. Returning an error fails the invocation
// with code function_error and the error's text; whatever was written is
// discarded. A panic is recovered and reported the same way, as
// "panic: …", so the instance survives it.
type HandlerFunc func(w ResponseWriter, e *Event) error

// ErrNoHandler is returned by Serve (and so reported by the function) when
// no handler was registered.
var ErrNoHandler = errors.New("sdk: no handler registered: call sdk.Handle from an init function")

var (
	handlerMu sync.Mutex
	handler   HandlerFunc
)

// Handle registers h as the function's handler. Call it from an init
// function: reactor builds never run main. A later call replaces h.
func Handle(h HandlerFunc) {
	if h == nil {
		panic("sdk: Handle called with a nil handler")
	}
	handlerMu.Lock()
	handler = h
	handlerMu.Unlock()
}

// Serve runs h, or the handler registered with Handle when h is nil, on e,
// writing to w. It recovers a panic in the handler into an error whose text
// starts with "panic: ", and logs the panic with its stack. The baton_handle
// export is Serve plus the host imports; sdktest calls it to run handlers
// natively.
func Serve(h HandlerFunc, w ResponseWriter, e *Event) (err error) {
	if h == nil {
		handlerMu.Lock()
		h = handler
		handlerMu.Unlock()
		if h == nil {
			return ErrNoHandler
		}
	}
	defer func() {
		if v := recover(); v != nil {
			msg := "panic: " + panicText(v)
			stack := make([]byte, 8<<10)
			stack = stack[:runtime.Stack(stack, false)]
			Error("handler panicked", "panic", msg, "stack", string(stack))
			err = errors.New(msg)
		}
	}()
	return h(w, e)
}

// panicText formats a recovered value without fmt, to keep wasm small.
func panicText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case error:
		return v.Error()
	case stringer:
		return v.String()
	}
	return string(appendValue(nil, v, 0))
}

// Header holds header fields, as http.Header, but keyed by lower-case
// name. Its methods lower-case the key they are given; index the map
// directly only with lower-case keys.
type Header map[string][]string

// Get returns the first value of key, or "".
func (h Header) Get(key string) string {
	if v := h[lowerKey(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns all values of key. The slice is not a copy.
func (h Header) Values(key string) []string {
	return h[lowerKey(key)]
}

// Set replaces the values of key with value.
func (h Header) Set(key, value string) {
	h[lowerKey(key)] = []string{value}
}

// Add appends value to the values of key.
func (h Header) Add(key, value string) {
	k := lowerKey(key)
	h[k] = append(h[k], value)
}

// Del removes key.
func (h Header) Del(key string) {
	delete(h, lowerKey(key))
}

// Clone returns a deep copy of h, or nil when h is nil.
func (h Header) Clone() Header {
	if h == nil {
		return nil
	}
	c := make(Header, len(h))
	for k, v := range h {
		c[k] = append([]string(nil), v...)
	}
	return c
}

// lowerKey lower-cases ASCII letters of k, allocating only when needed.
func lowerKey(k string) string {
	for i := 0; i < len(k); i++ {
		if c := k[i]; 'A' <= c && c <= 'Z' {
			b := []byte(k)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return k
}

// Level is a log level, numbered as the log import of the ABI numbers it.
type Level int

// The log levels.
const (
	LevelDebug Level = 0
	LevelInfo  Level = 1
	LevelWarn  Level = 2
	LevelError Level = 3
)

// String returns "debug", "info", "warn" or "error".
func (l Level) String() string {
	switch l {
	case LevelDebug:
		return "debug"
	case LevelInfo:
		return "info"
	case LevelWarn:
		return "warn"
	case LevelError:
		return "error"
	}
	return "level(" + strconv.Itoa(int(l)) + ")"
}

// Log writes a structured line to the server log, tagged by the host with
// the function, version and invocation id. kv are alternating keys and
// values, as in log/slog: Log(LevelInfo, "saved", "key", k, "bytes", n).
// A key that is not a string, or a value without a key, is logged under
// "!BADKEY". Values are encoded as JSON: strings, numbers, booleans,
// errors, fmt.Stringers, json.Marshalers, time values, and slices, maps
// and structs of those.
func Log(level Level, msg string, kv ...any) {
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	if len(kv) > 0 {
		b = appendFields(b, kv)
	}
	emit(level, msg, b)
	if cap(b) <= 64<<10 {
		*bp = b
		bufPool.Put(bp)
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Debug logs msg at LevelDebug; see Log.
func Debug(msg string, kv ...any) { Log(LevelDebug, msg, kv...) }

// Info logs msg at LevelInfo; see Log.
func Info(msg string, kv ...any) { Log(LevelInfo, msg, kv...) }

// Warn logs msg at LevelWarn; see Log.
func Warn(msg string, kv ...any) { Log(LevelWarn, msg, kv...) }

// Error logs msg at LevelError; see Log.
func Error(msg string, kv ...any) { Log(LevelError, msg, kv...) }
