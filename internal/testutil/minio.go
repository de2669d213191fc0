package testutil

import (
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

// MinIOServer is a MinIO server started by [MinIO].
type MinIOServer struct {
	// Endpoint is host:port of the S3 API (plain HTTP).
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string
	// ARN is the bucket-notification ARN of the NATS target.
	ARN string
	// Log returns what the server wrote so far.
	Log func() string
}

// MinIO starts the pinned MinIO server installed in .tools/bin (by `go
// tool task tools:minio`, a dependency of `go tool task test`) on free
// ports, with its data in a test temp dir and a JetStream notification
// target publishing bucket events to subject on the NATS server at
// natsAddr (host:port). The stream on subject must exist before events
// are published. The server is killed when the test ends. A missing
// binary fails the test: these tests must not be skipped silently.
func MinIO(t testing.TB, natsAddr, subject string) *MinIOServer {
	t.Helper()
	bin := filepath.Join(RepoRoot(t), ".tools", "bin", "minio")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("MinIO is not installed at %s (%v): run `go tool task tools:minio`", bin, err)
	}
	addr, console := FreeAddr(t), FreeAddr(t)
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, "--console-address", console, t.TempDir())
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
		t.Fatalf("starting MinIO: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-done:
			t.Fatalf("MinIO exited while starting:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("MinIO did not become ready within 60s:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &MinIOServer{
		Endpoint: addr, AccessKey: MinIOUser, SecretKey: MinIOPassword,
		ARN: MinIOARN, Log: out.String,
	}
}
