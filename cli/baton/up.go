package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/baton-run/baton/internal/server"
	"github.com/urfave/cli/v2"
)

func (e *env) upCommand() *cli.Command {
	return &cli.Command{
		Name:  "up",
		Usage: "run a baton node: embedded NATS, HTTP gateway and admin API",
		Description: "Starts a node in the foreground and serves until interrupted (Ctrl-C).\n" +
			"The admin token is generated on first start and kept in <data-dir>/token.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "http", Usage: "listen address of the HTTP gateway and admin API", Value: "127.0.0.1:8080", EnvVars: []string{"BATON_HTTP"}},
			&cli.StringFlag{Name: "nats", Usage: "join the NATS server at this URL instead of embedding one", EnvVars: []string{"BATON_NATS"}},
			&cli.StringFlag{Name: "nats-listen", Usage: "client listen address of the embedded NATS server", Value: "127.0.0.1:4222"},
			&cli.StringFlag{Name: "cache-dir", Usage: "directory of compiled code (default <data-dir>/cache); may be shared between nodes of one machine", EnvVars: []string{"BATON_CACHE_DIR"}},
			&cli.BoolFlag{Name: "dev", Usage: "apply the examples' manifest (--manifest) at start"},
			&cli.StringFlag{Name: "manifest", Usage: "manifest applied by --dev", DefaultText: "baton.yaml next to --examples (functions/baton.yaml)"},
			&cli.StringFlag{Name: "examples", Usage: "directory of the built example modules", Value: "functions/build"},
			&cli.IntFlag{Name: "async-workers", Usage: "async invocations this node runs at once (-1: none, only accept them)", Value: 16},
			&cli.DurationFlag{Name: "async-ack-wait", Usage: "how soon the async work of a dead node goes to another", Value: 30 * time.Second},
			&cli.IntFlag{Name: "chain-workers", Usage: "chain work items (execution steps) this node handles at once", Value: 64},
			&cli.DurationFlag{Name: "chain-ack-wait", Usage: "how soon the chain executions of a dead node resume on another", Value: 30 * time.Second},
			&cli.DurationFlag{Name: "chain-history-retention", Usage: "how long chain execution history, and the record of an ended execution, are kept", Value: 7 * 24 * time.Hour},
			&cli.DurationFlag{Name: "result-retention", Usage: "how long async invocation records, results and idempotency keys are kept", Value: 24 * time.Hour},
			&cli.StringFlag{Name: "minio-endpoint", Usage: "host:port of the MinIO (S3) server of object triggers and object host functions", EnvVars: []string{"BATON_MINIO_ENDPOINT"}},
			&cli.StringFlag{Name: "minio-access-key", Usage: "MinIO access key", EnvVars: []string{"BATON_MINIO_ACCESS_KEY"}},
			&cli.StringFlag{Name: "minio-secret-key", Usage: "MinIO secret key", EnvVars: []string{"BATON_MINIO_SECRET_KEY"}},
			&cli.BoolFlag{Name: "minio-secure", Usage: "talk to MinIO over HTTPS", EnvVars: []string{"BATON_MINIO_SECURE"}},
			&cli.StringFlag{Name: "minio-subject", Usage: "NATS subject MinIO's JetStream notification target publishes to", Value: server.DefaultMinIOSubject, EnvVars: []string{"BATON_MINIO_SUBJECT"}},
			&cli.StringFlag{Name: "minio-arn", Usage: "ARN of that notification target", Value: server.DefaultMinIOARN, EnvVars: []string{"BATON_MINIO_ARN"}},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef(c, "up takes no arguments, got %q", c.Args().First())
			}
			dir := dataDir(c)
			if abs, err := filepath.Abs(dir); err == nil {
				dir = abs
			}
			cfg := server.Config{
				DataDir:     dir,
				HTTPAddr:    c.String("http"),
				NATSURL:     c.String("nats"),
				NATSListen:  c.String("nats-listen"),
				Dev:         c.Bool("dev"),
				DevManifest: c.String("manifest"),
				ExamplesDir: c.String("examples"),
				CacheDir:    c.String("cache-dir"),

				AsyncWorkers:          c.Int("async-workers"),
				AsyncAckWait:          c.Duration("async-ack-wait"),
				ResultRetention:       c.Duration("result-retention"),
				ChainWorkers:          c.Int("chain-workers"),
				ChainAckWait:          c.Duration("chain-ack-wait"),
				ChainHistoryRetention: c.Duration("chain-history-retention"),
				MinIO: server.MinIOConfig{
					Endpoint: c.String("minio-endpoint"), Secure: c.Bool("minio-secure"),
					AccessKey: c.String("minio-access-key"), SecretKey: c.String("minio-secret-key"),
					Subject: c.String("minio-subject"), ARN: c.String("minio-arn"),
				},
				Logger: slog.New(slog.NewTextHandler(e.stderr, nil)),
			}
			// server.Run, step by step, to print the bound address.
			s, err := server.New(cfg)
			if err != nil {
				return fmt.Errorf("starting baton: %w", err)
			}
			if err := s.Start(c.Context); err != nil {
				return fmt.Errorf("starting baton: %w", err)
			}
			fmt.Fprintf(e.stdout, "baton is up at http://%s (data in %s)\n", s.HTTPAddr(), dir)
			fmt.Fprintf(e.stdout, "admin token in %s; press Ctrl-C to stop\n", filepath.Join(dir, server.TokenFile))
			<-c.Context.Done()
			if err := s.Close(); err != nil {
				return fmt.Errorf("stopping baton: %w", err)
			}
			return nil
		},
	}
}
