package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/servertest"
	"github.com/baton-run/baton/internal/testutil"
)

func TestReorderArgsSubcommands(t *testing.T) {
	app := (&env{}).newApp()
	tests := []struct {
		in, want string
	}{
		{"alias set hello canary 2 --weight 3=10", "alias set --weight 3=10 -- hello canary 2"},
		{"alias set hello live 2 --weight 3=10 --weight 4=5 -o json", "-o json alias set --weight 3=10 --weight 4=5 -- hello live 2"},
		{"alias ls hello -o json", "-o json alias ls -- hello"},
		{"alias rm hello live", "alias rm -- hello live"},
		{"alias set hello live 2 --weight", "alias set --weight"},
		{"alias nope x", "alias -- nope x"},
		{"rollback hello -o json", "-o json rollback -- hello"},
	}
	for _, tt := range tests {
		in := append([]string{"baton"}, strings.Fields(tt.in)...)
		want := append([]string{"baton"}, strings.Fields(tt.want)...)
		if got := reorderArgs(app, in); !reflect.DeepEqual(got, want) {
			t.Errorf("reorderArgs(%q) = %q, want %q", tt.in, got[1:], want[1:])
		}
	}
}

func TestParseWeight(t *testing.T) {
	tests := []struct {
		in       string
		v, p     int
		hasError bool
	}{
		{"4=10", 4, 10, false},
		{"4=10%", 4, 10, false},
		{"12=1", 12, 1, false},
		{"4", 0, 0, true},
		{"x=10", 0, 0, true},
		{"0=10", 0, 0, true},
		{"4=ten", 0, 0, true},
		{"4=", 0, 0, true},
		{"=10", 0, 0, true},
	}
	for _, tt := range tests {
		v, p, err := parseWeight(tt.in)
		if v != tt.v || p != tt.p || (err != nil) != tt.hasError {
			t.Errorf("parseWeight(%q) = %d, %d, %v", tt.in, v, p, err)
		}
	}
}

// TestVersionsAliasRollback drives versions, alias and rollback against a
// real node started in the test.
func TestVersionsAliasRollback(t *testing.T) {
	isolate(t)
	srv := servertest.Start(t, server.Config{})
	flags := []string{"--server", "http://" + srv.HTTPAddr(), "--token", srv.Token()}
	cli := func(args ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, append(append([]string{}, flags...), args...)...)
	}

	hello := filepath.Join(testutil.BuildDir(t), "hello.wasm")
	for _, greeting := range []string{"Hi", "Hello", "Hey"} {
		if _, errOut, code := cli("deploy", hello, "--name", "greet", "--env", "GREETING="+greeting); code != 0 {
			t.Fatalf("deploy: exit %d: %s", code, errOut)
		}
	}

	out, _, code := cli("alias", "set", "greet", "live", "2", "--weight", "3=10")
	if code != 0 || out != "live → version 2 (90%), version 3 (10%)\n" {
		t.Fatalf("alias set: exit %d, %q", code, out)
	}
	out, _, code = cli("alias", "set", "greet", "beta", "1")
	if code != 0 || out != "beta → version 1\n" {
		t.Fatalf("alias set beta: exit %d, %q", code, out)
	}

	out, _, code = cli("get", "greet")
	if code != 0 || !strings.Contains(out, "live=2 (version 2 (90%), version 3 (10%))") {
		t.Fatalf("get does not show the canary: exit %d, %q", code, out)
	}

	out, _, code = cli("versions", "greet")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if code != 0 || len(lines) != 4 {
		t.Fatalf("versions: exit %d, %q", code, out)
	}
	header := regexp.MustCompile(`^VERSION +SHA256 +SIZE +MODE +CREATED +ALIASES$`)
	if !header.MatchString(lines[0]) {
		t.Fatalf("versions header %q", lines[0])
	}
	col := strings.Index(lines[0], "ALIASES") // the header is ASCII; the hashes end in "…"
	wantAliases := []string{"beta", "live 90%", "latest, live 10%"}
	for i, l := range lines[1:] {
		r := []rune(l)
		if len(r) < col || strings.TrimSpace(string(r[col:])) != wantAliases[i] || r[col-1] != ' ' {
			t.Errorf("versions line %d %q: want aliases %q in the ALIASES column\n%s", i+1, l, wantAliases[i], out)
		}
		if !strings.Contains(l, "reactor") {
			t.Errorf("versions line %q has no mode", l)
		}
	}
	out, _, code = cli("versions", "greet", "-o", "json")
	var vs []struct {
		Version int
		Aliases []string
	}
	if err := json.Unmarshal([]byte(out), &vs); err != nil || code != 0 || len(vs) != 3 || vs[2].Aliases[0] != "latest" {
		t.Fatalf("versions -o json: exit %d, %v, %q", code, err, out)
	}

	out, _, code = cli("alias", "ls", "greet")
	want := "ALIAS   VERSION  ROUTING\n" +
		"beta    1        -\n" +
		"latest  3        -\n" +
		"live    2        version 2 (90%), version 3 (10%)\n"
	if code != 0 || out != want {
		t.Fatalf("alias ls: exit %d\n%s\nwant\n%s", code, out, want)
	}
	out, _, code = cli("alias", "ls", "greet", "-o", "json")
	var as []struct {
		Name    string
		Version int
		Weights map[int]int
	}
	if err := json.Unmarshal([]byte(out), &as); err != nil || code != 0 || len(as) != 3 || as[2].Weights[3] != 10 {
		t.Fatalf("alias ls -o json: exit %d, %v, %q", code, err, out)
	}

	// Rollback moves live from 2 to 1, then there is nothing before.
	out, _, code = cli("rollback", "greet")
	if code != 0 || out != "live → version 1 (was 2)\n" {
		t.Fatalf("rollback: exit %d, %q", code, out)
	}
	out, _, code = cli("invoke", "greet", "-d", `{"name":"you"}`)
	if code != 0 || !strings.Contains(out, "Hi, you!") {
		t.Fatalf("invoke after rollback: exit %d, %q", code, out)
	}
	_, errOut, code := cli("rollback", "greet")
	if code != 1 || !strings.Contains(errOut, "bad_request") || !strings.Contains(errOut, "version 1") {
		t.Fatalf("rollback at version 1: exit %d, %q", code, errOut)
	}

	out, _, code = cli("alias", "rm", "greet", "live")
	if code != 0 || out != "removed alias live of greet\n" {
		t.Fatalf("alias rm: exit %d, %q", code, out)
	}
	out, _, code = cli("invoke", "greet", "-d", `{"name":"you"}`)
	if code != 0 || !strings.Contains(out, "Hey, you!") {
		t.Fatalf("invoke without live: exit %d, %q", code, out)
	}
	out, _, code = cli("rollback", "greet", "-o", "json")
	var rb struct {
		Alias    string
		From, To int
	}
	if err := json.Unmarshal([]byte(out), &rb); err != nil || code != 0 || rb.From != 3 || rb.To != 2 {
		t.Fatalf("rollback -o json without live: exit %d, %q", code, out)
	}

	// Errors: the server's (exit 1) and the command line's (exit 2).
	errors := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"alias", "set", "greet", "live", "9"}, 1, "version 9"},
		{[]string{"alias", "set", "greet", "live", "1", "--weight", "2=100"}, 1, "weights"},
		{[]string{"alias", "set", "greet", "latest", "1"}, 1, "reserved"},
		{[]string{"alias", "rm", "greet", "nope"}, 1, "not_found"},
		{[]string{"alias", "ls", "nope"}, 1, "function_not_found"},
		{[]string{"versions", "nope"}, 1, "function_not_found"},
		{[]string{"alias", "set", "greet", "live", "x"}, 2, "VERSION"},
		{[]string{"alias", "set", "greet", "live"}, 2, "NAME ALIAS VERSION"},
		{[]string{"alias", "set", "greet", "live", "1", "--weight", "2"}, 2, "VERSION=PERCENT"},
		{[]string{"alias", "set", "greet", "live", "1", "--weight", "2=5", "--weight", "2=6"}, 2, "twice"},
		{[]string{"alias", "rm", "greet"}, 2, "NAME ALIAS"},
		{[]string{"alias"}, 2, "set, rm or ls"},
		{[]string{"alias", "frob"}, 2, "frob"},
		{[]string{"versions"}, 2, "function name"},
		{[]string{"rollback", "a", "b"}, 2, "one function name"},
	}
	for _, tt := range errors {
		_, errOut, code := cli(tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.msg) {
			t.Errorf("baton %s: exit %d, %q; want exit %d naming %q", strings.Join(tt.args, " "), code, errOut, tt.code, tt.msg)
		}
	}
}
