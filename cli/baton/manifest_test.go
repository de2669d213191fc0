package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/servertest"
	"github.com/baton-run/baton/internal/testutil"
)

// TestDeployManifestInvalid: an invalid manifest is exit code 2 with
// FILE:LINE: field: message.
func TestDeployManifestInvalid(t *testing.T) {
	isolate(t)
	path := writeFile(t, "baton.yaml", []byte("functions:\n  - name: a\n    wasm: a.wasm\n    memroy: 3\n"))
	_, stderr, code := runCLI(t, "deploy", "-f", path)
	if code != exitUsage || !strings.Contains(stderr, "baton.yaml:4: functions[0].memroy: unknown field") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestInitDeployInvoke scaffolds a function with `baton init`, deploys it
// with `baton deploy -f` (building the Go package) on a real node, twice
// (the second is all unchanged), and invokes it.
func TestInitDeployInvoke(t *testing.T) {
	isolate(t)
	srv := servertest.Start(t, server.Config{})
	t.Setenv("BATON_SERVER", "http://"+srv.HTTPAddr())
	t.Setenv("BATON_TOKEN", srv.Token())

	// Inside the module (the scaffold imports the SDK), in a directory
	// that ./... skips.
	parent, err := os.MkdirTemp(filepath.Join(testutil.RepoRoot(t), "functions"), "_init-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(parent) })

	out, _, code := runCLI(t, "init", "greeter", "--dir", parent)
	if code != 0 || !strings.Contains(out, "deploy -f") {
		t.Fatalf("init: exit %d %q", code, out)
	}
	for _, f := range []string{"main.go", "main_test.go", "baton.yaml"} {
		if _, err := os.Stat(filepath.Join(parent, "greeter", f)); err != nil {
			t.Fatal(err)
		}
	}
	if _, stderr, code := runCLI(t, "init", "greeter", "--dir", parent); code != exitUsage {
		t.Fatalf("init over an existing dir: exit %d %q", code, stderr)
	}
	manifest := filepath.Join(parent, "greeter", "baton.yaml")
	out, stderr, code := runCLI(t, "deploy", "-f", manifest)
	if code != 0 || out != "created function greeter\ncreated trigger greeter--greeter-nats\n" {
		t.Fatalf("deploy -f: exit %d %q %q", code, out, stderr)
	}
	out, _, code = runCLI(t, "deploy", "-f", manifest, "-o", "json")
	var res struct {
		Project string `json:"project"`
		Results []struct{ Action, Kind, Name string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Project != "greeter" || len(res.Results) != 2 ||
		res.Results[0].Action != "unchanged" || res.Results[1].Action != "unchanged" {
		t.Fatalf("second deploy -f -o json: exit %d %q", code, out)
	}
	out, _, code = runCLI(t, "invoke", "greeter", "-d", "hi")
	if code != 0 || out != "Hello from greeter: hi" {
		t.Fatalf("invoke: exit %d %q", code, out)
	}
}

// TestInitOutsideTheModule scaffolds a function outside any Go module,
// pointed at this checkout with --sdk: its go.mod makes it build and test
// on its own.
func TestInitOutsideTheModule(t *testing.T) {
	// The go commands below share this machine's module and build caches
	// (isolate moves HOME, where they live by default).
	goEnv := os.Environ()
	for _, v := range []string{"GOMODCACHE", "GOCACHE"} {
		out, err := exec.Command("go", "env", v).Output()
		if err != nil {
			t.Fatal(err)
		}
		goEnv = append(goEnv, v+"="+strings.TrimSpace(string(out)))
	}
	isolate(t)
	parent := t.TempDir()
	if _, stderr, code := runCLI(t, "init", "solo", "--dir", parent, "--sdk", parent); code != exitUsage || !strings.Contains(stderr, "not a checkout of") {
		t.Fatalf("--sdk to a non-checkout: exit %d %q", code, stderr)
	}
	// A test binary is a development build: without --sdk it knows no
	// release of the SDK to require.
	if _, stderr, code := runCLI(t, "init", "solo", "--dir", parent); code != exitUsage || !strings.Contains(stderr, "--sdk") {
		t.Fatalf("init outside a module without --sdk: exit %d %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(parent, "solo")); !os.IsNotExist(err) {
		t.Fatalf("a failed init left %s: %v", filepath.Join(parent, "solo"), err)
	}
	out, _, code := runCLI(t, "init", "solo", "--dir", parent, "--sdk", testutil.RepoRoot(t))
	if code != 0 || !strings.Contains(out, "go mod tidy") {
		t.Fatalf("init: exit %d %q", code, out)
	}
	dir := filepath.Join(parent, "solo")
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || !strings.Contains(string(gomod), "module solo\n") || !strings.Contains(string(gomod), "replace github.com/baton-run/baton => "+testutil.RepoRoot(t)) {
		t.Fatalf("go.mod %q %v", gomod, err)
	}
	for _, args := range [][]string{{"mod", "tidy"}, {"test", "./..."}, {"vet", "./..."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(goEnv, "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s in the scaffold: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
