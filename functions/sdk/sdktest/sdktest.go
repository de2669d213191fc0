// Package sdktest runs sdk handlers in-process, without wasm, so that a
// function can be unit-tested with go test:
//
//	func TestHello(t *testing.T) {
//		resp, err := sdktest.Invoke(hello, sdktest.NewEvent("POST", "/", []byte(`{"name":"Ada"}`)))
//		if err != nil {
//			t.Fatal(err)
//		}
//		// resp.Status, resp.Header, resp.Body, resp.Logs
//	}
//
// Invoke follows baton's rules where they can be followed in-process:
// status and headers are fixed by the first WriteHeader or Write, a panic
// becomes an error "panic: …", a status outside 100–599 fails the call,
// and Event.Data is overwritten once the handler returns (the wasm SDK
// reuses that buffer). It does not enforce memory, time or output limits.
package sdktest

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/baton-run/baton/functions/sdk"
	"github.com/baton-run/baton/functions/sdk/internal/objstore"
	"github.com/baton-run/baton/functions/sdk/internal/sink"
)

// Response is what a handler produced.
type Response struct {
	// Status is the response status: 200 unless the handler set another.
	Status int
	// Header holds the headers as they were when the status was fixed.
	Header sdk.Header
	// Body is everything written.
	Body []byte
	// Logs are the lines the handler logged, in order.
	Logs []Log
}

// Log is one line logged through sdk.Log and its helpers.
type Log struct {
	Level sdk.Level
	Msg   string
	// Fields are the decoded key/value fields; nil when there were none.
	// Fields that are not valid JSON are kept, as the host does, as the
	// string field "fields".
	Fields map[string]any
}

// ErrInvalidStatus is returned by Invoke when the handler set a status
// outside 100–599 (in baton, the invalid_status error, which stops the
// guest at once and so takes precedence over the handler's own error).
var ErrInvalidStatus = errors.New("sdktest: invalid status")

// Poison is the byte Invoke fills the event data with once the handler
// has returned.
const Poison = 0xAA

// invokeMu serialises invocations, as an instance runs one call at a time,
// and so that each call records only its own log lines.
var invokeMu sync.Mutex

// Invoke runs h on e as baton would, and returns the response. h nil runs
// the handler registered with sdk.Handle; e nil is an empty event.
//
// A non-nil error is the function's failure: the error the handler
// returned, a recovered panic ("panic: …"), sdk.ErrNoHandler or
// ErrInvalidStatus. Baton would discard the response then; Invoke returns
// it anyway (always non-nil), for its logs.
//
// The handler gets a shallow copy of e whose Data is a copy of e.Data; e
// itself is not modified.
func Invoke(h sdk.HandlerFunc, e *sdk.Event) (*Response, error) {
	ev := sdk.Event{}
	if e != nil {
		ev = *e
	}
	data := bytes.Clone(ev.Data)
	ev.Data = data

	invokeMu.Lock()
	defer invokeMu.Unlock()
	rec := &recorder{header: make(sdk.Header)}
	restore := sink.Set(rec.log)
	err := sdk.Serve(h, rec, &ev)
	restore()

	for i := range data {
		data[i] = Poison
	}
	rec.commit()
	if rec.resp.Status < 100 || rec.resp.Status > 599 {
		// The host stops the guest at set_status: nothing after it counts.
		err = errors.Join(ErrInvalidStatus, errors.New("status "+strconv.Itoa(rec.resp.Status)))
	}
	return &rec.resp, err
}

// NewEvent returns an HTTP event for method and target (a path with an
// optional query: "/items?id=3") carrying body, with an empty Header and
// fixed test values for the other fields.
func NewEvent(method, target string, body []byte) *sdk.Event {
	path, query, _ := strings.Cut(target, "?")
	if path == "" {
		path = "/"
	}
	return &sdk.Event{
		Data:         body,
		Method:       method,
		Path:         path,
		Query:        query,
		Header:       make(sdk.Header),
		ID:           "test-event",
		Source:       "http",
		Type:         "baton.http.request",
		Subject:      "/fn/test" + path,
		Time:         time.Now().UTC(),
		Function:     "test",
		Version:      1,
		InvocationID: "test-invocation",
	}
}

// recorder is Invoke's ResponseWriter.
type recorder struct {
	mu        sync.Mutex
	header    sdk.Header
	committed bool
	resp      Response
}

var _ sdk.ResponseWriter = (*recorder)(nil)

func (r *recorder) Header() sdk.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writeHeader(status)
}

func (r *recorder) writeHeader(status int) {
	if r.committed {
		return
	}
	r.committed = true
	r.resp.Status = status
	r.resp.Header = r.header.Clone()
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writeHeader(200)
	r.resp.Body = append(r.resp.Body, p...)
	return len(p), nil
}

func (r *recorder) commit() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writeHeader(200)
}

func (r *recorder) log(level int, msg string, fields []byte) {
	l := Log{Level: sdk.Level(level), Msg: msg}
	if len(fields) > 0 {
		if err := json.Unmarshal(fields, &l.Fields); err != nil || l.Fields == nil {
			l.Fields = map[string]any{"fields": string(fields)}
		}
	}
	r.mu.Lock()
	r.resp.Logs = append(r.resp.Logs, l)
	r.mu.Unlock()
}

// PutObject stores an object in the in-memory store sdk.GetObject reads
// when a handler runs natively.
func PutObject(bucket, key string, data []byte) { objstore.Put(bucket, key, data, "") }

// Object returns what a handler stored with sdk.PutObject (natively), and
// its content type.
func Object(bucket, key string) (data []byte, contentType string, ok bool) {
	o, ok := objstore.Get(bucket, key)
	return o.Data, o.ContentType, ok
}

// ResetObjects empties the in-memory object store.
func ResetObjects() { objstore.Reset() }
