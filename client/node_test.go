package client_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/baton-run/baton/client"
	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/servertest"
)

// realNode starts a baton node (embedded NATS, HTTP on a free port),
// closed when the test ends, and returns its URL and admin token.
func realNode(t *testing.T) (url, token string) {
	t.Helper()
	srv := servertest.Start(t, server.Config{})
	return "http://" + srv.HTTPAddr(), srv.Token()
}

// newClient returns a client of url with token, failing the test on error.
func newClient(t *testing.T, url, token string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, token, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mustDeploy deploys module with spec, failing the test on error.
func mustDeploy(t *testing.T, c *client.Client, spec client.Spec, module []byte) *client.DeployResult {
	t.Helper()
	res, err := c.Deploy(context.Background(), spec, bytes.NewReader(module))
	if err != nil {
		t.Fatalf("deploying %s: %v", spec.Name, err)
	}
	return res
}

// withCustomSection returns a copy of mod with a custom section "pad"
// holding payload appended: still a valid module, with other bytes (so a
// new version when deployed again), and as large as payload makes it.
func withCustomSection(mod, payload []byte) []byte {
	const name = "pad"
	content := binary.AppendUvarint(nil, uint64(len(name))) // LEB128, as wasm encodes sizes
	content = append(append(content, name...), payload...)
	out := append(append([]byte{}, mod...), 0) // section id 0: custom
	out = binary.AppendUvarint(out, uint64(len(content)))
	return append(out, content...)
}

// sent is a request as the client sent it to the real node.
type sent struct {
	method, path string
	header       http.Header
	body         []byte
}

// recorder is an http.RoundTripper in front of the default transport
// that keeps a copy of every request, for what only the wire shows (the
// server strips the token before a guest could see it, and does not care
// about the order of the deploy parts).
type recorder struct {
	mu   sync.Mutex
	reqs []sent
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, sent{method: req.Method, path: req.URL.Path, header: req.Header.Clone(), body: body})
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// take returns the requests recorded since the last take.
func (r *recorder) take() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}
