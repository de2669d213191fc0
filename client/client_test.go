package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baton-run/baton/client"
)

// wasm is the smallest valid module header; the fake server only checks
// the magic number.
var wasm = []byte("\x00asm\x01\x00\x00\x00")

func newClient(t *testing.T, f *fakeServer, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(f.url, f.token, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNew(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{name: "url", in: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{name: "bare host port", in: "127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{name: "trailing slash", in: "https://baton.example.com/", want: "https://baton.example.com"},
		{name: "prefix", in: "https://example.com/baton/", want: "https://example.com/baton"},
		{name: "empty", in: " ", err: "empty server URL"},
		{name: "scheme", in: "ftp://x", err: "scheme must be http or https"},
		{name: "no host", in: "http://", err: "has no host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := client.New(tt.in, "")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("New(%q) error = %v, want it to contain %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.BaseURL(); got != tt.want {
				t.Errorf("BaseURL() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSpecJSONFieldNames(t *testing.T) {
	spec := client.Spec{
		Name: "hello", Memory: 64, Timeout: "5s", MaxInstances: 8, MaxQueue: -1,
		QueueTimeout: "10s", MaxInputBytes: 6 << 20, MaxOutputBytes: 6 << 20,
		Env: map[string]string{"GREETING": "Hello"}, Auth: "none",
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"auth", "env", "maxInputBytes", "maxInstances", "maxOutputBytes", "maxQueue", "memory", "name", "queueTimeout", "timeout"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("spec JSON keys = %v, want %v", keys, want)
	}
	if m["maxQueue"] != -1.0 {
		t.Errorf("maxQueue = %v, want -1", m["maxQueue"])
	}
	b, _ = json.Marshal(client.Spec{Name: "hello"})
	if string(b) != `{"name":"hello"}` {
		t.Errorf("a spec with only a name encodes as %s, want only the name", b)
	}
}

func TestDeployWireFormat(t *testing.T) {
	f := newFakeServer(t)
	c := newClient(t, f)
	ctx := context.Background()

	spec := client.Spec{Name: "hello", Env: map[string]string{"GREETING": "Hi"}}
	res, err := c.Deploy(ctx, spec, strings.NewReader(string(wasm)))
	if err != nil {
		t.Fatal(err)
	}
	want := client.DeployResult{Name: "hello", Version: 1, Changed: true, SHA256: res.SHA256, Size: int64(len(wasm)), Mode: "reactor"}
	if *res != want || len(res.SHA256) != 64 {
		t.Errorf("Deploy = %+v, want %+v", *res, want)
	}

	// Inspect the request as the server saw it.
	r := f.lastRequest()
	if got := r.Header.Get("Authorization"); got != "Bearer s3cret" {
		t.Errorf("Authorization = %q", got)
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		t.Errorf("Content-Type = %q, want multipart/form-data", mt)
	}
	specPart := r.MultipartForm.Value["spec"]
	if len(specPart) != 1 || specPart[0] != `{"name":"hello","env":{"GREETING":"Hi"}}` {
		t.Errorf("spec part = %q", specPart)
	}
	files := r.MultipartForm.File["module"]
	if len(files) != 1 || files[0].Size != int64(len(wasm)) || files[0].Filename != "hello.wasm" {
		t.Fatalf("module part = %+v", files)
	}

	// Same bytes and spec: unchanged.
	res, err = c.Deploy(ctx, spec, strings.NewReader(string(wasm)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed || res.Version != 1 {
		t.Errorf("redeploy of the same module = %+v, want unchanged version 1", *res)
	}
	// New bytes: version 2.
	res, err = c.Deploy(ctx, spec, strings.NewReader(string(wasm)+"\x00"))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Version != 2 {
		t.Errorf("deploy of new bytes = %+v, want changed version 2", *res)
	}
}

func TestDeployPartsOrder(t *testing.T) {
	// The spec part comes first so that a server can validate it before
	// reading a large module.
	var names []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mr, err := r.MultipartReader()
		if err != nil {
			t.Error(err)
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			names = append(names, p.FormName())
		}
		writeJSON(w, 201, client.DeployResult{Name: "x", Version: 1, Changed: true})
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, "t")
	if _, err := c.Deploy(context.Background(), client.Spec{Name: "x"}, strings.NewReader("\x00asm")); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(names, []string{"spec", "module"}) {
		t.Errorf("parts = %v, want [spec module]", names)
	}
}

func TestListGetDelete(t *testing.T) {
	f := newFakeServer(t)
	c := newClient(t, f)
	ctx := context.Background()

	fns, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fns == nil || len(fns) != 0 {
		t.Errorf("List on an empty server = %#v, want an empty non-nil slice", fns)
	}
	for _, name := range []string{"zeta", "alpha"} {
		if _, err := c.Deploy(ctx, client.Spec{Name: name}, strings.NewReader(string(wasm))); err != nil {
			t.Fatal(err)
		}
	}
	fns, err = c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 2 || fns[0].Name != "alpha" || fns[1].Name != "zeta" {
		t.Fatalf("List = %+v", fns)
	}

	fn, err := c.Get(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if fn.Latest != 1 || fn.Spec.Memory != 64 || fn.Size != int64(len(wasm)) || len(fn.Versions) != 1 ||
		fn.Versions[0].Version != 1 || fn.Aliases["latest"] != 1 || fn.Updated.IsZero() {
		t.Errorf("Get = %+v", fn)
	}

	if err := c.Delete(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "alpha"); !client.IsNotFound(err) {
		t.Errorf("Get after Delete: err = %v, want not found", err)
	}
	err = c.Delete(ctx, "alpha")
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("Delete of a missing function: err = %v, want *APIError", err)
	}
	want := client.APIError{Status: 404, Code: "function_not_found", Message: `no function named "alpha"`}
	if *apiErr != want {
		t.Errorf("APIError = %+v, want %+v", *apiErr, want)
	}
	if got := apiErr.Error(); got != `function_not_found: no function named "alpha"` {
		t.Errorf("Error() = %q", got)
	}
}

func TestErrors(t *testing.T) {
	f := newFakeServer(t)
	ctx := context.Background()
	good := newClient(t, f)
	bad, _ := client.New(f.url, "wrong")
	elsewhere, _ := client.New(f.url+"/nope", f.token)

	tests := []struct {
		name     string
		call     func() error
		sentinel error
		code     string
		status   int
		message  string
	}{
		{
			name:     "wrong token",
			call:     func() error { _, err := bad.List(ctx); return err },
			sentinel: client.ErrUnauthorized, code: "unauthorized", status: 401,
		},
		{
			name: "invalid module",
			call: func() error {
				_, err := good.Deploy(ctx, client.Spec{Name: "x"}, strings.NewReader("MZ"))
				return err
			},
			sentinel: client.ErrBadRequest, code: "invalid_module", status: 400,
		},
		{
			name: "bad name",
			call: func() error {
				_, err := good.Deploy(ctx, client.Spec{Name: "Bad_Name"}, strings.NewReader(string(wasm)))
				return err
			},
			sentinel: client.ErrBadRequest, code: "bad_request", status: 400, message: "spec.name",
		},
		{
			name:     "no route",
			call:     func() error { _, err := elsewhere.List(ctx); return err },
			sentinel: client.ErrNotFound, code: "not_found", status: 404, message: "/nope/api/v1/functions",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want *APIError", err)
			}
			if apiErr.Status != tt.status {
				t.Errorf("Status = %d, want %d", apiErr.Status, tt.status)
			}
			if apiErr.Code != tt.code {
				t.Errorf("Code = %q, want %q", apiErr.Code, tt.code)
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.sentinel)
			}
			if !strings.Contains(apiErr.Message, tt.message) {
				t.Errorf("Message = %q, want it to contain %q", apiErr.Message, tt.message)
			}
		})
	}
}

func TestAPIErrorIs(t *testing.T) {
	sentinels := []error{client.ErrNotFound, client.ErrUnauthorized, client.ErrBadRequest, client.ErrBusy,
		client.ErrTimeout, client.ErrUnavailable, client.ErrFunction}
	tests := []struct {
		code string
		want error // nil: matches none
	}{
		{"function_not_found", client.ErrNotFound},
		{"not_found", client.ErrNotFound},
		{"unauthorized", client.ErrUnauthorized},
		{"bad_request", client.ErrBadRequest},
		{"invalid_module", client.ErrBadRequest},
		{"busy", client.ErrBusy},
		{"timeout", client.ErrTimeout},
		{"unavailable", client.ErrUnavailable},
		{"function_error", client.ErrFunction},
		{"function_trap", client.ErrFunction},
		{"memory_limit", client.ErrFunction},
		{"output_too_large", client.ErrFunction},
		{"invalid_status", client.ErrFunction},
		{"internal", nil},
		{"", nil},
	}
	for _, tt := range tests {
		err := error(&client.APIError{Status: 500, Code: tt.code})
		for _, s := range sentinels {
			if got := errors.Is(err, s); got != (s == tt.want) {
				t.Errorf("errors.Is(code %q, %v) = %v", tt.code, s, got)
			}
		}
	}
	if got := (&client.APIError{Status: 418, Message: "I'm a teapot"}).Error(); got != "418 I'm a teapot" {
		t.Errorf("Error() without code = %q", got)
	}
}

func TestInvoke(t *testing.T) {
	f := newFakeServer(t)
	c := newClient(t, f)
	ctx := context.Background()
	for _, spec := range []client.Spec{{Name: "echo"}, {Name: "secret", Auth: "token"}, {Name: "busy"}, {Name: "teapot"}} {
		if _, err := c.Deploy(ctx, spec, strings.NewReader(string(wasm))); err != nil {
			t.Fatal(err)
		}
	}
	type echo struct {
		Method, Path, Query, Header, Auth, Body string
	}
	tests := []struct {
		name    string
		fn      string
		req     client.InvokeRequest
		want    echo
		version int
	}{
		{name: "get by default", fn: "echo", want: echo{Method: "GET", Path: "/"}, version: 1},
		{name: "post when body", fn: "echo", req: client.InvokeRequest{Body: []byte(`{"name":"Ada"}`)},
			want: echo{Method: "POST", Path: "/", Body: `{"name":"Ada"}`}, version: 1},
		{name: "everything", fn: "echo:1", req: client.InvokeRequest{
			Method: "put", Path: "users/a b", Query: url.Values{"q": {"x y"}},
			Header: http.Header{"X-Test": {"yes"}}, Body: []byte("hi"),
		}, want: echo{Method: "PUT", Path: "/users/a b", Query: "q=x+y", Header: "yes", Body: "hi"}, version: 1},
		{name: "latest alias", fn: "echo:latest", req: client.InvokeRequest{Path: "/"},
			want: echo{Method: "GET", Path: "/"}, version: 1},
		{name: "token only when needed", fn: "secret",
			want: echo{Method: "GET", Path: "/", Auth: "Bearer s3cret"}, version: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.Invoke(ctx, tt.fn, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var got echo
			if err := json.Unmarshal(resp.Body, &got); err != nil {
				t.Fatalf("body %q: %v", resp.Body, err)
			}
			if got != tt.want {
				t.Errorf("function saw %+v, want %+v", got, tt.want)
			}
			if resp.Status != 200 || resp.InvocationID != "inv-1" || resp.Version != tt.version ||
				resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("response = %d %q version %d header %v", resp.Status, resp.InvocationID, resp.Version, resp.Header)
			}
		})
	}

	t.Run("public function never sees the token", func(t *testing.T) {
		if _, err := c.Invoke(ctx, "echo", client.InvokeRequest{}); err != nil {
			t.Fatal(err)
		}
		if got := f.lastRequest().Header.Get("Authorization"); got != "" {
			t.Errorf("Authorization sent to a public function: %q", got)
		}
	})
	t.Run("busy", func(t *testing.T) {
		resp, err := c.Invoke(ctx, "busy", client.InvokeRequest{})
		var apiErr *client.APIError
		if !errors.As(err, &apiErr) || !errors.Is(err, client.ErrBusy) {
			t.Fatalf("err = %v, want busy", err)
		}
		if apiErr.RetryAfter != 2*time.Second || resp == nil || resp.Status != 429 {
			t.Errorf("RetryAfter = %v, resp = %+v", apiErr.RetryAfter, resp)
		}
	})
	t.Run("function's own status", func(t *testing.T) {
		resp, err := c.Invoke(ctx, "teapot", client.InvokeRequest{})
		var apiErr *client.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != "" || apiErr.Status != 418 {
			t.Fatalf("err = %#v, want an APIError without code", err)
		}
		if string(resp.Body) != "short and stout\n" {
			t.Errorf("body = %q", resp.Body)
		}
	})
	t.Run("not found", func(t *testing.T) {
		_, err := c.Invoke(ctx, "nope", client.InvokeRequest{})
		if !client.IsNotFound(err) {
			t.Errorf("err = %v, want not found", err)
		}
		_, err = c.Invoke(ctx, "echo:9", client.InvokeRequest{})
		if !client.IsNotFound(err) {
			t.Errorf("err = %v, want not found", err)
		}
	})
	t.Run("no token", func(t *testing.T) {
		anon, _ := client.New(f.url, "")
		_, err := anon.Invoke(ctx, "secret", client.InvokeRequest{})
		if !errors.Is(err, client.ErrUnauthorized) {
			t.Errorf("err = %v, want unauthorized", err)
		}
	})
}

func TestHealth(t *testing.T) {
	f := newFakeServer(t)
	h, err := newClient(t, f).Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if *h != (client.Health{Status: "ok", Node: "n1", Version: "v0.0.1"}) {
		t.Errorf("Health = %+v", *h)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 503, map[string]string{"status": "starting", "node": "n1"})
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, "")
	h, err = c.Health(context.Background())
	if !errors.Is(err, client.ErrUnavailable) || h == nil || h.Status != "starting" {
		t.Errorf("Health of a starting node = %+v, %v", h, err)
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	c, _ := client.New(addr, "")
	_, err := c.List(context.Background())
	var uerr *url.Error
	if !errors.As(err, &uerr) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err = %v, want a *url.Error with ECONNREFUSED", err)
	}
}

func TestDefaultDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, "", client.WithTimeout(50*time.Millisecond))
	_, err := c.Invoke(context.Background(), "slow", client.InvokeRequest{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
}

func TestUserAgentAndPrefix(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		_, _ = io.WriteString(w, `{"functions":[]}`)
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL+"/baton/", "", client.WithUserAgent("test/1"))
	if _, err := c.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got.URL.Path != "/baton/api/v1/functions" || got.UserAgent() != "test/1" {
		t.Errorf("request = %s %q", got.URL.Path, got.UserAgent())
	}
}

func TestDataDirAndToken(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("BATON_DATA_DIR", "")
	if got, want := client.DefaultDataDir(), filepath.Join(home, ".baton"); got != want {
		t.Errorf("DefaultDataDir() = %q, want %q", got, want)
	}
	dir := t.TempDir()
	t.Setenv("BATON_DATA_DIR", dir)
	if got := client.DefaultDataDir(); got != dir {
		t.Errorf("DefaultDataDir() with BATON_DATA_DIR = %q, want %q", got, dir)
	}

	if _, err := client.ReadToken(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadToken of a missing file: err = %v, want fs.ErrNotExist", err)
	}
	if err := os.WriteFile(filepath.Join(dir, client.TokenFile), []byte(" abc123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := client.ReadToken(dir)
	if err != nil || tok != "abc123" {
		t.Errorf("ReadToken = %q, %v, want abc123", tok, err)
	}
	if err := os.WriteFile(filepath.Join(dir, client.TokenFile), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ReadToken(dir); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("ReadToken of an empty file: err = %v", err)
	}
}
