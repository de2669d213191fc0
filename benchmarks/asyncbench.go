package main

// async_throughput_1node, async_throughput_2nodes: completed async
// invocations per second of ping. Baton: real nodes (internal/server) in
// this process, ping deployed with an onSuccess destination on a NATS
// subject; 32 clients submit POST /fn/ping with Prefer: respond-async
// (each answered 202 once stored) and a subscription on the destination
// subject counts the completions: a round is over when the succeeded
// record of every invocation it submitted has arrived. Two nodes share the
// first one's embedded NATS server; the clients alternate between them.
//
// The baseline is the floor of the same round trip with no wasm and no
// invocation records: the same number of publishers storing a job (an
// acked JetStream publish into a work-queue stream, with a message id, as
// baton's submission ends) on the same NATS server, and per node one
// connection pulling it with as many workers as a node has, each decoding
// the job, double-acking it and publishing a result, counted the same way.
// For two nodes the baseline has two such consumers on the one durable
// consumer, as the two nodes share one.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/baton-run/baton/internal/async"
	"github.com/baton-run/baton/internal/server"
)

const (
	asyncPerRound   = 3000 // invocations per round, each side
	asyncRounds     = 6    // per side and node count (even: ABBA balanced)
	asyncWorkers    = 16   // per node: server.Config.AsyncWorkers' default
	asyncDoneSubj   = "bench.done"
	floorStream     = "BENCH_FLOOR"
	floorSubject    = "benchfloor.jobs.ping"
	floorDoneSubj   = "benchfloor.done"
	asyncRoundLimit = 60 * time.Second
)

// doneCounter counts the distinct invocation ids published on a subject
// and tells a waiting round when all of its ids have arrived.
type doneCounter struct {
	mu       sync.Mutex
	seen     map[string]struct{}
	pending  map[string]struct{}
	done     chan struct{}
	finished time.Time // when the last pending id arrived
	bad      error
}

func newDoneCounter() *doneCounter { return &doneCounter{seen: map[string]struct{}{}} }

// handle is the subscription callback: the message is a JSON object with
// the invocation's "id" (baton: its record; baseline: a small result).
func (c *doneCounter) handle(m *nats.Msg) {
	var rec struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	err := json.Unmarshal(m.Data, &rec)
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil || rec.ID == "" || rec.Status != string(async.StatusSucceeded) {
		if c.bad == nil {
			c.bad = fmt.Errorf("unexpected completion message on %s: %.200s", m.Subject, m.Data)
		}
		return
	}
	if _, dup := c.seen[rec.ID]; dup {
		return
	}
	c.seen[rec.ID] = struct{}{}
	if c.pending == nil {
		return
	}
	delete(c.pending, rec.ID)
	if len(c.pending) == 0 {
		c.pending = nil
		c.finished = now
		close(c.done)
	}
}

// waitAll waits until every id has arrived and returns when the last did.
func (c *doneCounter) waitAll(ctx context.Context, ids []string, limit time.Duration) (time.Time, error) {
	c.mu.Lock()
	pending := map[string]struct{}{}
	for _, id := range ids {
		if _, ok := c.seen[id]; !ok {
			pending[id] = struct{}{}
		}
	}
	done := make(chan struct{})
	if len(pending) == 0 {
		c.finished = time.Now()
		close(done)
	} else {
		c.pending, c.done = pending, done
	}
	c.mu.Unlock()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-done:
		return c.finished, nil
	default:
	}
	missing := len(c.pending)
	c.pending, c.done = nil, nil
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	return time.Time{}, errors.Join(c.bad, fmt.Errorf("%d of %d invocations did not complete within %s", missing, len(ids), limit))
}

// asyncRound is one measured round of one side.
type asyncRound struct {
	rate float64 // completed invocations/s
	cpu  float64 // process CPU µs per invocation, 0 when unknown
}

// measureAsync submits n invocations with clients goroutines (submit(i)
// returns the id of the i-th client's next one) and waits for all of
// them to complete on c.
func measureAsync(ctx context.Context, c *doneCounter, n, clients int, submit func(ctx context.Context, client int) (string, error)) (asyncRound, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cpu0, cpuOK := processCPU()
	start := time.Now()
	ids := make([][]string, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for k := range clients {
		count := n / clients
		if k < n%clients {
			count++
		}
		wg.Go(func() {
			pprof.SetGoroutineLabels(pprof.WithLabels(ctx, profileSide("load")))
			for range count {
				id, err := submit(ctx, k)
				if err != nil {
					errs[k] = err
					cancel()
					return
				}
				ids[k] = append(ids[k], id)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return asyncRound{}, err
	}
	var all []string
	for _, xs := range ids {
		all = append(all, xs...)
	}
	end, err := c.waitAll(ctx, all, asyncRoundLimit)
	if err != nil {
		return asyncRound{}, err
	}
	cpu1, _ := processCPU()
	r := asyncRound{rate: float64(n) / end.Sub(start).Seconds()}
	if cpuOK {
		r.cpu = float64((cpu1-cpu0)/time.Nanosecond) / 1e3 / float64(n)
	}
	return r, nil
}

// asyncNodes is a cluster of baton nodes in this process with ping
// deployed, and a subscription counting its completions.
type asyncNodes struct {
	nodes   []*server.Server
	dirs    []string
	urls    []string // each node's /fn/ping
	client  *http.Client
	nc      *nats.Conn
	counter *doneCounter
}

// addNode starts one more node: the first with an embedded NATS
// server, the next ones on it.
func (a *asyncNodes) addNode(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "baton-bench-async")
	if err != nil {
		return err
	}
	a.dirs = append(a.dirs, dir)
	cfg := server.Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", AsyncWorkers: asyncWorkers, Logger: discardLogger()}
	if len(a.nodes) == 0 {
		cfg.NATSListen = "127.0.0.1:-1"
	} else {
		cfg.NATSURL = a.nodes[0].NATSURL()
	}
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	pprof.Do(ctx, profileSide("baton"), func(ctx context.Context) { err = srv.Start(ctx) })
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("starting baton node %d: %w", len(a.nodes)+1, err)
	}
	a.nodes = append(a.nodes, srv)
	a.urls = append(a.urls, "http://"+srv.HTTPAddr()+"/fn/ping")
	return nil
}

func (a *asyncNodes) close() {
	if a.nc != nil {
		a.nc.Close()
	}
	if a.client != nil {
		a.client.CloseIdleConnections()
	}
	for i := len(a.nodes) - 1; i >= 0; i-- {
		_ = a.nodes[i].Close()
	}
	for _, d := range a.dirs {
		os.RemoveAll(d)
	}
}

// submit queues one invocation on the node of the given client.
func (a *asyncNodes) submit(ctx context.Context, client int) (string, error) {
	return a.submitTo(ctx, a.urls[client%len(a.urls)])
}

func (a *asyncNodes) submitTo(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Prefer", "respond-async")
	resp, err := a.client.Do(req)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	var v struct{ ID string }
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(body, &v) != nil || v.ID == "" {
		return "", &submitError{status: resp.StatusCode, msg: fmt.Sprintf("POST %s (async): %s %.200s", url, resp.Status, body)}
	}
	return v.ID, nil
}

type submitError struct {
	status int
	msg    string
}

func (e *submitError) Error() string { return e.msg }

// warm makes every node run a few invocations (the last started node may
// not know ping yet: 404 is retried for a while).
func (a *asyncNodes) warm(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	var ids []string
	for _, url := range a.urls {
		for range 50 {
			id, err := a.submitTo(ctx, url)
			var se *submitError
			for errors.As(err, &se) && se.status == http.StatusNotFound && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				id, err = a.submitTo(ctx, url)
			}
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
	}
	_, err := a.counter.waitAll(ctx, ids, asyncRoundLimit)
	return err
}

// deployAsync deploys ping with an onSuccess destination on subject.
func deployAsync(ctx context.Context, base, token string, module []byte, subject string) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	spec, _ := json.Marshal(map[string]any{
		"name": "ping", "maxInstances": asyncWorkers,
		"onSuccess": map[string]string{"subject": subject},
	})
	if err := mw.WriteField("spec", string(spec)); err != nil {
		return err
	}
	part, err := mw.CreateFormFile("module", "ping.wasm")
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
		return fmt.Errorf("deploying ping: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("deploying ping: %s: %s", resp.Status, msg)
	}
	return nil
}

// floor is the baseline: a work-queue stream on the same NATS server,
// publishers, and one pulling consumer connection per node.
type floor struct {
	url     string
	pub     *nats.Conn
	pubJS   jetstream.JetStream
	sub     *nats.Conn
	counter *doneCounter
	job     async.Job // the template of the jobs published
	workers []*floorWorker
}

func newFloor(ctx context.Context, url string) (_ *floor, err error) {
	f := &floor{url: url, counter: newDoneCounter()}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	if f.pub, err = nats.Connect(url); err != nil {
		return nil, err
	}
	if f.pubJS, err = jetstream.New(f.pub); err != nil {
		return nil, err
	}
	if _, err = f.pubJS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: floorStream, Subjects: []string{floorSubject}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute,
	}); err != nil {
		return nil, err
	}
	if f.sub, err = nats.Connect(url); err != nil {
		return nil, err
	}
	s, err := f.sub.Subscribe(floorDoneSubj, f.counter.handle)
	if err != nil {
		return nil, err
	}
	_ = s.SetPendingLimits(-1, -1)
	if err := f.sub.Flush(); err != nil {
		return nil, err
	}
	// The job a node stores for POST /fn/ping with Prefer: respond-async.
	f.job = async.Job{
		Function: "ping",
		Event: async.Event{
			Source: "http", Type: "baton.http.request", Subject: "/fn/ping",
			Method: "POST", Path: "/",
			Header: map[string][]string{"Accept-Encoding": {"gzip"}, "Content-Length": {"0"}, "Prefer": {"respond-async"}, "User-Agent": {"Go-http-client/1.1"}},
		},
	}
	return f, nil
}

// addWorker starts one more consumer "node".
func (f *floor) addWorker(ctx context.Context) error {
	w, err := startFloorWorker(ctx, f.url)
	if err != nil {
		return err
	}
	f.workers = append(f.workers, w)
	return nil
}

// submit stores one job, as a node's Submit ends: an acked publish with a
// message id.
func (f *floor) submit(ctx context.Context, _ int) (string, error) {
	job := f.job
	job.ID = nuid.Next()
	job.Event.ID = nuid.Next()
	job.Event.Time = time.Now()
	job.Submitted = job.Event.Time
	b, err := json.Marshal(&job)
	if err != nil {
		return "", err
	}
	_, err = f.pubJS.PublishMsg(ctx, &nats.Msg{
		Subject: floorSubject, Data: b,
		Header: nats.Header{jetstream.MsgIDHeader: []string{job.ID}},
	})
	return job.ID, err
}

func (f *floor) close() {
	for _, w := range f.workers {
		w.stop()
	}
	if f.sub != nil {
		f.sub.Close()
	}
	if f.pub != nil {
		if f.pubJS != nil {
			_ = f.pubJS.DeleteStream(context.Background(), floorStream)
		}
		f.pub.Close()
	}
}

// floorWorker is one node's consumer in the baseline: its own connection,
// Workers handlers at a time, as async.Queue.Run.
type floorWorker struct {
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

func startFloorWorker(ctx context.Context, url string) (*floorWorker, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, floorStream, jetstream.ConsumerConfig{
		Durable: "floor", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
		MaxDeliver: -1, MaxAckPending: 4096, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(asyncWorkers))
	if err != nil {
		nc.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &floorWorker{nc: nc, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		pprof.SetGoroutineLabels(pprof.WithLabels(runCtx, profileSide("baseline")))
		var wg sync.WaitGroup
		defer wg.Wait()
		stopIt := context.AfterFunc(runCtx, it.Stop)
		defer stopIt()
		sem := make(chan struct{}, asyncWorkers)
		for {
			select {
			case sem <- struct{}{}:
			case <-runCtx.Done():
				return
			}
			msg, err := it.Next()
			if err != nil {
				<-sem
				if runCtx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return
				}
				continue
			}
			wg.Go(func() {
				defer func() { <-sem }()
				var job async.Job
				if err := json.Unmarshal(msg.Data(), &job); err != nil {
					_ = msg.Term()
					return
				}
				if err := msg.DoubleAck(runCtx); err != nil {
					return
				}
				b, _ := json.Marshal(map[string]string{"id": job.ID, "status": string(async.StatusSucceeded)})
				_ = nc.Publish(floorDoneSubj, b)
			})
		}
	}()
	return w, nil
}

func (w *floorWorker) stop() {
	w.cancel()
	<-w.done
	w.nc.Close()
}

func runAsync(ctx context.Context, c *config) ([]result, error) {
	ping, err := readModule(c.modulesDir, "ping")
	if err != nil {
		return nil, err
	}
	a := &asyncNodes{
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConns: c.clients, MaxIdleConnsPerHost: c.clients, MaxConnsPerHost: c.clients, DisableCompression: true,
		}},
		counter: newDoneCounter(),
	}
	defer a.close()
	if err := a.addNode(ctx); err != nil {
		return nil, err
	}
	natsURL := a.nodes[0].NATSURL()
	if a.nc, err = nats.Connect(natsURL); err != nil {
		return nil, err
	}
	s, err := a.nc.Subscribe(asyncDoneSubj, a.counter.handle)
	if err != nil {
		return nil, err
	}
	_ = s.SetPendingLimits(-1, -1)
	if err := a.nc.Flush(); err != nil {
		return nil, err
	}
	if err := deployAsync(ctx, "http://"+a.nodes[0].HTTPAddr(), a.nodes[0].Token(), ping, asyncDoneSubj); err != nil {
		return nil, err
	}
	f, err := newFloor(ctx, natsURL)
	if err != nil {
		return nil, err
	}
	defer f.close()

	measure := func(nodes int) (bs, ts []asyncRound, err error) {
		if err := a.warm(ctx); err != nil {
			return nil, nil, fmt.Errorf("warming %d node(s): %w", nodes, err)
		}
		if _, err := measureAsync(ctx, f.counter, 200, c.clients, f.submit); err != nil {
			return nil, nil, fmt.Errorf("warming the baseline: %w", err)
		}
		return interleave(asyncRounds,
			func() (asyncRound, error) { return measureAsync(ctx, f.counter, asyncPerRound, c.clients, f.submit) },
			func() (asyncRound, error) {
				return measureAsync(ctx, a.counter, asyncPerRound, c.clients, a.submit)
			})
	}
	if err := f.addWorker(ctx); err != nil {
		return nil, err
	}
	b1, t1, err := measure(1)
	if err != nil {
		return nil, err
	}
	if err := a.addNode(ctx); err != nil {
		return nil, err
	}
	if err := f.addWorker(ctx); err != nil {
		return nil, err
	}
	b2, t2, err := measure(2)
	if err != nil {
		return nil, err
	}

	rates := func(rs []asyncRound) []float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = r.rate
		}
		return xs
	}
	cpus := func(rs []asyncRound) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = r.cpu
		}
		return median(xs)
	}
	list := func(rs []asyncRound) string {
		var out []string
		for _, r := range rs {
			out = append(out, formatNum(r.rate))
		}
		return strings.Join(out, " ")
	}
	line := func(name string, nodes int, bs, ts []asyncRound) result {
		// DESIGN.md sets no target: see README.md (async_throughput) for
		// where 0.15 comes from.
		r := pairedResult(name, "inv/s", rates(bs), rates(ts), atLeast(0.15))
		detail := fmt.Sprintf("%d invocations per round, %d rounds per side, %d clients, %d node(s) × %d workers; rounds: baseline [%s], baton [%s]",
			asyncPerRound, asyncRounds, c.clients, nodes, asyncWorkers, list(bs), list(ts))
		r.Note = joinNotes(detail, r.Note)
		if cpus(bs) > 0 {
			r.Note = joinNotes(r.Note, fmt.Sprintf("process CPU per invocation (submitters included): baseline %s us, baton %s us", formatNum(cpus(bs)), formatNum(cpus(ts))))
		}
		return r
	}
	r1 := line("async_throughput_1node", 1, b1, t1)
	r2 := line("async_throughput_2nodes", 2, b2, t2)
	// The 2-node rounds come after the 1-node ones, so the machine may
	// have changed in between; the ratio of the two lines' ratios uses
	// the floor (which gains little from a second consumer) as the
	// yardstick and cancels that drift.
	r2.Note = joinNotes(r2.Note, fmt.Sprintf("speed-up over 1 node: baton %s× (medians; %s× measured against the floor, which cancels drift between the two phases), baseline %s× — "+
		"both nodes share this process, its %d CPUs and one NATS server, so a second node here adds concurrency (workers, connections), not CPU: it gains only while one node's workers, waiting on NATS round trips, leave the CPUs idle",
		formatNum(r2.Baton/r1.Baton), formatNum(r2.Ratio/r1.Ratio), formatNum(r2.Baseline/r1.Baseline), runtime.GOMAXPROCS(0)))
	return []result{r1, r2}, nil
}
