package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/client"
	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/servertest"
	"github.com/baton-run/baton/internal/testutil"
)

// TestStatus deploys with the scaling flags on a real node and reads the
// pools back with `baton status`, as a table and as JSON.
func TestStatus(t *testing.T) {
	isolate(t)
	srv := servertest.Start(t, server.Config{ScaleInterval: 50 * time.Millisecond})
	t.Setenv("BATON_SERVER", "http://"+srv.HTTPAddr())
	t.Setenv("BATON_TOKEN", srv.Token())
	hello := filepath.Join(testutil.BuildDir(t), "hello.wasm")

	if out, _, code := runCLI(t, "status"); code != 0 || !strings.Contains(out, "no functions deployed") {
		t.Fatalf("status on an empty node: exit %d, %q", code, out)
	}
	if _, _, code := runCLI(t, "deploy", hello, "--name", "warm", "--min-instances", "2", "--idle-timeout", "1m"); code != 0 {
		t.Fatalf("deploy warm: exit %d", code)
	}
	if _, _, code := runCLI(t, "deploy", hello, "--name", "lazy"); code != 0 {
		t.Fatalf("deploy lazy: exit %d", code)
	}
	if out, _, code := runCLI(t, "get", "warm", "-o", "json"); code != 0 || !strings.Contains(out, `"minInstances": 2`) || !strings.Contains(out, `"idleTimeout": "1m0s"`) {
		t.Fatalf("get warm: exit %d, %q", code, out)
	}
	if _, _, code := runCLI(t, "invoke", "lazy", "-d", `{"name":"Ada"}`); code != 0 {
		t.Fatalf("invoke lazy: exit %d", code)
	}

	var st client.Status
	testutil.Eventually(t, 30*time.Second, "warm to be prewarmed", func() bool {
		out, _, code := runCLI(t, "status", "-o", "json")
		if code != 0 {
			t.Fatalf("status -o json: exit %d", code)
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status -o json: %v: %q", err, out)
		}
		return len(st.Functions) == 2 && st.Functions[1].Name == "warm" && st.Functions[1].Idle >= 2
	})
	lazy, warm := st.Functions[0], st.Functions[1]
	if st.Node != srv.NodeID() || lazy.Node != st.Node || warm.Node != st.Node {
		t.Fatalf("node ids: %q %q %q, want %q", st.Node, lazy.Node, warm.Node, srv.NodeID())
	}
	if lazy.Name != "lazy" || !lazy.Loaded || lazy.ColdStarts != 1 || lazy.ScaleFromZero != 1 || lazy.IdleTimeout != "5m0s" || lazy.MinInstances != 0 {
		t.Fatalf("lazy: %+v", lazy)
	}
	if warm.ColdStarts != 0 || warm.MinInstances != 2 || warm.IdleTimeout != "1m0s" {
		t.Fatalf("warm: %+v", warm)
	}

	out, _, code := runCLI(t, "status")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "NODE") {
		t.Fatalf("status: exit %d, %q", code, out)
	}
	for _, col := range []string{"FUNCTION", "WARM", "COLD", "FROM-ZERO", "SCALED-DOWN"} {
		at := strings.Index(lines[0], col)
		for _, l := range lines[1:] {
			if at < 0 || len(l) <= at || l[at-1] != ' ' || l[at] == ' ' {
				t.Fatalf("column %s is not aligned:\n%s", col, out)
			}
		}
	}
	if !strings.Contains(lines[1], "lazy") || !strings.Contains(lines[2], "warm") || !strings.HasPrefix(lines[1], srv.NodeID()) {
		t.Fatalf("status rows:\n%s", out)
	}

	// Bad flags are usage errors (exit 2) naming the flag.
	for _, args := range [][]string{
		{"deploy", hello, "--min-instances", "-1"},
		{"deploy", hello, "--min-instances", "3", "--max-instances", "2"},
		{"deploy", hello, "--idle-timeout", "10ms"},
		{"deploy", hello, "--idle-timeout", "soon"},
	} {
		flag := args[2]
		if _, errOut, code := runCLI(t, args...); code != 2 || !strings.Contains(errOut, flag) {
			t.Errorf("baton %s: exit %d, %q; want 2 naming %s", strings.Join(args, " "), code, errOut, flag)
		}
	}
	if _, _, code := runCLI(t, "status", "extra"); code != 2 {
		t.Errorf("status with an argument: exit %d, want 2", code)
	}
}
