package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/testutil"
)

type node struct {
	t    *testing.T
	srv  *server.Server
	base string
	dir  string
}

func start(t *testing.T, dataDir string) *node {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	srv, err := server.New(server.Config{DataDir: dataDir, HTTPAddr: "127.0.0.1:0", NATSListen: "127.0.0.1:-1", CacheDir: testutil.CacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, srv: srv, base: "http://" + srv.HTTPAddr(), dir: dataDir}
	t.Cleanup(func() { _ = srv.Close() })
	return n
}

func (n *node) do(method, path string, body io.Reader, header map[string]string) (int, http.Header, []byte) {
	n.t.Helper()
	req, err := http.NewRequest(method, n.base+path, body)
	if err != nil {
		n.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func (n *node) admin(method, path string, body io.Reader, contentType string) (int, []byte) {
	h := map[string]string{"Authorization": "Bearer " + n.srv.Token()}
	if contentType != "" {
		h["Content-Type"] = contentType
	}
	code, _, b := n.do(method, path, body, h)
	return code, b
}

func (n *node) deploy(spec string, module []byte) (int, map[string]any) {
	n.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("spec", spec)
	fw, _ := mw.CreateFormFile("module", "m.wasm")
	_, _ = fw.Write(module)
	_ = mw.Close()
	code, b := n.admin("POST", "/api/v1/functions", &buf, mw.FormDataContentType())
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return code, out
}

func errCode(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	return e.Error.Code
}

func TestDeployInvokeAndErrors(t *testing.T) {
	n := start(t, "")
	hello := testutil.Module(t, "hello")

	code, out := n.deploy(`{"name":"hello","env":{"GREETING":"Hi"}}`, hello)
	if code != 201 || out["version"] != 1.0 || out["changed"] != true || out["mode"] != "reactor" {
		t.Fatalf("first deploy: %d %v", code, out)
	}
	code, out = n.deploy(`{"name":"hello","env":{"GREETING":"Hi"}}`, hello)
	if code != 200 || out["version"] != 1.0 || out["changed"] != false {
		t.Fatalf("identical deploy: %d %v, want unchanged version 1", code, out)
	}
	code, out = n.deploy(`{"name":"hello","env":{"GREETING":"Hello"}}`, hello)
	if code != 201 || out["version"] != 2.0 {
		t.Fatalf("new spec: %d %v, want version 2", code, out)
	}

	status, hdr, body := n.do("POST", "/fn/hello", strings.NewReader(`{"name":"Ada"}`), nil)
	if status != 200 || !strings.Contains(string(body), "Hello, Ada!") {
		t.Fatalf("invoke: %d %s", status, body)
	}
	if hdr.Get("X-Baton-Version") != "2" || hdr.Get("X-Baton-Invocation-Id") == "" {
		t.Fatalf("headers: %v", hdr)
	}
	status, _, body = n.do("POST", "/fn/hello:1", strings.NewReader(`{"name":"Ada"}`), nil)
	if status != 200 || !strings.Contains(string(body), "Hi, Ada!") {
		t.Fatalf("invoke version 1: %d %s", status, body)
	}

	// The echo example sees method, path and query.
	if code, out := n.deploy(`{"name":"echo"}`, testutil.Module(t, "echo")); code != 201 {
		t.Fatalf("deploy echo: %d %v", code, out)
	}
	status, hdr, body = n.do("PUT", "/fn/echo/a/b?x=1", strings.NewReader("data"), map[string]string{"Content-Type": "text/plain"})
	if status != 200 || string(body) != "data" || hdr.Get("X-Echo-Method") != "PUT" || hdr.Get("X-Echo-Path") != "/a/b" || hdr.Get("X-Echo-Query") != "x=1" {
		t.Fatalf("echo: %d %q %v", status, body, hdr)
	}

	deployErrors := []struct {
		name, spec string
		module     []byte
		status     int
		code, msg  string
	}{
		{"garbage module", `{"name":"bad"}`, []byte("not wasm"), 400, "invalid_module", "invalid wasm"},
		{"bad import", `{"name":"bad"}`, testutil.Module(t, "testdata/badimport"), 400, "invalid_module", `"env"."foo"`},
		{"bad name", `{"name":"Bad Name"}`, hello, 400, "bad_request", "name"},
		{"bad memory", `{"name":"x","memory":99999}`, hello, 400, "bad_request", "memory"},
		{"bad timeout", `{"name":"x","timeout":"soon"}`, hello, 400, "bad_request", `timeout: "soon" is not a duration`},
		{"timeout not a string", `{"name":"x","queueTimeout":true}`, hello, 400, "bad_request", "queueTimeout: true is not a duration"},
		{"unknown field", `{"name":"x","memroy":64}`, hello, 400, "bad_request", "memroy"},
	}
	for _, tt := range deployErrors {
		t.Run("deploy/"+tt.name, func(t *testing.T) {
			code, out := n.deploy(tt.spec, tt.module)
			e, _ := out["error"].(map[string]any)
			if code != tt.status || e["code"] != tt.code || !strings.Contains(fmt.Sprint(e["message"]), tt.msg) {
				t.Fatalf("got %d %v, want %d %s containing %q", code, out, tt.status, tt.code, tt.msg)
			}
		})
	}
	if _, out := n.deploy(`{"name":"bad"}`, []byte("x")); out["error"] == nil {
		t.Fatal("expected an error")
	}
	if code, _ := n.admin("GET", "/api/v1/functions/bad", nil, ""); code != 404 {
		t.Fatalf("a rejected module was stored: GET answered %d", code)
	}

	// Hostile guests, each answered with its status and code.
	hostile := []struct{ name, spec, module, input string }{
		{"loop", `{"name":"loop","timeout":"100ms"}`, "testdata/loop", ""},
		{"trap", `{"name":"trap"}`, "testdata/trap", ""},
		{"fail", `{"name":"fail"}`, "testdata/fail", ""},
		{"outbomb", `{"name":"outbomb","maxOutputBytes":65536}`, "testdata/outbomb", ""},
		{"small", `{"name":"small","maxInputBytes":4}`, "ping", "too long"},
	}
	for _, h := range hostile {
		if code, out := n.deploy(h.spec, testutil.Module(t, h.module)); code != 201 {
			t.Fatalf("deploy %s: %d %v", h.name, code, out)
		}
	}
	invokeErrors := []struct {
		path, input string
		status      int
		code        string
	}{
		{"/fn/nope", "", 404, "function_not_found"},
		{"/fn/hello:7", "", 404, "function_not_found"},
		{"/fn/loop", "", 504, "timeout"},
		{"/fn/trap", "", 502, "function_trap"},
		{"/fn/fail", "", 500, "function_error"},
		{"/fn/outbomb", "", 502, "output_too_large"},
		{"/fn/small", "too long", 413, "input_too_large"},
		{"/api/v1/functions", "", 401, "unauthorized"},
		{"/nowhere", "", 404, "not_found"},
	}
	for _, tt := range invokeErrors {
		t.Run("invoke"+tt.path, func(t *testing.T) {
			status, _, body := n.do("POST", tt.path, strings.NewReader(tt.input), nil)
			if tt.path == "/api/v1/functions" {
				status, _, body = n.do("GET", tt.path, nil, map[string]string{"Authorization": "Bearer wrong"})
			}
			if status != tt.status || errCode(t, body) != tt.code {
				t.Fatalf("got %d %s, want %d %s", status, body, tt.status, tt.code)
			}
		})
	}
	// The server still serves after all of that.
	if status, _, _ := n.do("POST", "/fn/hello", strings.NewReader(`{}`), nil); status != 200 {
		t.Fatalf("hello after hostile calls: %d", status)
	}
}

func TestBusyAnswers429(t *testing.T) {
	n := start(t, "")
	if code, out := n.deploy(`{"name":"loop","timeout":"3s","maxInstances":1,"maxQueue":-1}`, testutil.Module(t, "testdata/loop")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	// Two calls at once on one instance with no queue: one runs to its
	// deadline (504), the other is refused at once (429).
	type answer struct {
		status int
		hdr    http.Header
		body   []byte
	}
	answers := make(chan answer, 2)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, h, b := n.do("POST", "/fn/loop", nil, nil)
			answers <- answer{st, h, b}
		}()
	}
	wg.Wait()
	close(answers)
	got := map[int]answer{}
	for a := range answers {
		got[a.status] = a
	}
	busy, ok := got[429]
	if !ok || got[504].status != 504 {
		t.Fatalf("answers %v, want one 429 and one 504", got)
	}
	if busy.hdr.Get("Retry-After") == "" || errCode(t, busy.body) != "busy" {
		t.Fatalf("429 without Retry-After or code busy: %v %s", busy.hdr, busy.body)
	}
}

func TestTokenProtectedFunction(t *testing.T) {
	n := start(t, "")
	if code, out := n.deploy(`{"name":"private","auth":"token"}`, testutil.Module(t, "ping")); code != 201 {
		t.Fatalf("deploy: %d %v", code, out)
	}
	if status, _, _ := n.do("GET", "/fn/private", nil, nil); status != 401 {
		t.Fatalf("without token: %d, want 401", status)
	}
	status, _, body := n.do("GET", "/fn/private", nil, map[string]string{"Authorization": "Bearer " + n.srv.Token()})
	if status != 200 || string(body) != "pong" {
		t.Fatalf("with token: %d %s", status, body)
	}
}

func TestListGetDeleteAndRestart(t *testing.T) {
	dir := t.TempDir()
	n := start(t, dir)
	token := n.srv.Token()
	for _, name := range []string{"ping", "upper"} {
		if code, out := n.deploy(`{"name":"`+name+`"}`, testutil.Module(t, name)); code != 201 {
			t.Fatalf("deploy %s: %d %v", name, code, out)
		}
	}
	code, body := n.admin("GET", "/api/v1/functions", nil, "")
	var list struct {
		Functions []struct {
			Name   string
			Latest int
			Mode   string
		}
	}
	if err := json.Unmarshal(body, &list); err != nil || code != 200 || len(list.Functions) != 2 || list.Functions[0].Name != "ping" || list.Functions[1].Mode != "command" {
		t.Fatalf("list: %d %s", code, body)
	}

	// Restart on the same data dir: functions, versions and token survive.
	if err := n.srv.Close(); err != nil {
		t.Fatal(err)
	}
	n = start(t, dir)
	if n.srv.Token() != token {
		t.Fatal("the token changed across a restart")
	}
	status, _, out := n.do("POST", "/fn/upper", strings.NewReader("after restart"), nil)
	if status != 200 || string(out) != "AFTER RESTART" {
		t.Fatalf("after restart: %d %s", status, out)
	}

	if code, body := n.admin("DELETE", "/api/v1/functions/ping", nil, ""); code != 200 {
		t.Fatalf("delete: %d %s", code, body)
	}
	if code, _ := n.admin("DELETE", "/api/v1/functions/ping", nil, ""); code != 404 {
		t.Fatalf("second delete: %d, want 404", code)
	}
	if status, _, _ := n.do("GET", "/fn/ping", nil, nil); status != 404 {
		t.Fatalf("invoke deleted: %d, want 404", status)
	}
	if status, _, _ := n.do("GET", "/healthz", nil, nil); status != 200 {
		t.Fatalf("healthz: %d", status)
	}
}
