package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baton-run/baton/client"
	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/testutil"
)

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
	url, token := realNode(t)
	rec := &recorder{}
	c := newClient(t, url, token, client.WithHTTPClient(&http.Client{Transport: rec}))
	ctx := context.Background()
	mod := testutil.Module(t, "ping")

	spec := client.Spec{Name: "hello", Env: map[string]string{"GREETING": "Hi"}}
	res := mustDeploy(t, c, spec, mod)
	sum := sha256.Sum256(mod)
	want := client.DeployResult{Name: "hello", Version: 1, Changed: true, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(mod)), Mode: "reactor"}
	if *res != want {
		t.Errorf("Deploy = %+v, want %+v", *res, want)
	}

	// On the wire: one multipart POST with the token, the spec part first
	// (so that a server can check it before reading a large module) holding
	// only the fields set, then the module as a file.
	reqs := rec.take()
	if len(reqs) != 1 || reqs[0].method != "POST" || reqs[0].path != "/api/v1/functions" {
		t.Fatalf("requests = %+v, want one POST /api/v1/functions", reqs)
	}
	r := reqs[0]
	if got := r.header.Get("Authorization"); got != "Bearer "+token {
		t.Errorf("Authorization = %q", got)
	}
	mt, params, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		t.Fatalf("Content-Type = %q, want multipart/form-data", mt)
	}
	mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
	var names []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		names = append(names, p.FormName())
		switch p.FormName() {
		case "spec":
			if string(b) != `{"name":"hello","env":{"GREETING":"Hi"}}` {
				t.Errorf("spec part = %s", b)
			}
		case "module":
			if p.FileName() != "hello.wasm" || !bytes.Equal(b, mod) {
				t.Errorf("module part: file name %q, %d bytes", p.FileName(), len(b))
			}
		}
	}
	if !reflect.DeepEqual(names, []string{"spec", "module"}) {
		t.Errorf("parts = %v, want [spec module]", names)
	}

	// The node took the spec: it stored it, with its defaults.
	fn, err := c.Get(ctx, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fn.Spec.Env, spec.Env) || fn.Spec.Memory != 64 || fn.Spec.Auth != "none" {
		t.Errorf("stored spec = %+v", fn.Spec)
	}

	// Same bytes and spec: unchanged.
	res = mustDeploy(t, c, spec, mod)
	if res.Changed || res.Version != 1 {
		t.Errorf("redeploy of the same module = %+v, want unchanged version 1", *res)
	}
	// New bytes: version 2.
	res = mustDeploy(t, c, spec, withCustomSection(mod, []byte("v2")))
	if !res.Changed || res.Version != 2 || res.SHA256 == want.SHA256 {
		t.Errorf("deploy of new bytes = %+v, want changed version 2", *res)
	}
}

func TestListGetDelete(t *testing.T) {
	url, token := realNode(t)
	c := newClient(t, url, token)
	ctx := context.Background()
	mod := testutil.Module(t, "ping")

	fns, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fns == nil || len(fns) != 0 {
		t.Errorf("List on an empty server = %#v, want an empty non-nil slice", fns)
	}
	for _, name := range []string{"zeta", "alpha"} {
		mustDeploy(t, c, client.Spec{Name: name}, mod)
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
	if fn.Latest != 1 || fn.Spec.Memory != 64 || fn.Size != int64(len(mod)) || len(fn.Versions) != 1 ||
		fn.Versions[0].Version != 1 || fn.Versions[0].Spec.Name != "alpha" || fn.Mode != "reactor" ||
		fn.Created.IsZero() || fn.Updated.Before(fn.Created) {
		t.Errorf("Get = %+v", fn)
	}

	if err := c.Delete(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "alpha"); !client.IsNotFound(err) {
		t.Errorf("Get after Delete: err = %v, want not found", err)
	}
	if fns, _ := c.List(ctx); len(fns) != 1 || fns[0].Name != "zeta" {
		t.Errorf("List after Delete = %+v, want only zeta", fns)
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
	url, token := realNode(t)
	ctx := context.Background()
	good := newClient(t, url, token)
	bad := newClient(t, url, "wrong")
	elsewhere := newClient(t, url+"/nope", token)
	mod := testutil.Module(t, "ping")

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
			sentinel: client.ErrUnauthorized, code: "unauthorized", status: 401, message: "bearer token",
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
				_, err := good.Deploy(ctx, client.Spec{Name: "Bad_Name"}, bytes.NewReader(mod))
				return err
			},
			sentinel: client.ErrBadRequest, code: "bad_request", status: 400, message: `"Bad_Name"`,
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

// metaView is what testdata/meta answers to an empty body: the metadata
// the guest saw (docs/abi.md, "Metadata JSON").
type metaView struct {
	Method, Path, Query string
	Headers             map[string][]string
	Function            string
	Version             int
	InvocationID        string `json:"invocation_id"`
}

func TestInvoke(t *testing.T) {
	base, token := realNode(t)
	rec := &recorder{}
	c := newClient(t, base, token, client.WithHTTPClient(&http.Client{Transport: rec}))
	ctx := context.Background()
	meta, identity := testutil.Module(t, "testdata/meta"), testutil.Module(t, "testdata/identity")
	mustDeploy(t, c, client.Spec{Name: "meta"}, meta)
	mustDeploy(t, c, client.Spec{Name: "identity"}, identity)
	mustDeploy(t, c, client.Spec{Name: "secret", Auth: "token"}, meta)
	mustDeploy(t, c, client.Spec{Name: "hello"}, testutil.Module(t, "hello"))
	mustDeploy(t, c, client.Spec{Name: "loop", Timeout: "5s", MaxInstances: 1, MaxQueue: -1}, testutil.Module(t, "testdata/loop"))
	rec.take()

	tests := []struct {
		name string
		fn   string
		req  client.InvokeRequest
		want metaView // Headers: only these are checked
	}{
		{name: "get by default", fn: "meta", want: metaView{Method: "GET", Path: "/"}},
		{name: "everything", fn: "meta:1", req: client.InvokeRequest{
			Method: "put", Path: "users/a b", Query: url.Values{"q": {"x y"}},
			Header: http.Header{"X-Test": {"yes"}},
		}, want: metaView{Method: "PUT", Path: "/users/a b", Query: "q=x+y", Headers: map[string][]string{"x-test": {"yes"}}}},
		{name: "latest alias", fn: "meta:latest", req: client.InvokeRequest{Path: "/"}, want: metaView{Method: "GET", Path: "/"}},
		{name: "token function", fn: "secret", want: metaView{Method: "GET", Path: "/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.Invoke(ctx, tt.fn, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var got metaView
			if err := json.Unmarshal(resp.Body, &got); err != nil {
				t.Fatalf("body %q: %v", resp.Body, err)
			}
			name, _, _ := strings.Cut(tt.fn, ":")
			if got.Method != tt.want.Method || got.Path != tt.want.Path || got.Query != tt.want.Query ||
				got.Function != name || got.Version != 1 {
				t.Errorf("function saw %+v, want %+v", got, tt.want)
			}
			for k, v := range tt.want.Headers {
				if !reflect.DeepEqual(got.Headers[k], v) {
					t.Errorf("function saw header %s = %q, want %q", k, got.Headers[k], v)
				}
			}
			if _, ok := got.Headers["authorization"]; ok {
				t.Errorf("the function saw the token: %v", got.Headers)
			}
			if resp.Status != 200 || resp.InvocationID == "" || resp.InvocationID != got.InvocationID || resp.Version != 1 {
				t.Errorf("response = %d id %q (function saw %q) version %d", resp.Status, resp.InvocationID, got.InvocationID, resp.Version)
			}
		})
	}

	t.Run("post when body", func(t *testing.T) {
		resp, err := c.Invoke(ctx, "identity", client.InvokeRequest{Body: []byte("a\x00b\n")})
		if err != nil || string(resp.Body) != "a\x00b\n" {
			t.Fatalf("identity answered %v, %v", resp, err)
		}
		resp, err = c.Invoke(ctx, "meta", client.InvokeRequest{Body: []byte("method")})
		if err != nil || string(resp.Body) != "POST" {
			t.Errorf("method with a body = %v, %v; want POST", resp, err)
		}
		resp, err = c.Invoke(ctx, "identity", client.InvokeRequest{Method: "PUT", Body: []byte("hi")})
		if err != nil || string(resp.Body) != "hi" {
			t.Errorf("PUT with a body = %v, %v", resp, err)
		}
	})
	t.Run("token only when needed", func(t *testing.T) {
		rec.take()
		if _, err := c.Invoke(ctx, "meta", client.InvokeRequest{}); err != nil {
			t.Fatal(err)
		}
		reqs := rec.take()
		if len(reqs) != 1 || reqs[0].header.Get("Authorization") != "" {
			t.Errorf("a public function's call sent %+v; want one request without Authorization", reqs)
		}
		if _, err := c.Invoke(ctx, "secret", client.InvokeRequest{}); err != nil {
			t.Fatal(err)
		}
		reqs = rec.take()
		if len(reqs) != 2 || reqs[0].header.Get("Authorization") != "" || reqs[1].header.Get("Authorization") != "Bearer "+token {
			t.Errorf("a token function's call sent %+v; want one without the token, then one with it", reqs)
		}
	})
	t.Run("busy", func(t *testing.T) {
		// loop runs until cancelled on its only instance, with no queue:
		// a second call is refused at once.
		running, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := c.Invoke(running, "loop", client.InvokeRequest{})
			done <- err
		}()
		defer func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("the cancelled call: err = %v", err)
			}
		}()
		testutil.Eventually(t, 10*time.Second, "loop to run", func() bool {
			st, err := c.Status(ctx)
			if err != nil {
				return false
			}
			for _, f := range st.Functions {
				if f.Name == "loop" && f.Busy == 1 {
					return true
				}
			}
			return false
		})
		resp, err := c.Invoke(ctx, "loop", client.InvokeRequest{})
		var apiErr *client.APIError
		if !errors.As(err, &apiErr) || !errors.Is(err, client.ErrBusy) {
			t.Fatalf("err = %v, want busy", err)
		}
		if apiErr.RetryAfter < time.Second || resp == nil || resp.Status != 429 ||
			strconv.Itoa(int(apiErr.RetryAfter/time.Second)) != resp.Header.Get("Retry-After") {
			t.Errorf("RetryAfter = %v, resp = %+v", apiErr.RetryAfter, resp)
		}
	})
	t.Run("function's own status", func(t *testing.T) {
		resp, err := c.Invoke(ctx, "hello", client.InvokeRequest{Body: []byte("not json")})
		var apiErr *client.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != "" || apiErr.Status != 400 || errors.Is(err, client.ErrBadRequest) {
			t.Fatalf("err = %#v, want an APIError without code", err)
		}
		if !strings.HasPrefix(string(resp.Body), `{"error":"invalid JSON: `) || apiErr.Message != string(resp.Body) ||
			resp.InvocationID == "" || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("response = %+v, message %q", resp, apiErr.Message)
		}
	})
	t.Run("not found", func(t *testing.T) {
		_, err := c.Invoke(ctx, "nope", client.InvokeRequest{})
		if !client.IsNotFound(err) {
			t.Errorf("err = %v, want not found", err)
		}
		_, err = c.Invoke(ctx, "meta:9", client.InvokeRequest{})
		if !client.IsNotFound(err) {
			t.Errorf("err = %v, want not found", err)
		}
	})
	t.Run("no token", func(t *testing.T) {
		anon := newClient(t, base, "")
		_, err := anon.Invoke(ctx, "secret", client.InvokeRequest{})
		if !errors.Is(err, client.ErrUnauthorized) {
			t.Errorf("err = %v, want unauthorized", err)
		}
	})
}

func TestHealth(t *testing.T) {
	url, _ := realNode(t)
	h, err := newClient(t, url, "").Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != "ok" || h.Node == "" || h.Version != server.Version {
		t.Errorf("Health = %+v", *h)
	}

	// A node that is not ready answers 503 (the real one only between
	// listening and joining NATS, too briefly to catch).
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(503)
		_, _ = io.WriteString(w, `{"status":"starting","node":"n1"}`)
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
