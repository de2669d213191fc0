package server

import (
	"log/slog"
	"time"
)

// Config is the configuration of one baton node, as given to `baton up`.
type Config struct {
	// DataDir holds the embedded NATS store, the compilation cache and the
	// admin token. Required.
	DataDir string
	// HTTPAddr is the listen address of the HTTP gateway and admin API
	// (default "127.0.0.1:8080"; port 0 picks a free port).
	HTTPAddr string
	// NATSURL, when set, joins an existing NATS server instead of starting
	// an embedded one.
	NATSURL string
	// NATSListen is the client listen address of the embedded NATS server
	// (default "127.0.0.1:4222"; port 0 or -1 picks a free port).
	NATSListen string
	// Dev deploys the example functions found in ExamplesDir at start.
	Dev bool
	// ExamplesDir holds the built example modules (default "functions/build").
	ExamplesDir string
	// CacheDir holds compiled code (default <DataDir>/cache).
	CacheDir string
	// HeartbeatInterval is how often the node announces itself and its
	// load to the cluster (default 2s).
	HeartbeatInterval time.Duration
	// ShutdownTimeout bounds a graceful stop (default 10s).
	ShutdownTimeout time.Duration
	// Logger receives the server log (default: slog.Default()).
	Logger *slog.Logger
}
