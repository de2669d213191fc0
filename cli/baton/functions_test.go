package main

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// deployed starts a fake server with the given functions deployed and
// returns it with the global flags that reach it.
func deployed(t *testing.T, names ...string) (*fakeServer, []string) {
	t.Helper()
	f := newFakeServer(t)
	flags := []string{"--server", f.url, "--token", f.token}
	for _, name := range names {
		mod := writeFile(t, name+".wasm", append(append([]byte{}, wasm...), name...))
		if _, stderr, code := runCLI(t, append(flags, "deploy", mod)...); code != 0 {
			t.Fatalf("deploying %s: exit %d: %s", name, code, stderr)
		}
	}
	return f, flags
}

func TestDeploy(t *testing.T) {
	isolate(t)
	f, flags := deployed(t)
	mod := writeFile(t, "hello_world.wasm", wasm)

	stdout, stderr, code := runCLI(t, append(flags, "deploy", mod)...)
	want := regexp.MustCompile(`^deployed hello-world version 1 \(reactor, sha256 [0-9a-f]{12}…, 8 B\)\n$`)
	if code != 0 || !want.MatchString(stdout) || stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want %s", code, stdout, stderr, want)
	}
	if got := f.lastSpec(); got != `{"name":"hello-world"}` {
		t.Errorf("spec sent without flags = %s, want only the name", got)
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
	var spec map[string]any
	if err := json.Unmarshal([]byte(f.lastSpec()), &spec); err != nil {
		t.Fatal(err)
	}
	wantSpec := map[string]any{
		"name": "hello", "memory": 128.0, "timeout": "2s", "maxInstances": 4.0, "maxQueue": -1.0,
		"queueTimeout": "1s", "maxInputBytes": 1048576.0, "maxOutputBytes": 2048.0,
		"env": map[string]any{"A": "1", "B": "x=y,z", "C": ""}, "auth": "token",
	}
	if !reflect.DeepEqual(spec, wantSpec) {
		t.Errorf("spec sent = %v\nwant %v", spec, wantSpec)
	}

	// From stdin, as JSON.
	stdout, _, code = runCLIInput(t, string(wasm)+"2", append(flags, "deploy", "-", "--name", "piped", "-o", "json")...)
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); code != 0 || err != nil {
		t.Fatalf("exit %d, stdout %q: %v", code, stdout, err)
	}
	if res["name"] != "piped" || res["version"] != 1.0 || res["changed"] != true || res["mode"] != "reactor" || len(res["sha256"].(string)) != 64 {
		t.Errorf("deploy -o json = %v", res)
	}

	// A module over 1 MiB says that it is uploading.
	big := writeFile(t, "big.wasm", append(append([]byte{}, wasm...), make([]byte, 2<<20)...))
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

func TestLs(t *testing.T) {
	isolate(t)
	_, flags := deployed(t, "hello", "wordcount", "a")
	stdout, stderr, code := runFixed(t, append(flags, "ls")...)
	want := "" +
		"NAME       VERSION  MODE     MEMORY  TIMEOUT  SIZE  UPDATED\n" +
		"a          1        reactor  64 MiB  5s       9 B   1h ago\n" +
		"hello      1        reactor  64 MiB  5s       13 B  1h ago\n" +
		"wordcount  1        reactor  64 MiB  5s       17 B  1h ago\n"
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
	_, flags := deployed(t, "x", "a-much-longer-function-name")
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
	f, flags := deployed(t, "hello")
	mod := writeFile(t, "hello.wasm", append(append([]byte{}, wasm...), "v2"...))
	if _, _, code := runCLI(t, append(flags, "deploy", mod, "--env", "GREETING=Hi", "--env", "A=b", "--max-queue", "0")...); code != 0 {
		t.Fatal(code)
	}
	stdout, _, code := runFixed(t, append(flags, "get", "hello")...)
	sha := f.functions["hello"].SHA256
	v1 := f.functions["hello"].Versions[0].SHA256
	want := "" +
		"name:        hello\n" +
		"version:     2\n" +
		"aliases:     latest=2\n" +
		"mode:        reactor\n" +
		"sha256:      " + sha + "\n" +
		"size:        10 B\n" +
		"memory:      64 MiB\n" +
		"timeout:     5s\n" +
		"instances:   up to - per node, no queue\n" +
		"max input:   -\n" +
		"max output:  -\n" +
		"auth:        none\n" +
		"env:         A=b\n" +
		"             GREETING=Hi\n" +
		"created:     2026-11-21T10:01:00Z (1h ago)\n" +
		"updated:     2026-11-21T10:02:00Z (1h ago)\n" +
		"\n" +
		"VERSION  MODE     SHA256         SIZE  MEMORY  TIMEOUT  CREATED\n" +
		"1        reactor  " + v1[:12] + "…  13 B  64 MiB  5s       1h ago\n" +
		"2        reactor  " + sha[:12] + "…  10 B  64 MiB  5s       1h ago\n"
	if code != 0 || stdout != want {
		t.Errorf("exit %d, stdout:\n%s\nwant:\n%s", code, stdout, want)
	}

	stdout, _, code = runCLI(t, append(flags, "get", "hello", "-o", "json")...)
	var fn map[string]any
	if err := json.Unmarshal([]byte(stdout), &fn); code != 0 || err != nil {
		t.Fatalf("exit %d, get -o json %q: %v", code, stdout, err)
	}
	if fn["name"] != "hello" || fn["latest"] != 2.0 || len(fn["versions"].([]any)) != 2 {
		t.Errorf("get -o json = %v", fn)
	}

	stdout, stderr, code := runCLI(t, append(flags, "get", "helo")...)
	if code != exitFailed || stdout != "" || stderr != "error: function_not_found: no function named \"helo\"\n" {
		t.Errorf("get of a missing function: exit %d, stderr %q", code, stderr)
	}
}

func TestRm(t *testing.T) {
	isolate(t)
	_, flags := deployed(t, "a", "b", "c")
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

func TestInvoke(t *testing.T) {
	isolate(t)
	f, flags := deployed(t, "echo", "busy", "teapot")
	mod := writeFile(t, "secret.wasm", wasm)
	if _, _, code := runCLI(t, append(flags, "deploy", mod, "--auth", "token")...); code != 0 {
		t.Fatal(code)
	}
	data := writeFile(t, "event.json", []byte(`{"from":"file"}`))
	type echo struct {
		Method, Path, Query, Header, Auth, Body string
	}
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  echo
	}{
		{name: "get", args: []string{"echo"}, want: echo{Method: "GET", Path: "/"}},
		{name: "data", args: []string{"echo", "-d", `{"name":"Ada"}`}, want: echo{Method: "POST", Path: "/", Body: `{"name":"Ada"}`}},
		{name: "data file", args: []string{"echo", "-d", "@" + data}, want: echo{Method: "POST", Path: "/", Body: `{"from":"file"}`}},
		{name: "stdin", args: []string{"echo", "-d", "-"}, stdin: "piped\n", want: echo{Method: "POST", Path: "/", Body: "piped\n"}},
		{name: "flags after name", args: []string{"echo", "-X", "put", "--path", "users/7?q=a+b&x=1", "-H", "X-Test: yes"},
			want: echo{Method: "PUT", Path: "/users/7", Query: "q=a+b&x=1", Header: "yes"}},
		{name: "version", args: []string{"echo:1"}, want: echo{Method: "GET", Path: "/"}},
		{name: "token function", args: []string{"secret"}, want: echo{Method: "GET", Path: "/", Auth: "Bearer " + f.token}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLIInput(t, tt.stdin, append(append(flags, "invoke"), tt.args...)...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			var got echo
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("stdout %q: %v", stdout, err)
			}
			if got != tt.want {
				t.Errorf("function saw %+v, want %+v", got, tt.want)
			}
		})
	}

	t.Run("raw body", func(t *testing.T) {
		stdout, _, _ := runCLI(t, append(flags, "invoke", "teapot")...)
		if stdout != "short and stout\n" {
			t.Errorf("stdout %q, want the body byte for byte", stdout)
		}
	})
	t.Run("include", func(t *testing.T) {
		stdout, _, code := runCLI(t, append(flags, "invoke", "-i", "echo")...)
		head, body, ok := strings.Cut(stdout, "\n\n")
		if code != 0 || !ok || !strings.HasPrefix(head, "200 OK\n") ||
			!strings.Contains(head, "\nX-Baton-Invocation-Id: inv-1") || !strings.Contains(head, "\nX-Baton-Version: 1") ||
			!strings.Contains(body, `"method":"GET"`) {
			t.Errorf("exit %d, stdout %q", code, stdout)
		}
	})

	failures := []struct {
		name, stdout, stderr string
		args                 []string
	}{
		{name: "not found", args: []string{"nope"}, stderr: "error: function_not_found: no function named \"nope\"\n"},
		{name: "missing version", args: []string{"echo:7"}, stderr: "error: function_not_found: no function named \"echo:7\"\n"},
		{name: "busy", args: []string{"busy"}, stderr: "error: busy: every instance busy and the queue full (retry after 2s)\n"},
		{name: "function's status", args: []string{"teapot"}, stdout: "short and stout\n",
			stderr: "error: teapot answered 418 I'm a teapot\n"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, append(append(flags, "invoke"), tt.args...)...)
			if code != exitFailed || stdout != tt.stdout || stderr != tt.stderr {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, %q, %q", code, stdout, stderr, tt.stdout, tt.stderr)
			}
		})
	}

	t.Run("token function without token", func(t *testing.T) {
		_, stderr, code := runCLI(t, "--server", f.url, "--data-dir", t.TempDir(), "invoke", "secret")
		if code != exitFailed || !strings.HasPrefix(stderr, "error: unauthorized: ") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("data file unreadable", func(t *testing.T) {
		dir := t.TempDir()
		_, stderr, code := runCLI(t, append(flags, "invoke", "echo", "-d", "@"+dir)...)
		if code != exitUsage || !strings.Contains(stderr, "-d @"+dir) {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}
