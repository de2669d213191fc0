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
	// AsyncWorkers is how many async invocations this node runs at once
	// (default 16; negative: none, the node only accepts them).
	AsyncWorkers int
	// AsyncAckWait is how long an async invocation may go without a sign
	// of life from its worker before another node gets it: how soon the
	// work of a killed node is redelivered (default 30s).
	AsyncAckWait time.Duration
	// ResultRetention is how long async invocation records, results and
	// idempotency keys are kept after their last update (default 24h).
	ResultRetention time.Duration
	// ChainWorkers is how many chain work items this node handles at once
	// (default 64).
	ChainWorkers int
	// ChainAckWait is how long a chain step may go without a sign of life
	// from its node before another node resumes the execution (default 30s).
	ChainAckWait time.Duration
	// ChainHistoryRetention is how long chain execution history is kept
	// (default 7 days).
	ChainHistoryRetention time.Duration
	// ScaleInterval is how often the scaler observes the instance pools,
	// prewarms and scales them down (default 1s).
	ScaleInterval time.Duration
	// ShutdownTimeout bounds a graceful stop (default 10s).
	ShutdownTimeout time.Duration
	// Logger receives the server log (default: slog.Default()).
	Logger *slog.Logger
}
