package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/client"
	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/servertest"
	"github.com/baton-run/baton/internal/testutil"
)

// realNode starts a baton node (embedded NATS, HTTP on a free port),
// closed when the test ends, and returns its URL and admin token.
func realNode(t *testing.T) (url, token string) {
	t.Helper()
	srv := servertest.Start(t, server.Config{})
	return "http://" + srv.HTTPAddr(), srv.Token()
}

// deployed starts a real node, deploys testdata/identity under each of
// names with `baton deploy`, and returns the global flags that reach the
// node and a client of it.
func deployed(t *testing.T, names ...string) ([]string, *client.Client) {
	t.Helper()
	url, token := realNode(t)
	flags := []string{"--server", url, "--token", token}
	mod := testutil.Module(t, "testdata/identity")
	for _, name := range names {
		deployModule(t, flags, mod, "--name", name)
	}
	c, err := client.New(url, token)
	if err != nil {
		t.Fatal(err)
	}
	return flags, c
}

// deployModule runs `baton deploy` of mod with the deploy flags args.
func deployModule(t *testing.T, flags []string, mod []byte, args ...string) {
	t.Helper()
	file := writeFile(t, "module.wasm", mod)
	if _, stderr, code := runCLI(t, append(append(flags, "deploy", file), args...)...); code != 0 {
		t.Fatalf("deploying %v: exit %d: %s", args, code, stderr)
	}
}

// withCustomSection returns a copy of mod with a custom section "pad"
// holding payload appended: still a valid module, with other bytes, and as
// large as payload makes it.
func withCustomSection(mod, payload []byte) []byte {
	const name = "pad"
	content := binary.AppendUvarint(nil, uint64(len(name))) // LEB128, as wasm encodes sizes
	content = append(append(content, name...), payload...)
	out := append(append([]byte{}, mod...), 0) // section id 0: custom
	out = binary.AppendUvarint(out, uint64(len(content)))
	return append(out, content...)
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// specOf returns the spec of function name as `baton get -o json` shows it.
func specOf(t *testing.T, flags []string, name string) map[string]any {
	t.Helper()
	stdout, _, code := runCLI(t, append(flags, "get", name, "-o", "json")...)
	var fn struct{ Spec map[string]any }
	if err := json.Unmarshal([]byte(stdout), &fn); code != 0 || err != nil {
		t.Fatalf("get %s -o json: exit %d %q: %v", name, code, stdout, err)
	}
	return fn.Spec
}

func TestDeploy(t *testing.T) {
	isolate(t)
	flags, c := deployed(t)
	identity := testutil.Module(t, "testdata/identity")
	mod := writeFile(t, "hello_world.wasm", identity)

	stdout, stderr, code := runCLI(t, append(flags, "deploy", mod)...)
	want := fmt.Sprintf("deployed hello-world version 1 (reactor, sha256 %s…, %s)\n", sha(identity)[:12], formatBytes(int64(len(identity))))
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, want)
	}
	// Without flags the CLI sends only the name: the node stores the same
	// spec as for a deploy of only a name.
	if _, err := c.Deploy(context.Background(), client.Spec{Name: "only-name"}, bytes.NewReader(identity)); err != nil {
		t.Fatal(err)
	}
	got, ref := specOf(t, flags, "hello-world"), specOf(t, flags, "only-name")
	ref["name"] = "hello-world"
	if !reflect.DeepEqual(got, ref) {
		t.Errorf("spec of a deploy without flags = %v\nwant the defaults %v", got, ref)
	}

	stdout, _, code = runCLI(t, append(flags, "deploy", mod)...)
	if code != 0 || stdout != "hello-world is unchanged at version 1\n" {
		t.Errorf("redeploy: exit %d, stdout %q", code, stdout)
	}

	// Every flag, after the file.
	stdout, _, code = runCLI(t, append(flags, "deploy", mod, "--name", "hello", "--memory", "128",
		"--timeout", "2s", "--max-instances", "4", "--max-queue", "0", "--queue-timeout", "1s",
		"--max-input", "1MiB", "--max-output", "2048", "--env", "A=1", "--env", "B=x=y,z", "--env", "C=",
		"--auth", "token")...)
	if code != 0 || !strings.HasPrefix(stdout, "deployed hello version 1 ") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	spec := specOf(t, flags, "hello")
	wantSpec := map[string]any{
		"name": "hello", "memory": 128.0, "timeout": "2s", "maxInstances": 4.0, "maxQueue": -1.0,
		"queueTimeout": "1s", "maxInputBytes": 1048576.0, "maxOutputBytes": 2048.0,
		"env": map[string]any{"A": "1", "B": "x=y,z", "C": ""}, "auth": "token",
	}
	for k, v := range wantSpec {
		if !reflect.DeepEqual(spec[k], v) {
			t.Errorf("spec.%s = %v, want %v", k, spec[k], v)
		}
	}

	// From stdin, as JSON.
	piped := withCustomSection(identity, []byte("piped"))
	stdout, _, code = runCLIInput(t, string(piped), append(flags, "deploy", "-", "--name", "piped", "-o", "json")...)
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); code != 0 || err != nil {
		t.Fatalf("exit %d, stdout %q: %v", code, stdout, err)
	}
	if res["name"] != "piped" || res["version"] != 1.0 || res["changed"] != true || res["mode"] != "reactor" ||
		res["sha256"] != sha(piped) || res["size"] != float64(len(piped)) {
		t.Errorf("deploy -o json = %v", res)
	}

	// A module over 1 MiB says that it is uploading.
	big := writeFile(t, "big.wasm", withCustomSection(identity, make([]byte, 2<<20)))
	_, stderr, code = runCLI(t, append(flags, "deploy", big)...)
	if code != 0 || stderr != "uploading 2.0 MiB…\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}

	// A name the server would refuse is caught before uploading.
	_, stderr, code = runCLI(t, append(flags, "deploy", mod, "--name", strings.Repeat("a", 64))...)
	if code != exitUsage {
		t.Errorf("64-character name: exit %d, want 2 (%s)", code, stderr)
	}
}

// lastUpdate returns the latest update time of the functions on the node.
func lastUpdate(t *testing.T, c *client.Client) time.Time {
	t.Helper()
	fns, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
	for _, fn := range fns {
		if fn.Updated.After(last) {
			last = fn.Updated
		}
	}
	return last
}

func TestLs(t *testing.T) {
	isolate(t)
	flags, c := deployed(t, "hello", "wordcount", "a")
	size := formatBytes(int64(len(testutil.Module(t, "testdata/identity"))))
	w := max(len("SIZE"), len(size))
	stdout, stderr, code := runAt(t, lastUpdate(t, c).Add(time.Hour), append(flags, "ls")...)
	want := "" +
		fmt.Sprintf("NAME       VERSION  MODE     MEMORY  TIMEOUT  %-*s  UPDATED\n", w, "SIZE") +
		fmt.Sprintf("a          1        reactor  64 MiB  5s       %-*s  1h ago\n", w, size) +
		fmt.Sprintf("hello      1        reactor  64 MiB  5s       %-*s  1h ago\n", w, size) +
		fmt.Sprintf("wordcount  1        reactor  64 MiB  5s       %-*s  1h ago\n", w, size)
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("exit %d, stdout:\n%s\nwant:\n%s", code, stdout, want)
	}

	stdout, _, code = runCLI(t, append(flags, "ls", "-o", "json")...)
	var fns []map[string]any
	if err := json.Unmarshal([]byte(stdout), &fns); code != 0 || err != nil {
		t.Fatalf("exit %d, ls -o json %q: %v", code, stdout, err)
	}
	if len(fns) != 3 || fns[0]["name"] != "a" || fns[1]["latest"] != 1.0 || fns[2]["spec"].(map[string]any)["memory"] != 64.0 {
		t.Errorf("ls -o json = %v", fns)
	}
	if !strings.HasPrefix(stdout, "[\n  {\n    \"name\": \"a\",") {
		t.Errorf("ls -o json is not indented: %q", stdout[:min(40, len(stdout))])
	}
}

func TestLsAlignment(t *testing.T) {
	isolate(t)
	flags, _ := deployed(t, "x", "a-much-longer-function-name")
	stdout, _, code := runCLI(t, append(flags, "ls")...)
	if code != 0 {
		t.Fatal(code)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	header := lines[0]
	var starts []int
	for _, m := range regexp.MustCompile(`\S+`).FindAllStringIndex(header, -1) {
		starts = append(starts, m[0])
	}
	if len(starts) != 7 {
		t.Fatalf("header %q has %d columns, want 7", header, len(starts))
	}
	if len(lines) != 3 {
		t.Fatalf("ls printed %d rows, want 2", len(lines)-1)
	}
	for _, line := range lines[1:] {
		for _, s := range starts[1:] {
			if len(line) <= s || line[s-1] != ' ' || line[s] == ' ' {
				t.Errorf("row %q is not aligned with header %q at column %d", line, header, s)
			}
		}
	}
}

func TestGet(t *testing.T) {
	isolate(t)
	flags, c := deployed(t, "hello")
	v2 := testutil.Module(t, "testdata/counter")
	deployModule(t, flags, v2, "--name", "hello", "--env", "GREETING=Hi", "--env", "A=b", "--max-queue", "0")
	fn, err := c.Get(context.Background(), "hello")
	if err != nil {
		t.Fatal(err)
	}
	if len(fn.Versions) != 2 {
		t.Fatalf("versions = %+v, want 2", fn.Versions)
	}
	v1 := fn.Versions[0]
	stdout, _, code := runAt(t, fn.Updated.Add(time.Hour), append(flags, "get", "hello")...)
	size1, size2 := formatBytes(v1.Size), formatBytes(int64(len(v2)))
	w := max(len("SIZE"), len(size1), len(size2))
	want := "" +
		"name:        hello\n" +
		"version:     2\n" +
		"aliases:     latest=2\n" +
		"mode:        reactor\n" +
		"sha256:      " + sha(v2) + "\n" +
		"size:        " + size2 + "\n" +
		"memory:      64 MiB\n" +
		"timeout:     5s\n" +
		"instances:   up to 8 per node, no queue\n" +
		"scaling:     at least 0 per node, idle timeout 5m0s\n" +
		"max input:   6.0 MiB\n" +
		"max output:  6.0 MiB\n" +
		"auth:        none\n" +
		"env:         A=b\n" +
		"             GREETING=Hi\n" +
		"created:     " + fn.Created.UTC().Format(time.RFC3339) + " (1h ago)\n" +
		"updated:     " + fn.Updated.UTC().Format(time.RFC3339) + " (1h ago)\n" +
		"\n" +
		fmt.Sprintf("VERSION  MODE     SHA256         %-*s  MEMORY  TIMEOUT  CREATED\n", w, "SIZE") +
		fmt.Sprintf("1        reactor  %s…  %-*s  64 MiB  5s       1h ago\n", v1.SHA256[:12], w, size1) +
		fmt.Sprintf("2        reactor  %s…  %-*s  64 MiB  5s       1h ago\n", sha(v2)[:12], w, size2)
	if code != 0 || stdout != want {
		t.Errorf("exit %d, stdout:\n%s\nwant:\n%s", code, stdout, want)
	}

	stdout, _, code = runCLI(t, append(flags, "get", "hello", "-o", "json")...)
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); code != 0 || err != nil {
		t.Fatalf("exit %d, get -o json %q: %v", code, stdout, err)
	}
	if got["name"] != "hello" || got["latest"] != 2.0 || len(got["versions"].([]any)) != 2 || got["sha256"] != sha(v2) {
		t.Errorf("get -o json = %v", got)
	}

	stdout, stderr, code := runCLI(t, append(flags, "get", "helo")...)
	if code != exitFailed || stdout != "" || stderr != "error: function_not_found: no function named \"helo\"\n" {
		t.Errorf("get of a missing function: exit %d, stderr %q", code, stderr)
	}
}

func TestRm(t *testing.T) {
	isolate(t)
	flags, _ := deployed(t, "a", "b", "c")
	stdout, stderr, code := runCLI(t, append(flags, "rm", "a")...)
	if code != 0 || stdout != "removed a\n" || stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	stdout, _, code = runCLI(t, append(flags, "rm", "b", "-o", "json")...)
	if code != 0 || stdout != "{\n  \"deleted\": \"b\"\n}\n" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	_, stderr, code = runCLI(t, append(flags, "rm", "a")...)
	if code != exitFailed || stderr != "error: function_not_found: no function named \"a\"\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	stdout, stderr, code = runCLI(t, append(flags, "rm", "a", "c")...)
	if code != exitFailed || stdout != "removed c\n" || !strings.Contains(stderr, "error: a: function_not_found") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	stdout, _, _ = runCLI(t, append(flags, "ls")...)
	if !strings.Contains(stdout, "no functions deployed") {
		t.Errorf("ls after rm = %q", stdout)
	}
}

// metaView is what testdata/meta answers to an empty body: the metadata
// the guest saw (docs/abi.md, "Metadata JSON").
type metaView struct {
	Method, Path, Query string
	Headers             map[string][]string
	Version             int
}

func TestInvoke(t *testing.T) {
	isolate(t)
	flags, c := deployed(t, "identity")
	meta := testutil.Module(t, "testdata/meta")
	deployModule(t, flags, meta, "--name", "meta")
	deployModule(t, flags, meta, "--name", "secret", "--auth", "token")
	deployModule(t, flags, testutil.Module(t, "hello"), "--name", "hello")
	deployModule(t, flags, testutil.Module(t, "testdata/loop"), "--name", "loop", "--timeout", "5s", "--max-instances", "1", "--max-queue", "0")
	data := writeFile(t, "event.json", []byte(`{"from":"file"}`))

	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string    // stdout, when meta is nil
		meta  *metaView // what testdata/meta saw; Headers: only these are checked
	}{
		{name: "get", args: []string{"meta"}, meta: &metaView{Method: "GET", Path: "/"}},
		{name: "data", args: []string{"identity", "-d", `{"name":"Ada"}`}, want: `{"name":"Ada"}`},
		{name: "data posts", args: []string{"meta", "-d", "method"}, want: "POST"},
		{name: "data file", args: []string{"identity", "-d", "@" + data}, want: `{"from":"file"}`},
		{name: "stdin", args: []string{"identity", "-d", "-"}, stdin: "piped\n", want: "piped\n"},
		{name: "raw body", args: []string{"identity", "-d", "-"}, stdin: "a\x00b\r\n\xff", want: "a\x00b\r\n\xff"},
		{name: "flags after name", args: []string{"meta", "-X", "put", "--path", "users/7?q=a+b&x=1", "-H", "X-Test: yes"},
			meta: &metaView{Method: "PUT", Path: "/users/7", Query: "q=a+b&x=1", Headers: map[string][]string{"x-test": {"yes"}}}},
		{name: "version", args: []string{"meta:1"}, meta: &metaView{Method: "GET", Path: "/"}},
		{name: "token function", args: []string{"secret"}, meta: &metaView{Method: "GET", Path: "/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLIInput(t, tt.stdin, append(append(flags, "invoke"), tt.args...)...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if tt.meta == nil {
				if stdout != tt.want {
					t.Errorf("stdout %q, want %q", stdout, tt.want)
				}
				return
			}
			var got metaView
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("stdout %q: %v", stdout, err)
			}
			if got.Method != tt.meta.Method || got.Path != tt.meta.Path || got.Query != tt.meta.Query || got.Version != 1 {
				t.Errorf("function saw %+v, want %+v", got, *tt.meta)
			}
			for k, v := range tt.meta.Headers {
				if !reflect.DeepEqual(got.Headers[k], v) {
					t.Errorf("function saw header %s = %q, want %q", k, got.Headers[k], v)
				}
			}
			if _, ok := got.Headers["authorization"]; ok {
				t.Errorf("the function saw the token: %v", got.Headers)
			}
		})
	}

	t.Run("include", func(t *testing.T) {
		stdout, _, code := runCLI(t, append(flags, "invoke", "-i", "identity", "-d", "hi")...)
		want := regexp.MustCompile(`^200 OK\n(.+\n)*X-Baton-Invocation-Id: \w+\n(.+\n)*X-Baton-Version: 1\n\nhi$`)
		if code != 0 || !want.MatchString(stdout) {
			t.Errorf("exit %d, stdout %q; want it to match %s", code, stdout, want)
		}
	})

	failures := []struct {
		name   string
		args   []string
		stdout *regexp.Regexp // nil: nothing
		stderr *regexp.Regexp
	}{
		{name: "not found", args: []string{"nope"}, stderr: regexp.MustCompile(`^error: function_not_found: no function named "nope"\n$`)},
		{name: "missing version", args: []string{"meta:7"}, stderr: regexp.MustCompile(`^error: function_not_found: function "meta" has no version or alias "7"\n$`)},
		{name: "function's status", args: []string{"hello", "-d", "not json"},
			stdout: regexp.MustCompile(`^\{"error":"invalid JSON: [^"]+"\}$`), stderr: regexp.MustCompile(`^error: hello answered 400 Bad Request\n$`)},
		{name: "function's status without body", args: []string{"meta", "-d", "no.such.key"},
			stderr: regexp.MustCompile(`^error: meta answered 404 Not Found\n$`)},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, append(append(flags, "invoke"), tt.args...)...)
			if code != exitFailed || (tt.stdout == nil && stdout != "") || (tt.stdout != nil && !tt.stdout.MatchString(stdout)) ||
				!tt.stderr.MatchString(stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, %v, %v", code, stdout, stderr, tt.stdout, tt.stderr)
			}
		})
	}

	t.Run("busy", func(t *testing.T) {
		// loop runs until cancelled on its only instance, with no queue:
		// a second call is refused at once.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := c.Invoke(ctx, "loop", client.InvokeRequest{})
			done <- err
		}()
		defer func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("the cancelled call: err = %v", err)
			}
		}()
		testutil.Eventually(t, 10*time.Second, "loop to run", func() bool {
			st, err := c.Status(context.Background())
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
		stdout, stderr, code := runCLI(t, append(flags, "invoke", "loop")...)
		want := regexp.MustCompile(`^error: busy: .+ \(retry after [1-9]\d*s\)\n$`)
		if code != exitFailed || stdout != "" || !want.MatchString(stderr) {
			t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %s", code, stdout, stderr, want)
		}
	})
	t.Run("token function without token", func(t *testing.T) {
		_, stderr, code := runCLI(t, "--server", c.BaseURL(), "--data-dir", t.TempDir(), "invoke", "secret")
		if code != exitFailed || !strings.HasPrefix(stderr, "error: unauthorized: ") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("data file unreadable", func(t *testing.T) {
		dir := t.TempDir()
		_, stderr, code := runCLI(t, append(flags, "invoke", "identity", "-d", "@"+dir)...)
		if code != exitUsage || !strings.Contains(stderr, "-d @"+dir) {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}
