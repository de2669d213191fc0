package server

import (
	"log/slog"
	"time"

	"github.com/baton-run/baton/internal/chain"
	"github.com/baton-run/baton/scheduler/asl"
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
	// Dev applies the examples' manifest (DevManifest) at start, through
	// the admin API in-process, before the node listens.
	Dev bool
	// ExamplesDir holds the built example modules (default "functions/build").
	ExamplesDir string
	// DevManifest is the manifest Dev applies (default baton.yaml in the
	// parent of ExamplesDir: functions/baton.yaml).
	DevManifest string
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
	// ChainClock tells chain executions the time (default: the system
	// clock). Any other clock is virtual: Wait states and retry delays are
	// slept on it inline (the conformance runner uses asl.InstantClock).
	ChainClock asl.Clock
	// ChainInvoke, when set, runs the Task states of chains instead of
	// the node's InvokeTask (it may wrap it: the conformance runner maps
	// recorded Lambda names to stand-in functions).
	ChainInvoke chain.InvokeFunc
	// ScaleInterval is how often the scaler observes the instance pools,
	// prewarms and scales them down (default 1s).
	ScaleInterval time.Duration
	// MinIO is the node's S3-compatible object store: the object trigger
	// kind and the object host functions use it (docs/triggers.md).
	// Endpoint empty: none.
	MinIO MinIOConfig
	// ShutdownTimeout bounds a graceful stop (default 10s).
	ShutdownTimeout time.Duration
	// Logger receives the server log (default: slog.Default()).
	Logger *slog.Logger
}

// Defaults of MinIOConfig.
const (
	DefaultMinIOSubject = "baton.minio.events"
	DefaultMinIOARN     = "arn:minio:sqs::PRIMARY:nats"
)

// MinIOConfig locates the node's MinIO server and its NATS notification
// target.
type MinIOConfig struct {
	// Endpoint is host:port of the S3 API; Secure selects HTTPS.
	Endpoint string
	Secure   bool
	// AccessKey and SecretKey are the credentials baton uses (never put
	// in trigger or function specs).
	AccessKey, SecretKey string
	// Subject is the subject MinIO's JetStream target publishes to
	// (MINIO_NOTIFY_NATS_SUBJECT_<ID>; default "baton.minio.events"), ARN
	// that target's ARN (default "arn:minio:sqs::PRIMARY:nats").
	Subject string
	ARN     string
}
