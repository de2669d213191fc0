package testutil

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// BuildBaton builds the baton binary once per test process and returns its
// path. Tests that need baton as a separate process (to SIGKILL it) use it.
func BuildBaton(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "baton-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "baton")
		cmd := exec.Command("go", "build", "-o", buildBin, "./cli/baton")
		cmd.Dir = RepoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cli/baton: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Process is a baton node running as a child process.
type Process struct {
	t    testing.TB
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	// HTTP is the node's HTTP address; URL its base URL.
	HTTP, URL string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// StartNode runs `baton up` with args (plus --http on a free port) and
// waits until it answers /healthz. It is killed when the test ends.
func StartNode(t testing.TB, args ...string) *Process {
	t.Helper()
	bin := BuildBaton(t)
	addr := FreeAddr(t)
	p := &Process{t: t, out: &lockedBuffer{}, done: make(chan struct{}), HTTP: addr, URL: "http://" + addr}
	p.cmd = exec.Command(bin, append([]string{"up", "--http", addr}, args...)...)
	p.cmd.Dir = RepoRoot(t)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("output of baton up %v:\n%s", args, p.out.String())
		}
	})
	Eventually(t, 60*time.Second, "baton up to answer /healthz", func() bool {
		select {
		case <-p.done:
			t.Fatalf("baton up exited early:\n%s", p.out.String())
		default:
		}
		resp, err := http.Get(p.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// Kill sends SIGKILL and waits for the process to die.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits for a graceful exit.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.Kill()
	}
}

// Output is what the process printed so far.
func (p *Process) Output() string { return p.out.String() }
