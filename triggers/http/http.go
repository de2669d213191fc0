// Package httptrigger is the http trigger kind: custom routes (a method
// and a path pattern with {param} wildcards, net/http.ServeMux syntax)
// served by the node's HTTP listener beyond /fn/{name}. Path parameters
// reach the function as request headers X-Baton-Param-<name> (metadata
// key header.x-baton-param-<name>, docs/abi.md).
//
// [Table] is the node's route table: the server serves it as the fallback
// of its own routes and hands it to the triggers as their Env.Routes.
package httptrigger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nuid"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/triggers"
)

// Kind is the name of this kind.
const Kind = "http"

// ParamHeader prefixes the request header that carries a path parameter.
const ParamHeader = "X-Baton-Param-"

// MaxBody caps the body a route reads; the function's own input limit
// (maxInputBytes) applies below it.
const MaxBody = 32 << 20

// Methods a route may use; "ANY" (or empty) matches them all.
var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// Reserved path prefixes belong to baton's own endpoints.
var reserved = []string{"/fn/", "/api/", "/chains/", "/healthz"}

func init() { triggers.Register(Kind, newTrigger) }

var _ triggers.Trigger = (*trigger)(nil)

type trigger struct {
	spec    triggers.Spec
	pattern string
	params  []string

	mu     sync.Mutex
	remove func()
	env    triggers.Env
}

func newTrigger(spec triggers.Spec) (triggers.Trigger, error) {
	if err := spec.Only("method", "path"); err != nil {
		return nil, err
	}
	pattern, params, err := Pattern(spec.Method, spec.Path)
	if err != nil {
		return nil, err
	}
	return &trigger{spec: spec, pattern: pattern, params: params}, nil
}

// Pattern checks a route and returns its ServeMux pattern and the names of
// its path parameters. Errors are *triggers.FieldError naming method or
// path.
func Pattern(method, path string) (pattern string, params []string, err error) {
	m := strings.ToUpper(strings.TrimSpace(method))
	if m == "ANY" || m == "*" {
		m = ""
	}
	if m != "" && !contains(methods, m) {
		return "", nil, triggers.Errorf("method", "%q is not one of %s or ANY", method, strings.Join(methods, ", "))
	}
	switch {
	case path == "":
		return "", nil, triggers.Errorf("path", "required, e.g. /orders/{id}")
	case path[0] != '/':
		return "", nil, triggers.Errorf("path", "%q must start with /", path)
	case len(path) > 1024:
		return "", nil, triggers.Errorf("path", "longer than 1024 bytes")
	case strings.ContainsAny(path, " \t\r\n?#%"):
		return "", nil, triggers.Errorf("path", "%q has a space, ?, # or %% (write the path as it reads, unescaped)", path)
	}
	for _, p := range reserved {
		if strings.HasPrefix(path, p) || path+"/" == p {
			return "", nil, triggers.Errorf("path", "%q is under %s, which baton serves itself", path, p)
		}
	}
	pattern = path
	if m != "" {
		pattern = m + " " + path
	}
	params, err = paramNames(path)
	if err != nil {
		return "", nil, err
	}
	// ServeMux is the judge of the syntax: it panics on what it rejects.
	if err := tryPattern(pattern); err != nil {
		return "", nil, triggers.Errorf("path", "%q: %v", path, err)
	}
	return pattern, params, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// paramNames returns the wildcard names of path ("{id}", "{rest...}").
func paramNames(path string) ([]string, error) {
	var names []string
	for rest := path; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, triggers.Errorf("path", "%q: unclosed {", path)
		}
		name := strings.TrimSuffix(rest[i+1:i+j], "...")
		if name != "$" {
			if contains(names, name) {
				return nil, triggers.Errorf("path", "%q: parameter {%s} appears twice", path, name)
			}
			names = append(names, name)
		}
		rest = rest[i+j+1:]
	}
	return names, nil
}

func tryPattern(pattern string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprint(r)
			if strings.HasPrefix(msg, "parsing ") { // "parsing "GET /x": at offset 5: …"
				if i := strings.Index(msg, ": "); i >= 0 {
					msg = msg[i+2:]
				}
			}
			err = errors.New(msg)
		}
	}()
	http.NewServeMux().Handle(pattern, http.NotFoundHandler())
	return nil
}

func (t *trigger) Start(_ context.Context, env triggers.Env) error {
	if env.Routes == nil || env.Invoke == nil {
		return errors.New("http trigger: the node serves no custom routes")
	}
	remove, err := env.Routes.Handle(t.pattern, http.HandlerFunc(t.serve))
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.env, t.remove = env, remove
	t.mu.Unlock()
	return nil
}

func (t *trigger) Stop(context.Context) error {
	t.mu.Lock()
	remove := t.remove
	t.remove = nil
	t.mu.Unlock()
	if remove != nil {
		remove()
	}
	return nil
}

func (t *trigger) serve(w http.ResponseWriter, r *http.Request) {
	t.mu.Lock()
	env := t.env
	t.mu.Unlock()
	if env.Authorize != nil {
		if err := env.Authorize(r, t.spec.Function); err != nil {
			if event.CodeOf(err) == event.CodeUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="baton"`)
			}
			WriteError(w, err)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			WriteError(w, event.Errorf(event.CodeInputTooLarge, "body is more than %d bytes", MaxBody))
			return
		}
		WriteError(w, event.Errorf(event.CodeBadRequest, "reading body: %v", err))
		return
	}
	header := r.Header.Clone()
	header.Del("Authorization") // the admin token is for baton, never for guest code
	for k := range header {
		if strings.HasPrefix(k, ParamHeader) {
			delete(header, k) // only baton sets these
		}
	}
	for _, p := range t.params {
		header.Set(ParamHeader+p, r.PathValue(p))
	}
	header.Set("X-Baton-Trigger", t.spec.ID)
	id := nuid.Next()
	ev := &event.Event{
		ID:           id,
		Source:       "http",
		Type:         "baton.http.request",
		Subject:      r.URL.Path,
		Time:         time.Now(),
		Method:       r.Method,
		Path:         r.URL.Path,
		Query:        r.URL.RawQuery,
		Header:       header,
		Data:         body,
		InvocationID: id,
	}
	resp, err := env.Invoke(r.Context(), t.spec.Function, ev)
	h := w.Header()
	h.Set("X-Baton-Invocation-Id", id)
	if err != nil {
		if event.CodeOf(err) == event.CodeInternal {
			env.Logger.Error("invocation failed", "invocation_id", id, "err", err)
		}
		WriteError(w, err)
		return
	}
	for _, hf := range resp.Header {
		h.Add(hf.Key, hf.Value)
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp.Body)
}

// WriteError answers err as baton's JSON error body (docs/http-api.md).
func WriteError(w http.ResponseWriter, err error) {
	var e *event.Error
	if !errors.As(err, &e) {
		e = &event.Error{Code: event.CodeInternal, Message: err.Error()}
	}
	msg := e.Message
	if msg == "" {
		msg = err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Code.HTTPStatus())
	fmt.Fprintf(w, "{\n  \"error\": {\n    \"code\": %q,\n    \"message\": %s\n  }\n}\n", e.Code, strconv.Quote(msg))
}

// Table is a node's table of custom routes. It implements triggers.Routes
// and serves the routes; what no route matches goes to NotFound. The zero
// value is not usable: use NewTable.
type Table struct {
	// NotFound answers requests that no route matches.
	NotFound http.Handler

	mu     sync.Mutex
	routes map[string]*entry // pattern → entry
	next   int
	mux    atomic.Pointer[http.ServeMux]
}

type entry struct {
	id int
	h  http.Handler
}

// NewTable returns an empty table answering unmatched requests with
// notFound.
func NewTable(notFound http.Handler) *Table {
	t := &Table{NotFound: notFound, routes: map[string]*entry{}}
	t.mux.Store(http.NewServeMux())
	return t
}

// Handle adds a route. A pattern that is already served, or that
// conflicts with one (net/http's rules: two patterns matching the same
// requests with neither more specific), is an error.
func (t *Table) Handle(pattern string, h http.Handler) (func(), error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.routes[pattern]; dup {
		return nil, fmt.Errorf("route %q is already served by another trigger", pattern)
	}
	t.next++
	e := &entry{id: t.next, h: h}
	t.routes[pattern] = e
	if err := t.rebuild(); err != nil {
		delete(t.routes, pattern)
		_ = t.rebuild()
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			if cur := t.routes[pattern]; cur == e {
				delete(t.routes, pattern)
				_ = t.rebuild()
			}
		})
	}, nil
}

// rebuild makes a new mux of the routes; mu is held.
func (t *Table) rebuild() (err error) {
	mux := http.NewServeMux()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("route conflicts with another trigger's: %v", r)
		}
	}()
	for p, e := range t.routes {
		mux.Handle(p, e.h)
	}
	t.mux.Store(mux)
	return nil
}

// Len is the number of routes.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.routes)
}

// ServeHTTP serves r by the route matching it, or NotFound; a path that
// routes serve with other methods is answered 405.
func (t *Table) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mux := t.mux.Load()
	if _, pattern := mux.Handler(r); pattern != "" {
		mux.ServeHTTP(w, r)
		return
	}
	var allowed []string
	for _, m := range methods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := mux.Handler(probe); p != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		WriteError(w, event.Errorf(event.CodeMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path))
		return
	}
	t.NotFound.ServeHTTP(w, r)
}
