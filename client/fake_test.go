package client_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/client"
)

// fakeServer implements the documented HTTP API (docs/http-api.md) in
// memory, to test the client's wire format. Invocations echo what the
// function would see as JSON.
type fakeServer struct {
	t     *testing.T
	token string
	url   string

	mu        sync.Mutex
	functions map[string]*client.Function
	modules   map[string][]byte // by "name:version"
	requests  []*http.Request   // every request seen, bodies consumed
	clock     time.Time
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{
		t:         t,
		token:     "s3cret",
		functions: map[string]*client.Function{},
		modules:   map[string][]byte{},
		clock:     time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"status": "ok", "node": "n1", "version": "v0.0.1"})
	})
	mux.HandleFunc("POST /api/v1/functions", f.admin(f.deploy))
	mux.HandleFunc("GET /api/v1/functions", f.admin(f.list))
	mux.HandleFunc("GET /api/v1/functions/{name}", f.admin(f.get))
	mux.HandleFunc("DELETE /api/v1/functions/{name}", f.admin(f.delete))
	mux.HandleFunc("/fn/{name}", f.invoke)
	mux.HandleFunc("/fn/{name}/{rest...}", f.invoke)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, 404, "not_found", "no route "+r.URL.Path)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r)
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fakeServer) lastRequest() *http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[len(f.requests)-1]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func (f *fakeServer) authorized(r *http.Request) bool {
	return r.Header.Get("Authorization") == "Bearer "+f.token
}

func (f *fakeServer) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !f.authorized(r) {
			writeError(w, 401, "unauthorized", "missing or wrong bearer token")
			return
		}
		h(w, r)
	}
}

func (f *fakeServer) deploy(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		writeError(w, 400, "bad_request", "not a multipart body: "+err.Error())
		return
	}
	specJSON := r.FormValue("spec")
	if specJSON == "" {
		writeError(w, 400, "bad_request", "missing part spec")
		return
	}
	var spec client.Spec
	dec := json.NewDecoder(strings.NewReader(specJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		writeError(w, 400, "bad_request", "spec: "+err.Error())
		return
	}
	if !nameRE.MatchString(spec.Name) {
		writeError(w, 400, "bad_request", fmt.Sprintf("spec.name %q must match %s", spec.Name, nameRE))
		return
	}
	file, _, err := r.FormFile("module")
	if err != nil {
		writeError(w, 400, "bad_request", "missing part module")
		return
	}
	mod, _ := io.ReadAll(file)
	if len(mod) < 4 || string(mod[:4]) != "\x00asm" {
		writeError(w, 400, "invalid_module", "not a WebAssembly module")
		return
	}
	// Defaults, as the server applies them.
	if spec.Memory == 0 {
		spec.Memory = 64
	}
	if spec.Timeout == "" {
		spec.Timeout = "5s"
	}
	if spec.Auth == "" {
		spec.Auth = "none"
	}
	sum := sha256.Sum256(mod)
	hash := hex.EncodeToString(sum[:])

	f.mu.Lock()
	defer f.mu.Unlock()
	f.clock = f.clock.Add(time.Minute)
	fn := f.functions[spec.Name]
	if fn != nil {
		last := fn.Versions[len(fn.Versions)-1]
		a, _ := json.Marshal(last.Spec)
		b, _ := json.Marshal(spec)
		if last.SHA256 == hash && string(a) == string(b) {
			writeJSON(w, 200, client.DeployResult{Name: spec.Name, Version: fn.Latest, Changed: false, SHA256: hash, Size: int64(len(mod)), Mode: "reactor"})
			return
		}
	} else {
		fn = &client.Function{Name: spec.Name, Created: f.clock}
		f.functions[spec.Name] = fn
	}
	v := client.Version{Version: fn.Latest + 1, SHA256: hash, Size: int64(len(mod)), Mode: "reactor", Spec: spec, Created: f.clock}
	fn.Versions = append(fn.Versions, v)
	fn.Latest, fn.Spec, fn.Mode, fn.SHA256, fn.Size, fn.Updated = v.Version, spec, v.Mode, hash, v.Size, f.clock
	fn.Aliases = map[string]int{"latest": v.Version}
	f.modules[spec.Name+":"+strconv.Itoa(v.Version)] = mod
	writeJSON(w, 201, client.DeployResult{Name: spec.Name, Version: v.Version, Changed: true, SHA256: hash, Size: v.Size, Mode: "reactor"})
}

func (f *fakeServer) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []*client.Function{}
	for _, fn := range f.functions {
		out = append(out, fn)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, 200, map[string]any{"functions": out})
}

func (f *fakeServer) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn := f.functions[r.PathValue("name")]
	if fn == nil {
		writeError(w, 404, "function_not_found", fmt.Sprintf("no function named %q", r.PathValue("name")))
		return
	}
	writeJSON(w, 200, fn)
}

func (f *fakeServer) delete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := r.PathValue("name")
	if f.functions[name] == nil {
		writeError(w, 404, "function_not_found", fmt.Sprintf("no function named %q", name))
		return
	}
	delete(f.functions, name)
	writeJSON(w, 200, map[string]string{"deleted": name})
}

// invoke runs the fake functions: "busy" is always busy, "teapot" answers
// its own 418, "secret" needs the token; all others echo what they got.
func (f *fakeServer) invoke(w http.ResponseWriter, r *http.Request) {
	name, version := r.PathValue("name"), 0
	if n, v, ok := strings.Cut(name, ":"); ok {
		name = n
		if v != "latest" {
			version, _ = strconv.Atoi(v)
		}
	}
	f.mu.Lock()
	fn := f.functions[name]
	f.mu.Unlock()
	if fn == nil || version > fn.Latest || version < 0 {
		writeError(w, 404, "function_not_found", fmt.Sprintf("no function named %q", r.PathValue("name")))
		return
	}
	if version == 0 {
		version = fn.Latest
	}
	if fn.Spec.Auth == "token" && !f.authorized(r) {
		writeError(w, 401, "unauthorized", "missing or wrong bearer token")
		return
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Baton-Invocation-Id", "inv-1")
	w.Header().Set("X-Baton-Version", strconv.Itoa(version))
	switch name {
	case "busy":
		w.Header().Set("Retry-After", "2")
		writeError(w, 429, "busy", "every instance busy and the queue full")
		return
	case "teapot":
		w.WriteHeader(418)
		_, _ = w.Write([]byte("short and stout\n"))
		return
	}
	rest := r.PathValue("rest")
	writeJSON(w, 200, map[string]any{
		"method": r.Method,
		"path":   "/" + rest,
		"query":  r.URL.RawQuery,
		"header": r.Header.Get("X-Test"),
		"auth":   r.Header.Get("Authorization"),
		"body":   string(body),
	})
}
