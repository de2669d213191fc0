// Package server assembles one baton node: NATS (embedded or joined), the
// function registry, the wasm engine and the HTTP gateway with the admin
// API.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/internal/async"
	"github.com/baton-run/baton/internal/chain"
	"github.com/baton-run/baton/internal/registry"
	"github.com/baton-run/baton/runtime"
)

// TokenFile is the name of the admin token file inside the data directory.
const TokenFile = "token"

// Version is the version of baton, set at build time with -ldflags.
var Version = "dev"

// Server is one running baton node.
type Server struct {
	cfg    Config
	log    *slog.Logger
	nodeID string

	ns     *natsserver.Server
	nc     *nats.Conn
	reg    *registry.Registry
	engine *runtime.Engine
	// objects serves the object host functions (objects.go); nil: none.
	objects runtime.ObjectStore
	token   string

	ln      net.Listener
	httpSrv *http.Server

	cancel context.CancelFunc
	runCtx context.Context // ends when Close starts
	// cluster is set once the node has joined (after its HTTP listener
	// starts serving): read it with peers().
	cluster atomic.Pointer[cluster]
	scaler  atomic.Pointer[scaler] // set by Start; read by the registry watch
	async   *async.Queue
	chains  *chain.Engine
	trig    *triggerState // triggers.go
	wg      sync.WaitGroup
	ready   atomic.Bool
	closed  atomic.Bool

	mu      sync.RWMutex
	fns     map[string]*registry.Function
	loaded  map[fnKey]*runtime.Function
	loading map[fnKey]*loadCall
}

type fnKey struct {
	name    string
	version int
}

type loadCall struct {
	done chan struct{}
	fn   *runtime.Function
	err  error
}

func (c *Config) setDefaults() error {
	if c.DataDir == "" {
		return errors.New("data dir: required")
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:8080"
	}
	if c.NATSListen == "" {
		c.NATSListen = "127.0.0.1:4222"
	}
	if c.ExamplesDir == "" {
		c.ExamplesDir = filepath.Join("functions", "build")
	}
	if c.CacheDir == "" {
		c.CacheDir = filepath.Join(c.DataDir, "cache")
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 2 * time.Second
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.MinIO.Subject == "" {
		c.MinIO.Subject = DefaultMinIOSubject
	}
	if c.MinIO.ARN == "" {
		c.MinIO.ARN = DefaultMinIOARN
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// New validates cfg and prepares a node; Start brings it up.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	objects, err := newObjectStore(&cfg)
	if err != nil {
		return nil, err
	}
	id := nuid.Next()
	return &Server{
		objects: objects,
		cfg:     cfg,
		nodeID:  id,
		log:     cfg.Logger.With("node", id[len(id)-6:]),
		fns:     map[string]*registry.Function{},
		loaded:  map[fnKey]*runtime.Function{},
		loading: map[fnKey]*loadCall{},
	}, nil
}

// Start starts NATS (or connects to it), the registry and the HTTP listener.
// It returns once the node is ready. On error, what was started is stopped.
func (s *Server) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	if s.token, err = loadOrCreateToken(filepath.Join(s.cfg.DataDir, TokenFile)); err != nil {
		return err
	}
	if err := s.connectNATS(); err != nil {
		return err
	}
	js, err := jetstream.New(s.nc)
	if err != nil {
		return fmt.Errorf("opening JetStream: %w", err)
	}
	if err := s.shareToken(ctx, js); err != nil {
		return err
	}
	if s.reg, err = registry.Open(ctx, js); err != nil {
		return err
	}
	s.engine, err = runtime.NewEngine(ctx, runtime.Config{
		CacheDir: s.cfg.CacheDir,
		Logger:   s.log,
	})
	if err != nil {
		return err
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s.runCtx, s.cancel = runCtx, cancel
	watchDone, err := s.reg.Watch(runCtx, s.onChange)
	if err != nil {
		return err
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); <-watchDone }()

	if err := s.startAsync(ctx, js); err != nil {
		return err
	}
	if err := s.startChains(ctx, js); err != nil {
		return err
	}
	if err := s.startTriggers(ctx, js); err != nil {
		return err
	}

	handler := s.routes()
	if s.cfg.Dev {
		if err := s.applyDevManifest(ctx, handler); err != nil {
			return err
		}
	}
	s.ln, err = net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.HTTPAddr, err)
	}
	s.httpSrv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.httpSrv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	if err := s.startCluster(ctx, js); err != nil {
		return err
	}
	s.startScaler()
	s.ready.Store(true)
	s.log.Info("baton ready", "http", "http://"+s.ln.Addr().String(), "nats", s.NATSURL(), "data_dir", s.cfg.DataDir, "version", Version)
	return nil
}

func (s *Server) connectNATS() error {
	opts := []nats.Option{nats.Name("baton " + s.nodeID), nats.MaxReconnects(-1)}
	if s.cfg.NATSURL != "" {
		nc, err := nats.Connect(s.cfg.NATSURL, opts...)
		if err != nil {
			return fmt.Errorf("connecting to NATS at %s: %w", s.cfg.NATSURL, err)
		}
		s.nc = nc
		return nil
	}
	host, portStr, err := net.SplitHostPort(s.cfg.NATSListen)
	if err != nil {
		return fmt.Errorf("nats listen address %q: %w", s.cfg.NATSListen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("nats listen address %q: bad port", s.cfg.NATSListen)
	}
	if port == 0 {
		port = -1
	}
	ns, err := natsserver.NewServer(&natsserver.Options{
		ServerName: "baton-" + s.nodeID,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(s.cfg.DataDir, "nats"),
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return fmt.Errorf("configuring embedded NATS: %w", err)
	}
	ns.Start()
	s.ns = ns
	if !ns.ReadyForConnections(30 * time.Second) {
		return fmt.Errorf("embedded NATS did not start listening on %s", s.cfg.NATSListen)
	}
	nc, err := nats.Connect(ns.ClientURL(), append(opts, nats.InProcessServer(ns))...)
	if err != nil {
		return fmt.Errorf("connecting to embedded NATS: %w", err)
	}
	s.nc = nc
	return nil
}

// HTTPAddr is the address the HTTP listener is bound to (after Start).
func (s *Server) HTTPAddr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// NATSURL is the client URL of the NATS server in use.
func (s *Server) NATSURL() string {
	if s.ns != nil {
		return s.ns.ClientURL()
	}
	return s.cfg.NATSURL
}

// Token is the admin bearer token (after Start).
func (s *Server) Token() string { return s.token }

// Close stops the node gracefully: it stops accepting requests, lets those
// in flight finish (up to the shutdown timeout) and closes everything.
func (s *Server) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.ready.Store(false)
	var errs []error
	if s.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping HTTP: %w", err))
		}
		cancel()
	} else if s.ln != nil {
		_ = s.ln.Close()
	}
	if err := s.stopTriggers(); err != nil {
		errs = append(errs, fmt.Errorf("stopping triggers: %w", err))
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.mu.Lock()
	loaded := s.loaded
	s.loaded = map[fnKey]*runtime.Function{}
	s.mu.Unlock()
	for _, f := range loaded {
		_ = f.Close(context.Background())
	}
	// The engine's compilation cache goes last: wait for the functions'
	// runtimes (a call still running holds its function's), within the
	// shutdown timeout.
	unloadCtx, cancelUnload := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	unloaded := true
	for _, f := range loaded {
		select {
		case <-f.Unloaded():
		case <-unloadCtx.Done():
			unloaded = false
		}
	}
	cancelUnload()
	if s.engine != nil && unloaded {
		errs = append(errs, s.engine.Close(context.Background()))
	}
	if s.nc != nil {
		_ = s.nc.Drain()
		s.nc.Close()
	}
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	}
	return errors.Join(errs...)
}

// Run starts a node and serves until ctx is cancelled, then stops it.
func Run(ctx context.Context, cfg Config) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	s.log.Info("baton stopping")
	return s.Close()
}

// shareToken makes every node of a cluster use one admin token: the first
// node stores its token in the KV bucket baton_config; a node that joins
// later adopts that token and writes it to its own token file.
func (s *Server) shareToken(ctx context.Context, js jetstream.JetStream) error {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      "baton_config",
		Description: "baton cluster settings",
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("opening KV bucket baton_config: %w", err)
	}
	if _, err := kv.Create(ctx, "admin-token", []byte(s.token)); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("storing the admin token: %w", err)
	}
	e, err := kv.Get(ctx, "admin-token")
	if err != nil {
		return fmt.Errorf("reading the cluster's admin token: %w", err)
	}
	if t := string(e.Value()); t != s.token {
		s.token = t
		if err := os.WriteFile(filepath.Join(s.cfg.DataDir, TokenFile), []byte(t+"\n"), 0o600); err != nil {
			return fmt.Errorf("writing token: %w", err)
		}
		s.log.Info("adopted the cluster's admin token", "file", filepath.Join(s.cfg.DataDir, TokenFile))
	}
	return nil
}

func loadOrCreateToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading token: %w", err)
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	t := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing token: %w", err)
	}
	return t, nil
}

// onChange keeps the local view of the registry current and unloads
// versions that nothing points at any more.
func (s *Server) onChange(c registry.Change) {
	s.mu.Lock()
	if c.Function == nil {
		delete(s.fns, c.Name)
	} else {
		s.fns[c.Name] = c.Function
	}
	var unload []*runtime.Function
	for k, f := range s.loaded {
		if k.name != c.Name {
			continue
		}
		if c.Function == nil || !referenced(c.Function, k.version) {
			unload = append(unload, f)
			delete(s.loaded, k)
		}
	}
	s.mu.Unlock()
	for _, f := range unload {
		_ = f.Close(context.Background())
	}
	s.kickScaler()
}

// referenced reports whether an alias or an alias's canary weights point
// at version, so that it stays loaded.
func referenced(fn *registry.Function, version int) bool {
	return fn.References(version)
}

// lookup finds the version an invocation of "name[:qualifier]" runs: a
// number is that version; an alias with canary weights (and a plain name
// when live has them) picks one at random by weight.
func (s *Server) lookup(ref string) (*registry.Function, *registry.Version, error) {
	name, qual, _ := strings.Cut(ref, ":")
	s.mu.RLock()
	fn := s.fns[name]
	s.mu.RUnlock()
	if fn == nil {
		return nil, nil, event.Errorf(event.CodeFunctionNotFound, "no function named %q", name)
	}
	v := fn.Route(qual, mrand.IntN(100))
	if v == nil {
		return nil, nil, event.Errorf(event.CodeFunctionNotFound, "function %q has no version or alias %q", name, qual)
	}
	return fn, v, nil
}

// function returns the loaded runtime function of a version, loading it
// (module from the object store, code from the compilation cache) once.
func (s *Server) function(ctx context.Context, name string, v *registry.Version) (*runtime.Function, error) {
	k := fnKey{name, v.Version}
	s.mu.RLock()
	f := s.loaded[k]
	s.mu.RUnlock()
	if f != nil {
		return f, nil
	}
	s.mu.Lock()
	if f := s.loaded[k]; f != nil {
		s.mu.Unlock()
		return f, nil
	}
	call := s.loading[k]
	if call == nil {
		call = &loadCall{done: make(chan struct{})}
		s.loading[k] = call
		s.mu.Unlock()
		call.fn, call.err = s.load(context.WithoutCancel(ctx), name, v)
		s.mu.Lock()
		delete(s.loading, k)
		if call.err == nil {
			if s.closed.Load() {
				_ = call.fn.Close(ctx)
				call.fn, call.err = nil, errors.New("node is stopping")
			} else {
				s.loaded[k] = call.fn
			}
		}
		s.mu.Unlock()
		close(call.done)
	} else {
		s.mu.Unlock()
		select {
		case <-call.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return call.fn, call.err
}

func (s *Server) load(ctx context.Context, name string, v *registry.Version) (*runtime.Function, error) {
	module, err := s.reg.Module(ctx, v.SHA256)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	f, err := s.engine.Load(ctx, module, runtime.Options{
		Name:      name,
		Version:   v.Version,
		Limits:    v.Spec.Limits(),
		Env:       v.Spec.Env,
		Buckets:   v.Spec.Buckets,
		Objects:   s.objects,
		Validated: true,
	})
	if err != nil {
		return nil, fmt.Errorf("loading %s version %d: %w", name, v.Version, err)
	}
	s.log.Debug("function loaded", "function", name, "version", v.Version, "took", time.Since(start))
	return f, nil
}

// deploy validates module against spec by loading it, then records it.
func (s *Server) deploy(ctx context.Context, spec registry.Spec, module []byte) (*registry.Deployment, error) {
	if err := spec.Validate(); err != nil {
		return nil, event.Errorf(event.CodeBadRequest, "spec: %v", err)
	}
	f, err := s.engine.Load(ctx, module, runtime.Options{Name: spec.Name, Limits: spec.Limits(), Env: spec.Env})
	if err != nil {
		return nil, err
	}
	mode := f.Info().Mode
	_ = f.Close(ctx)
	d, err := s.reg.Deploy(ctx, spec, module, string(mode))
	if err != nil {
		return nil, err
	}
	// Make the new version visible here at once; the watch confirms it.
	s.onChange(registry.Change{Name: d.Function.Name, Function: d.Function})
	return d, nil
}
