package testutil

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// MinIO credentials of the servers MinIO starts.
const (
	MinIOUser     = "batonadmin"
	MinIOPassword = "batonsecret"
	// MinIOTarget is the id of the NATS notification target configured
	// on the server; bucket notifications use the ARN MinIOARN.
	MinIOTarget = "PRIMARY"
	MinIOARN    = "arn:minio:sqs::" + MinIOTarget + ":nats"
)

// MinIOServer is a MinIO server started by [MinIO] or [StartMinIO].
type MinIOServer struct {
	// Endpoint is host:port of the S3 API (plain HTTP).
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string
	// ARN is the bucket-notification ARN of the NATS target.
	ARN string
	// Log returns what the server wrote so far.
	Log func() string

	cmd  *exec.Cmd
	done chan struct{}
}

// Stop kills the server and waits for it to exit.
func (s *MinIOServer) Stop() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// MinIOBin is where `go tool task tools:minio` installs the pinned MinIO
// server, under the repository root.
func MinIOBin(repoRoot string) string {
	return filepath.Join(repoRoot, ".tools", "bin", "minio")
}

// MinIO starts the pinned MinIO server installed in .tools/bin (by `go
// tool task tools:minio`, a dependency of `go tool task test`) with
// [StartMinIO], its data in a test temp dir. The server is killed when
// the test ends. A missing binary fails the test: these tests must not be
// skipped silently.
func MinIO(t testing.TB, natsAddr, subject string) *MinIOServer {
	t.Helper()
	s, err := StartMinIO(MinIOBin(RepoRoot(t)), t.TempDir(), natsAddr, subject)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartMinIO starts the MinIO server bin on free loopback ports, with its
// data in dataDir and a JetStream notification target publishing bucket
// events to subject on the NATS server at natsAddr (host:port), and waits
// until it is ready. The stream on subject must exist before events are
// published. The caller stops it with [MinIOServer.Stop]. It is for the
// benchmarks program, which has no testing.TB; tests use [MinIO].
func StartMinIO(bin, dataDir, natsAddr, subject string) (*MinIOServer, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("MinIO is not installed at %s (%v): run `go tool task tools:minio`", bin, err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	console, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, "--console-address", console, dataDir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+MinIOUser,
		"MINIO_ROOT_PASSWORD="+MinIOPassword,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_NOTIFY_NATS_ENABLE_"+MinIOTarget+"=on",
		"MINIO_NOTIFY_NATS_ADDRESS_"+MinIOTarget+"="+natsAddr,
		"MINIO_NOTIFY_NATS_SUBJECT_"+MinIOTarget+"="+subject,
		"MINIO_NOTIFY_NATS_JETSTREAM_"+MinIOTarget+"=on",
	)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting MinIO: %w", err)
	}
	s := &MinIOServer{
		Endpoint: addr, AccessKey: MinIOUser, SecretKey: MinIOPassword,
		ARN: MinIOARN, Log: out.String, cmd: cmd, done: make(chan struct{}),
	}
	go func() { _ = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("MinIO exited while starting:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("MinIO did not become ready within 60s:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr is [FreeAddr] without a test.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
