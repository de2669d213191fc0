package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/baton-run/baton/internal/testutil"
)

// invokeVersion invokes ref and returns the X-Baton-Version that ran.
func (n *node) invokeVersion(ref string) string {
	n.t.Helper()
	status, hdr, body := n.do("POST", "/fn/"+ref, strings.NewReader(`{"name":"Ada"}`), nil)
	if status != 200 {
		n.t.Fatalf("invoke %s: %d %s", ref, status, body)
	}
	return hdr.Get("X-Baton-Version")
}

func TestVersionsAliasesAndRollback(t *testing.T) {
	n := start(t, "")
	hello := testutil.Module(t, "hello")
	for _, spec := range []string{`{"name":"hello","env":{"GREETING":"Hi"}}`, `{"name":"hello","env":{"GREETING":"Hello"}}`} {
		if code, out := n.deploy(spec, hello); code != 201 {
			t.Fatalf("deploy: %d %v", code, out)
		}
	}
	setAlias := func(alias, body string) (int, []byte) {
		return n.admin("PUT", "/api/v1/functions/hello/aliases/"+alias, strings.NewReader(body), "application/json")
	}

	// Without live, plain invocations run the latest.
	if v := n.invokeVersion("hello"); v != "2" {
		t.Fatalf("without live ran version %s, want 2", v)
	}
	if code, body := setAlias("live", `{"version":1}`); code != 200 || !strings.Contains(string(body), `"version": 1`) {
		t.Fatalf("set live: %d %s", code, body)
	}
	for range 10 {
		if v := n.invokeVersion("hello"); v != "1" {
			t.Fatalf("live=1 ran version %s", v)
		}
	}
	if v := n.invokeVersion("hello:2"); v != "2" {
		t.Fatalf("hello:2 ran version %s", v)
	}
	if v := n.invokeVersion("hello:latest"); v != "2" {
		t.Fatalf("hello:latest ran version %s", v)
	}

	// A 50% canary on live: both versions run.
	if code, body := setAlias("live", `{"version":1,"weights":{"2":50}}`); code != 200 {
		t.Fatalf("set live with weights: %d %s", code, body)
	}
	seen := map[string]int{}
	for range 100 {
		seen[n.invokeVersion("hello")]++
	}
	if seen["1"] == 0 || seen["2"] == 0 || len(seen) != 2 {
		t.Fatalf("a 50%% canary ran versions %v, want both 1 and 2", seen)
	}
	// NAME:N still addresses one version.
	for range 10 {
		if v := n.invokeVersion("hello:1"); v != "1" {
			t.Fatalf("hello:1 ran version %s", v)
		}
	}

	// The versions listing says which aliases point where.
	code, body := n.admin("GET", "/api/v1/functions/hello/versions", nil, "")
	var vs struct {
		Name     string
		Versions []struct {
			Version int
			SHA256  string
			Aliases []string
			Weights map[string]int
		}
	}
	if err := json.Unmarshal(body, &vs); err != nil || code != 200 || len(vs.Versions) != 2 {
		t.Fatalf("versions: %d %s", code, body)
	}
	if a := vs.Versions[0].Aliases; len(a) != 1 || a[0] != "live" || vs.Versions[0].SHA256 == "" {
		t.Fatalf("version 1 aliases %v", a)
	}
	if a := vs.Versions[1].Aliases; len(a) != 1 || a[0] != "latest" || vs.Versions[1].Weights["live"] != 50 {
		t.Fatalf("version 2 aliases %v weights %v", a, vs.Versions[1].Weights)
	}
	code, body = n.admin("GET", "/api/v1/functions/hello/aliases", nil, "")
	if code != 200 || !strings.Contains(string(body), `"live"`) || !strings.Contains(string(body), `"2": 50`) {
		t.Fatalf("aliases: %d %s", code, body)
	}

	// Errors name the problem.
	errs := []struct {
		name, alias, body string
		status            int
		code, msg         string
	}{
		{"unknown version", "canary", `{"version":9}`, 404, "function_not_found", "version 9"},
		{"unknown weighted version", "canary", `{"version":1,"weights":{"9":10}}`, 404, "function_not_found", "version 9"},
		{"weight too big", "canary", `{"version":1,"weights":{"2":100}}`, 400, "bad_request", "weights"},
		{"weight zero", "canary", `{"version":1,"weights":{"2":0}}`, 400, "bad_request", "weights"},
		{"weight key", "canary", `{"version":1,"weights":{"two":10}}`, 400, "bad_request", "weights"},
		{"missing version", "canary", `{}`, 400, "bad_request", "version"},
		{"version type", "canary", `{"version":"1"}`, 400, "bad_request", "version"},
		{"unknown field", "canary", `{"version":1,"weight":{"2":10}}`, 400, "bad_request", "weight"},
		{"latest", "latest", `{"version":1}`, 400, "bad_request", "reserved"},
		{"bad alias", "Canary", `{"version":1}`, 400, "bad_request", "alias"},
	}
	for _, tt := range errs {
		t.Run("set/"+tt.name, func(t *testing.T) {
			code, body := setAlias(tt.alias, tt.body)
			if code != tt.status || errCode(t, body) != tt.code || !strings.Contains(string(body), tt.msg) {
				t.Fatalf("got %d %s, want %d %s naming %q", code, body, tt.status, tt.code, tt.msg)
			}
		})
	}
	if code, body := n.admin("PUT", "/api/v1/functions/nope/aliases/live", strings.NewReader(`{"version":1}`), ""); code != 404 || errCode(t, body) != "function_not_found" {
		t.Fatalf("alias of a missing function: %d %s", code, body)
	}

	// Rollback: live is at 1, nothing before it.
	code, body = n.admin("POST", "/api/v1/functions/hello/rollback", nil, "")
	if code != 400 || errCode(t, body) != "bad_request" {
		t.Fatalf("rollback at version 1: %d %s", code, body)
	}
	if code, body := setAlias("live", `{"version":2}`); code != 200 {
		t.Fatalf("set live=2: %d %s", code, body)
	}
	if v := n.invokeVersion("hello"); v != "2" {
		t.Fatalf("live=2 ran version %s", v)
	}
	code, body = n.admin("POST", "/api/v1/functions/hello/rollback", nil, "")
	var rb struct {
		Alias    string
		From, To int
	}
	if err := json.Unmarshal(body, &rb); err != nil || code != 200 || rb.Alias != "live" || rb.From != 2 || rb.To != 1 {
		t.Fatalf("rollback: %d %s", code, body)
	}
	if v := n.invokeVersion("hello"); v != "1" {
		t.Fatalf("after rollback ran version %s, want 1", v)
	}

	// Removing live goes back to following the latest.
	if code, body := n.admin("DELETE", "/api/v1/functions/hello/aliases/live", nil, ""); code != 200 {
		t.Fatalf("delete live: %d %s", code, body)
	}
	if v := n.invokeVersion("hello"); v != "2" {
		t.Fatalf("after removing live ran version %s, want 2", v)
	}
	if code, body := n.admin("DELETE", "/api/v1/functions/hello/aliases/live", nil, ""); code != 404 || errCode(t, body) != "not_found" {
		t.Fatalf("second delete: %d %s", code, body)
	}
	if code, body := n.admin("DELETE", "/api/v1/functions/hello/aliases/latest", nil, ""); code != 400 {
		t.Fatalf("delete latest: %d %s", code, body)
	}
	if code, _, _ := n.do("GET", "/api/v1/functions/hello/versions", nil, nil); code != 401 {
		t.Fatalf("versions without a token: %d, want 401", code)
	}
}

// A canary of a token-protected version makes every call of the alias
// need the token (directly and through a custom route): the version a
// call would run is picked after the check.
func TestCanaryOfTokenVersionNeedsToken(t *testing.T) {
	n := start(t, "")
	ping := testutil.Module(t, "ping")
	for _, spec := range []string{`{"name":"p"}`, `{"name":"p","auth":"token"}`} {
		if code, out := n.deploy(spec, ping); code != 201 {
			t.Fatalf("deploy %s: %d %v", spec, code, out)
		}
	}
	if code, body := n.admin("PUT", "/api/v1/functions/p/aliases/live", strings.NewReader(`{"version":1,"weights":{"2":1}}`), "application/json"); code != 200 {
		t.Fatalf("set live: %d %s", code, body)
	}
	n.addTrigger(`{"kind":"http","method":"GET","path":"/p","function":"p"}`)
	for _, path := range []string{"/fn/p", "/fn/p:live", "/p", "/fn/p:2"} {
		if status, _, body := n.do("GET", path, nil, nil); status != 401 {
			t.Fatalf("GET %s without token: %d %s", path, status, body)
		}
	}
	if status, _, body := n.do("GET", "/fn/p:1", nil, nil); status != 200 || string(body) != "pong" {
		t.Fatalf("GET /fn/p:1 (open version) without token: %d %s", status, body)
	}
	auth := map[string]string{"Authorization": "Bearer " + n.srv.Token()}
	if status, _, body := n.do("GET", "/p", nil, auth); status != 200 || string(body) != "pong" {
		t.Fatalf("GET /p with token: %d %s", status, body)
	}
}
