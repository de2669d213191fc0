package main

// http_warm_rps and http_warm_p99: a real baton node (embedded NATS,
// registry, HTTP gateway) serving GET /fn/ping, versus a net/http hello
// world answering "pong", both driven by the same closed-loop load
// generator in this process over loopback keep-alive connections.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/baton-run/baton/internal/server"
)

// loadResult is one round of load on one target.
type loadResult struct {
	rps float64
	p99 float64 // µs
	p50 float64 // µs
	// cpu is the process's CPU time per request in µs (load generator
	// and server together), or 0 when unknown.
	cpu float64
}

// loadGen drives one URL with a fixed number of keep-alive clients.
type loadGen struct {
	url     string
	clients int
	client  *http.Client
}

func newLoadGen(url string, clients int) *loadGen {
	tr := &http.Transport{
		MaxIdleConns:        clients,
		MaxIdleConnsPerHost: clients,
		MaxConnsPerHost:     clients,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &loadGen{url: url, clients: clients, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func (g *loadGen) close() { g.client.CloseIdleConnections() }

// get does one request and checks the answer is 200 "pong".
func (g *loadGen) get(ctx context.Context, buf *bytes.Buffer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url, nil)
	if err != nil {
		return err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || buf.String() != "pong" {
		return fmt.Errorf("GET %s: %s %q", g.url, resp.Status, buf.Bytes())
	}
	return nil
}

// round runs the closed loop for d: every client sends its next request
// as soon as the previous one is answered. It stops by itself after d.
func (g *loadGen) round(ctx context.Context, d time.Duration) (loadResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d+15*time.Second)
	defer cancel()
	type worker struct {
		lat []time.Duration
		err error
	}
	ws := make([]worker, g.clients)
	var wg sync.WaitGroup
	cpu0, cpuOK := processCPU()
	start := time.Now()
	deadline := start.Add(d)
	for i := range ws {
		w := &ws[i]
		w.lat = make([]time.Duration, 0, 1<<14)
		wg.Go(func() {
			pprof.SetGoroutineLabels(pprof.WithLabels(ctx, profileSide("load")))
			var buf bytes.Buffer
			for {
				t0 := time.Now()
				if !t0.Before(deadline) || ctx.Err() != nil {
					return
				}
				// A failed request makes the round invalid: stop at once.
				if w.err = g.get(ctx, &buf); w.err != nil {
					return
				}
				w.lat = append(w.lat, time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, _ := processCPU()
	var all []time.Duration
	var res loadResult
	for _, w := range ws {
		if w.err != nil {
			return res, fmt.Errorf("load generator: %w", w.err)
		}
		all = append(all, w.lat...)
	}
	if len(all) == 0 {
		return res, errors.New("load generator: no request completed")
	}
	res.rps = float64(len(all)) / elapsed.Seconds()
	res.p99 = durationsPercentile(all, 99, time.Microsecond)
	res.p50 = durationsPercentile(all, 50, time.Microsecond)
	if cpuOK {
		res.cpu = float64((cpu1-cpu0)/time.Nanosecond) / 1e3 / float64(len(all))
	}
	return res, nil
}

// warm sends a few requests per client to open the connections and warm
// the instances.
func (g *loadGen) warm(ctx context.Context) error {
	_, err := g.round(ctx, 500*time.Millisecond)
	return err
}

// profileSide labels goroutines in a -cpuprofile by the side they work
// for ("baseline", "baton", "load"), so that
//
//	go tool pprof -tagfocus side=baton -top cpu.out
//
// shows what the node alone spent. Goroutines inherit labels from the
// goroutine that starts them.
func profileSide(side string) pprof.LabelSet { return pprof.Labels("side", side) }

// startBaseline serves the hello world on a loopback port.
func startBaseline() (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	pong := []byte("pong")
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(pong)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Its connections' goroutines inherit the label (see profileSide).
		pprof.Do(context.Background(), profileSide("baseline"), func(context.Context) { _ = srv.Serve(ln) })
	}()
	return "http://" + ln.Addr().String() + "/", func() {
		_ = srv.Close()
		<-done
	}, nil
}

// startNode starts a baton node in a temp dir and deploys ping.
func startNode(ctx context.Context, ping []byte) (url string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "baton-bench-node")
	if err != nil {
		return "", nil, err
	}
	srv, err := server.New(server.Config{
		DataDir:    dir,
		HTTPAddr:   "127.0.0.1:0",
		NATSListen: "127.0.0.1:-1",
		Logger:     discardLogger(),
	})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop = func() {
		_ = srv.Close()
		os.RemoveAll(dir)
	}
	// Every goroutine Start spawns (HTTP, NATS, scaler…) and theirs
	// inherit the label.
	pprof.Do(ctx, profileSide("baton"), func(ctx context.Context) { err = srv.Start(ctx) })
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("starting the baton node: %w", err)
	}
	base := "http://" + srv.HTTPAddr()
	if err := deploy(ctx, base, srv.Token(), "ping", ping); err != nil {
		stop()
		return "", nil, err
	}
	return base + "/fn/ping", stop, nil
}

// deploy POSTs a function as the CLI does (docs/http-api.md).
func deploy(ctx context.Context, base, token, name string, module []byte) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	spec, _ := json.Marshal(map[string]string{"name": name})
	if err := mw.WriteField("spec", string(spec)); err != nil {
		return err
	}
	part, err := mw.CreateFormFile("module", name+".wasm")
	if err != nil {
		return err
	}
	_, _ = part.Write(module)
	if err := mw.Close(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/functions", &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("deploying %s: %w", name, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("deploying %s: %s: %s", name, resp.Status, msg)
	}
	return nil
}

func runHTTP(ctx context.Context, c *config) ([]result, error) {
	ping, err := readModule(c.modulesDir, "ping")
	if err != nil {
		return nil, err
	}
	baseURL, stopBase, err := startBaseline()
	if err != nil {
		return nil, err
	}
	defer stopBase()
	nodeURL, stopNode, err := startNode(ctx, ping)
	if err != nil {
		return nil, err
	}
	defer stopNode()
	base, node := newLoadGen(baseURL, c.clients), newLoadGen(nodeURL, c.clients)
	defer base.close()
	defer node.close()
	if err := errors.Join(base.warm(ctx), node.warm(ctx)); err != nil {
		return nil, err
	}
	bs, ns, err := interleave(c.rounds,
		func() (loadResult, error) { return base.round(ctx, c.duration) },
		func() (loadResult, error) { return node.round(ctx, c.duration) })
	if err != nil {
		return nil, err
	}
	values := func(rs []loadResult, f func(loadResult) float64) []float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		return xs
	}
	field := func(rs []loadResult, f func(loadResult) float64) float64 { return median(values(rs, f)) }
	rps := func(r loadResult) float64 { return r.rps }
	p99 := func(r loadResult) float64 { return r.p99 }
	p50 := func(r loadResult) float64 { return r.p50 }
	list := func(rs []loadResult, f func(loadResult) float64) string {
		var out []string
		for _, r := range rs {
			out = append(out, formatNum(f(r)))
		}
		return strings.Join(out, " ")
	}
	detail := fmt.Sprintf("median of %d rounds of %s per side, %d keep-alive clients, GET /fn/ping vs net/http hello world; rounds: baseline [%s], baton [%s]",
		c.rounds, c.duration, c.clients, list(bs, rps), list(ns, rps))
	// Throughput: higher is better, so the target is a lower bound on
	// baton/baseline.
	r1 := pairedResult("http_warm_rps", "req/s", values(bs, rps), values(ns, rps), atLeast(0.85))
	r1.Note = joinNotes(detail, r1.Note)
	if cpu := func(r loadResult) float64 { return r.cpu }; field(bs, cpu) > 0 {
		r1.Note = joinNotes(r1.Note, fmt.Sprintf("process CPU per request (load generator included): baseline %s us, baton %s us",
			formatNum(field(bs, cpu)), formatNum(field(ns, cpu))))
	}
	r2 := pairedResult("http_warm_p99", "us", values(bs, p99), values(ns, p99), atMost(1.5))
	r2.Note = joinNotes(fmt.Sprintf("p50 baseline %s us, baton %s us; rounds: baseline [%s], baton [%s]",
		formatNum(field(bs, p50)), formatNum(field(ns, p50)), list(bs, p99), list(ns, p99)), r2.Note)
	return []result{r1, r2}, nil
}
