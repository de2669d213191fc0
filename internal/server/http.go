package server

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nuid"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/internal/registry"
)

// maxModuleBytes caps an uploaded module.
const maxModuleBytes = 256 << 20

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/fn/{fn}", s.handleInvoke)
	mux.HandleFunc("/fn/{fn}/{rest...}", s.handleInvoke)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.Handle("GET /api/v1/status", s.admin(s.handleStatus))
	mux.Handle("GET /api/v1/functions", s.admin(s.handleList))
	mux.Handle("POST /api/v1/functions", s.admin(s.handleDeploy))
	mux.Handle("GET /api/v1/functions/{name}", s.admin(s.handleGet))
	mux.Handle("DELETE /api/v1/functions/{name}", s.admin(s.handleDelete))
	mux.Handle("GET /api/v1/functions/{name}/versions", s.admin(s.handleVersions))
	mux.Handle("GET /api/v1/functions/{name}/aliases", s.admin(s.handleAliases))
	mux.Handle("PUT /api/v1/functions/{name}/aliases/{alias}", s.admin(s.handleSetAlias))
	mux.Handle("DELETE /api/v1/functions/{name}/aliases/{alias}", s.admin(s.handleDeleteAlias))
	mux.Handle("POST /api/v1/functions/{name}/rollback", s.admin(s.handleRollback))
	mux.Handle("GET /api/v1/nodes", s.admin(s.handleNodes))
	s.asyncRoutes(mux)
	s.chainRoutes(mux)
	s.triggerRoutes(mux)
	// What no route above matches: the custom routes of http triggers.
	mux.HandleFunc("/", s.serveFallback)
	return mux
}

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Error struct {
		Code    event.Code `json:"code"`
		Message string     `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	var e *event.Error
	if !errors.As(err, &e) {
		e = &event.Error{Code: event.CodeInternal, Message: err.Error()}
	}
	var body errorBody
	body.Error.Code = e.Code
	body.Error.Message = e.Message
	if body.Error.Message == "" {
		body.Error.Message = err.Error()
	}
	if e.Code == event.CodeBusy {
		secs := int(e.RetryAfter / time.Second)
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	writeJSON(w, e.Code.HTTPStatus(), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.token)) == 1
}

var errUnauthorized = event.Errorf(event.CodeUnauthorized, "missing or wrong bearer token (see <data-dir>/token)")

func (s *Server) admin(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="baton"`)
			writeError(w, errUnauthorized)
			return
		}
		h(w, r)
	})
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	status, code := "ok", http.StatusOK
	if !s.ready.Load() || s.nc == nil || !s.nc.IsConnected() {
		status, code = "unavailable", http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]string{"status": status, "node": s.nodeID, "version": Version})
}

var (
	respPool = sync.Pool{New: func() any { return new(event.Response) }}
	evPool   = sync.Pool{New: func() any { return new(event.Event) }}
)

func (s *Server) handleInvoke(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead:
	default:
		w.Header().Set("Allow", "GET, POST, PUT, DELETE, PATCH, HEAD")
		writeError(w, event.Errorf(event.CodeMethodNotAllowed, "method %s is not allowed", r.Method))
		return
	}
	ref := r.PathValue("fn")
	fn, v, err := s.lookup(ref)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, qual, _ := strings.Cut(ref, ":"); fn.NeedsToken(qual) && !s.authorized(r) {
		writeError(w, errUnauthorized)
		return
	}
	limit := v.Spec.Limits().MaxInputBytes
	runAsync := wantsAsync(r)
	if runAsync {
		limit = s.asyncLimit(limit)
	}
	if r.ContentLength > int64(limit) {
		writeError(w, event.Errorf(event.CodeInputTooLarge, "body is %d bytes, more than the %d %s allows", r.ContentLength, limit, fn.Name))
		return
	}
	var body []byte
	var readErr error
	if r.ContentLength != 0 { // a request without a body (most GETs) reads nothing
		body, readErr = io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
	}
	if err := readErr; err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, event.Errorf(event.CodeInputTooLarge, "body is more than the %d bytes %s allows", limit, fn.Name))
			return
		}
		writeError(w, event.Errorf(event.CodeBadRequest, "reading body: %v", err))
		return
	}
	if runAsync {
		s.submitAsync(w, r, ref, body)
		return
	}
	f, err := s.function(r.Context(), fn.Name, v)
	if err != nil {
		writeError(w, err)
		return
	}
	header := r.Header
	if header.Get("Authorization") != "" {
		// The admin token is for baton, never for guest code.
		header = header.Clone()
		header.Del("Authorization")
	}
	id := nuid.Next()
	// The request path past /fn/{fn}: "/" and the rest (a slice of the
	// path, not a new string, when the rest is there).
	path := "/"
	if rest := r.PathValue("rest"); rest != "" && strings.HasSuffix(r.URL.Path, "/"+rest) {
		path = r.URL.Path[len(r.URL.Path)-len(rest)-1:]
	} else if rest != "" {
		path = "/" + rest
	}
	evp := evPool.Get().(*event.Event)
	defer func() { *evp = event.Event{}; evPool.Put(evp) }()
	*evp = event.Event{
		ID:           id,
		Source:       "http",
		Type:         "baton.http.request",
		Subject:      r.URL.Path,
		Time:         time.Now(),
		Method:       r.Method,
		Path:         path,
		Query:        r.URL.RawQuery,
		Header:       header,
		Data:         body,
		InvocationID: id,
	}
	ev := evp
	resp := respPool.Get().(*event.Response)
	defer respPool.Put(resp)
	h := w.Header()
	h.Set("X-Baton-Invocation-Id", id)
	h.Set("X-Baton-Version", strconv.Itoa(v.Version))
	if err := f.Invoke(r.Context(), ev, resp); err != nil {
		if errors.Is(err, event.ErrBusy) && s.peers() != nil {
			// Every local instance is busy: let a peer serve it.
			if s.forward(w, r.Context(), fn.Name+":"+strconv.Itoa(v.Version), ev, v.Spec.Limits()) {
				return
			}
		}
		if event.CodeOf(err) == event.CodeInternal {
			s.log.Error("invocation failed", "function", fn.Name, "version", v.Version, "invocation_id", id, "err", err)
		}
		writeError(w, err)
		return
	}
	for _, hf := range resp.Header {
		h.Add(hf.Key, hf.Value)
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
	if cap(resp.Body) > 1<<20 {
		resp.Body = nil // do not keep huge buffers in the pool
	}
}

// functionView is the API's view of a function (docs/http-api.md).
type functionView struct {
	Name     string                 `json:"name"`
	Latest   int                    `json:"latest"`
	Aliases  map[string]int         `json:"aliases"`
	Weights  map[string]map[int]int `json:"weights,omitempty"`
	Spec     registry.Spec          `json:"spec"`
	Mode     string                 `json:"mode"`
	SHA256   string                 `json:"sha256"`
	Size     int64                  `json:"size"`
	Created  time.Time              `json:"created"`
	Updated  time.Time              `json:"updated"`
	Versions []registry.Version     `json:"versions"`
}

func view(fn *registry.Function) functionView {
	v := functionView{Name: fn.Name, Latest: fn.Latest, Aliases: fn.Aliases, Weights: fn.Weights, Created: fn.Created, Updated: fn.Updated, Versions: fn.Versions}
	if cur := fn.Version(fn.Latest); cur != nil {
		v.Spec, v.Mode, v.SHA256, v.Size = cur.Spec, cur.Mode, cur.SHA256, cur.Size
	}
	return v
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	fns, err := s.reg.List(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]functionView, 0, len(fns))
	for _, fn := range fns {
		out = append(out, view(fn))
	}
	writeJSON(w, http.StatusOK, map[string]any{"functions": out})
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	fn, err := s.reg.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, view(fn))
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.reg.Delete(r.Context(), name); err != nil {
		writeError(w, err)
		return
	}
	s.onChange(registry.Change{Name: name})
	writeJSON(w, http.StatusOK, map[string]string{"deleted": name})
}

type deployResult struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Changed bool   `json:"changed"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	Mode    string `json:"mode"`
}

func (s *Server) handleDeploy(w http.ResponseWriter, r *http.Request) {
	spec, module, err := readDeploy(r)
	if err != nil {
		writeError(w, err)
		return
	}
	d, err := s.deploy(r.Context(), spec, module)
	if err != nil {
		writeError(w, err)
		return
	}
	status := http.StatusOK
	if d.Changed {
		status = http.StatusCreated
		s.log.Info("function deployed", "function", spec.Name, "version", d.Version.Version, "sha256", d.Version.SHA256[:12], "mode", d.Version.Mode)
	}
	writeJSON(w, status, deployResult{Name: d.Function.Name, Version: d.Version.Version, Changed: d.Changed, SHA256: d.Version.SHA256, Size: d.Version.Size, Mode: d.Version.Mode})
}

func badRequest(format string, args ...any) error {
	return event.Errorf(event.CodeBadRequest, format, args...)
}

// readDeploy reads the spec and module parts of a deploy request.
func readDeploy(r *http.Request) (registry.Spec, []byte, error) {
	var spec registry.Spec
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return spec, nil, badRequest("deploy needs a multipart/form-data body with parts \"spec\" and \"module\"")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return spec, nil, badRequest("reading multipart body: %v", err)
	}
	var module []byte
	haveSpec := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return spec, nil, badRequest("reading multipart body: %v", err)
		}
		switch part.FormName() {
		case "spec":
			dec := json.NewDecoder(io.LimitReader(part, 1<<20))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&spec); err != nil {
				return spec, nil, badRequest("spec: %v", jsonError(err))
			}
			haveSpec = true
		case "module":
			module, err = io.ReadAll(io.LimitReader(part, maxModuleBytes+1))
			if err != nil {
				return spec, nil, badRequest("reading module: %v", err)
			}
			if len(module) > maxModuleBytes {
				return spec, nil, event.Errorf(event.CodeInputTooLarge, "module is larger than %d MiB", maxModuleBytes>>20)
			}
		}
		_ = part.Close()
	}
	switch {
	case !haveSpec:
		return spec, nil, badRequest("missing part \"spec\"")
	case module == nil:
		return spec, nil, badRequest("missing part \"module\"")
	case len(module) == 0:
		return spec, nil, event.Errorf(event.CodeInvalidModule, "module is empty")
	}
	return spec, module, nil
}

// jsonError names the field a JSON decoding error is about.
func jsonError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if registry.IsDuration(te.Type) {
			return fmt.Sprintf("%s: %s is not a duration (write a number with a unit, such as \"5s\" or \"250ms\")", te.Field, te.Value)
		}
		return fmt.Sprintf("field %q: expected %s, got %s", te.Field, te.Type, te.Value)
	}
	if strings.HasPrefix(err.Error(), "json: unknown field") {
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return err.Error()
}
