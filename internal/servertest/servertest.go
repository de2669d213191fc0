// Package servertest starts real baton nodes for the tests of the
// packages that drive one (the client, the CLI, the manifest): an
// embedded NATS server with JetStream and the HTTP API on free ports.
package servertest

import (
	"context"
	"testing"

	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/testutil"
)

// Start starts a node configured by cfg, whose empty DataDir, HTTPAddr,
// NATSListen and CacheDir become a temporary directory, free ports on
// 127.0.0.1 and the tests' shared compilation cache. The node stops when
// the test ends.
func Start(t testing.TB, cfg server.Config) *server.Server {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:0"
	}
	if cfg.NATSListen == "" && cfg.NATSURL == "" {
		cfg.NATSListen = "127.0.0.1:-1"
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = testutil.CacheDir(t)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// URL is the base URL of srv's HTTP API.
func URL(srv *server.Server) string { return "http://" + srv.HTTPAddr() }
