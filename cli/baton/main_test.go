package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/internal/testutil"
)

// runCLI runs the baton command line in-process, as `baton args...`, and
// returns what it printed and its exit code.
func runCLI(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCLIInput(t, "", args...)
}

// runCLIInput is runCLI with stdin.
func runCLIInput(t testing.TB, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"baton"}, args...), strings.NewReader(stdin), &out, &errOut)
	t.Logf("baton %s → exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return out.String(), errOut.String(), code
}

// runAt is runCLI with the clock at now and times printed in UTC, for
// golden output.
func runAt(t testing.TB, now time.Time, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
		now: func() time.Time { return now }, loc: time.UTC}
	code = e.run(context.Background(), append([]string{"baton"}, args...))
	t.Logf("baton %s → exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return out.String(), errOut.String(), code
}

// isolate keeps the caller's environment out of the test: no BATON_*
// variables and an empty home directory.
func isolate(t *testing.T) (home string) {
	t.Helper()
	home = t.TempDir()
	t.Setenv("HOME", home)
	for _, v := range []string{"BATON_SERVER", "BATON_TOKEN", "BATON_DATA_DIR", "BATON_HTTP", "BATON_NATS"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	return home
}

// writeFile writes a file in a temp dir and returns its path.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// wasm is the smallest valid module header.
var wasm = []byte("\x00asm\x01\x00\x00\x00")

func TestUsageErrors(t *testing.T) {
	isolate(t)
	// Usage errors are found before any request: this server fails the
	// test when reached.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
	}))
	defer srv.Close()
	mod := writeFile(t, "hello.wasm", wasm)
	txt := writeFile(t, "notes.txt", []byte("hello"))
	bad := writeFile(t, "Bad Name!.wasm", wasm)

	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no command", nil, "USAGE:"},
		{"unknown command", []string{"deploi"}, `unknown command "deploi"`},
		{"unknown global flag", []string{"--bogus", "ls"}, "flag provided but not defined: -bogus"},
		{"unknown command flag", []string{"ls", "--bogus"}, "flag provided but not defined: -bogus"},
		{"bad output", []string{"ls", "-o", "yaml"}, `--output must be table or json, not "yaml"`},
		{"bad server", []string{"--server", "ftp://x", "ls"}, "scheme must be http or https"},
		{"deploy without file", []string{"deploy"}, "missing the module file"},
		{"deploy two files", []string{"deploy", mod, mod}, "deploy takes one module file"},
		{"deploy missing file", []string{"deploy", "nope.wasm"}, "file not found: nope.wasm"},
		{"deploy not wasm", []string{"deploy", txt, "--name", "notes"}, "is not a WebAssembly module"},
		{"deploy bad derived name", []string{"deploy", bad}, `cannot make a function name out of "Bad Name!.wasm"; pass --name`},
		{"deploy bad name", []string{"deploy", mod, "--name", "Hello"}, `--name "Hello"`},
		{"deploy bad env", []string{"deploy", mod, "--env", "GREETING"}, `--env "GREETING": want KEY=VALUE`},
		{"deploy empty env key", []string{"deploy", mod, "--env", "=x"}, `--env "=x": want KEY=VALUE`},
		{"deploy bad timeout", []string{"deploy", mod, "--timeout", "5"}, `--timeout "5" is not a positive duration`},
		{"deploy bad queue timeout", []string{"deploy", mod, "--queue-timeout", "-1s"}, `--queue-timeout "-1s"`},
		{"deploy bad memory", []string{"deploy", mod, "--memory", "lots"}, `invalid value "lots" for flag -memory`},
		{"deploy zero memory", []string{"deploy", mod, "--memory", "0"}, "--memory must be at least 1"},
		{"deploy negative queue", []string{"deploy", mod, "--max-queue", "-2"}, "--max-queue must be 0 or -1 (no queue) or more"},
		{"deploy bad env key", []string{"deploy", mod, "--env", "1A=x"}, `"1A" is not a variable name`},
		{"deploy bad size", []string{"deploy", mod, "--max-input", "6 parsecs"}, `--max-input "6 parsecs" is not a positive size`},
		{"deploy bad auth", []string{"deploy", mod, "--auth", "maybe"}, `--auth must be none or token, not "maybe"`},
		{"deploy stdin without name", []string{"deploy", "-"}, "--name is required"},
		{"invoke without name", []string{"invoke"}, "missing the function name"},
		{"invoke unquoted data", []string{"invoke", "hello", "-d", "a", "b"}, "invoke takes one function name"},
		{"invoke data without value", []string{"invoke", "hello", "-d"}, "flag needs an argument: -d"},
		{"invoke missing data file", []string{"invoke", "hello", "-d", "@nope.json"}, "file not found: nope.json"},
		{"invoke bad method", []string{"invoke", "hello", "-X", "OPTIONS"}, "-X OPTIONS: the method must be"},
		{"invoke bad header", []string{"invoke", "hello", "-H", "no colon"}, `-H "no colon": want 'Name: value'`},
		{"invoke bad query", []string{"invoke", "hello", "--path", "/x?a=%zz"}, "--path: bad query"},
		{"get without name", []string{"get"}, "missing the function name"},
		{"get two names", []string{"get", "a", "b"}, "get takes one function name"},
		{"rm without name", []string{"rm"}, "missing the function name"},
		{"ls with argument", []string{"ls", "x"}, "ls takes no arguments"},
		{"up with argument", []string{"up", "now"}, "up takes no arguments"},
		{"help of unknown command", []string{"help", "nope"}, `unknown command "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--server", srv.URL, "--token", "t"}, tt.args...)
			if tt.args == nil {
				args = nil
			}
			stdout, stderr, code := runCLI(t, args...)
			if code != exitUsage {
				t.Errorf("exit code = %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

func TestUsageErrorNamesCommandHelp(t *testing.T) {
	isolate(t)
	_, stderr, code := runCLI(t, "deploy", "--memory", "x", "a.wasm")
	want := "error: invalid value \"x\" for flag -memory: parse error\nrun 'baton deploy --help' for usage\n"
	if code != exitUsage || stderr != want {
		t.Errorf("exit %d, stderr %q; want exit 2, %q", code, stderr, want)
	}
}

func TestUnreachable(t *testing.T) {
	isolate(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	for _, args := range [][]string{
		{"ls"},
		{"get", "hello"},
		{"rm", "hello"},
		{"invoke", "hello"},
		{"deploy", writeFile(t, "hello.wasm", wasm)},
	} {
		stdout, stderr, code := runCLI(t, append([]string{"--server", addr}, args...)...)
		want := "error: cannot reach baton at " + addr + ": connection refused (is \"baton up\" running?)\n"
		if code != exitFailed || stderr != want || stdout != "" {
			t.Errorf("baton %v: exit %d, stderr %q; want exit 1, %q", args, code, stderr, want)
		}
	}
}

func TestDefaultServerFromEnv(t *testing.T) {
	isolate(t)
	url, token := realNode(t)
	t.Setenv("BATON_SERVER", url)
	t.Setenv("BATON_TOKEN", token)
	stdout, _, code := runCLI(t, "ls")
	if code != exitOK || !strings.Contains(stdout, "no functions deployed") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
}

func TestTokenSources(t *testing.T) {
	home := isolate(t)
	url, token := realNode(t)
	tokenIn := func(dir, tok string) string {
		t.Helper()
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "token"), []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	custom := tokenIn(t.TempDir(), token)
	tokenIn(filepath.Join(home, ".baton"), token)
	wrong := tokenIn(t.TempDir(), "wrong")

	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string // in stderr
	}{
		{name: "flag", args: []string{"--token", token}},
		{name: "env", env: map[string]string{"BATON_TOKEN": token}},
		{name: "default data dir"},
		{name: "data-dir flag", args: []string{"--data-dir", custom}},
		{name: "data-dir env", env: map[string]string{"BATON_DATA_DIR": custom}},
		{name: "flag wins over file", args: []string{"--token", "wrong"}, code: 1,
			want: "; the token given by --token or $BATON_TOKEN was refused"},
		{name: "wrong file", args: []string{"--data-dir", wrong}, code: 1,
			want: "the token read from " + filepath.Join(wrong, "token") + " was refused"},
		{name: "no token", args: []string{"--data-dir", t.TempDir()}, code: 1, want: "no admin token: pass --token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, stderr, code := runCLI(t, append(append([]string{"--server", url}, tt.args...), "ls")...)
			if code != tt.code || !strings.Contains(stderr, tt.want) ||
				(code != 0 && tt.name != "no token" && !strings.HasPrefix(stderr, "error: unauthorized: missing or wrong bearer token")) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	isolate(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "COMMANDS:"},
		{[]string{"-h"}, "GLOBAL OPTIONS:"},
		{[]string{"help"}, "COMMANDS:"},
		{[]string{"help", "deploy"}, "baton deploy [command options] FILE.wasm"},
		{[]string{"deploy", "--help"}, "--max-queue"},
		{[]string{"invoke", "hello", "-h"}, "--include, -i"},
		{[]string{"up", "--help"}, "--nats-listen"},
	}
	for _, tt := range tests {
		stdout, stderr, code := runCLI(t, tt.args...)
		if code != exitOK || !strings.Contains(stdout, tt.want) || stderr != "" {
			t.Errorf("baton %v: exit %d, stderr %q; want exit 0 and %q in stdout", tt.args, code, stderr, tt.want)
		}
	}
}

func TestVersion(t *testing.T) {
	isolate(t)
	stdout, _, code := runCLI(t, "version")
	if code != exitOK || !strings.Contains(stdout, "version:") || !strings.Contains(stdout, "go1.") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	stdout, _, code = runCLI(t, "version", "-o", "json")
	if code != exitOK || !strings.Contains(stdout, `"go": "go1.`) {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
}

func TestReorderArgs(t *testing.T) {
	app := (&env{}).newApp()
	tests := []struct {
		in, want string
	}{
		{"ls", "ls"},
		{"ls -o json", "-o json ls"},
		{"-o json ls", "-o json ls"},
		{"--server=http://x ls --output=json", "--server=http://x --output=json ls"},
		{"deploy hello.wasm --name hi --env A=1", "deploy --name hi --env A=1 -- hello.wasm"},
		{"deploy --name hi hello.wasm", "deploy --name hi -- hello.wasm"},
		{"invoke hello -d - -i -H X:1", "invoke -d - -i -H X:1 -- hello"},
		{"invoke hello -d -i", "invoke -d -i -- hello"},
		{"invoke hello -d", "invoke -d"},
		{"ls -o", "-o"},
		{"invoke hello --token t -X PUT", "--token t invoke -X PUT -- hello"},
		{"invoke -- -weird", "invoke -- -weird"},
		{"invoke hello -- -d x", "invoke -- hello -d x"},
		{"invoke hello --bogus", "invoke --bogus -- hello"},
		{"deploy -h", "deploy -h"},
		{"nope -o json", "nope -o json"},
		{"-o", "-o"},
		{"", ""},
	}
	for _, tt := range tests {
		in := append([]string{"baton"}, strings.Fields(tt.in)...)
		want := append([]string{"baton"}, strings.Fields(tt.want)...)
		if got := reorderArgs(app, in); !reflect.DeepEqual(got, want) {
			t.Errorf("reorderArgs(%q) = %q, want %q", tt.in, got[1:], want[1:])
		}
	}
}

// TestParallelRuns checks that runs share no state (go test -race), so
// end-to-end tests may call run from parallel tests.
func TestParallelRuns(t *testing.T) {
	url, token := realNode(t)
	mod := writeFile(t, "hello.wasm", testutil.Module(t, "testdata/identity"))
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out, errOut bytes.Buffer
			args := [][]string{
				{"deploy", mod}, {"ls"}, {"invoke", "hello", "-d", "x"}, {"deploy", "--help"}, {"help"}, {"nope"},
			}[i%6]
			args = append([]string{"baton", "--server", url, "--token", token, "--data-dir", dir}, args...)
			run(context.Background(), args, strings.NewReader(""), &out, &errOut)
		}()
	}
	wg.Wait()
}
