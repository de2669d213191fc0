package main

// nats_reqreply_p50, nats_reqreply_throughput: NATS request/reply through
// a nats trigger to ping.wasm on a real node (internal/server, embedded
// NATS, in this process) against a plain Go NATS responder (a queue
// subscription answering "pong" from its callback) on the same NATS
// server. p50: one client sending requests one after the other, the
// median latency of a round. Throughput: 32 clients (-clients) sending
// requests back to back, answered requests per second.
//
// stream_throughput: messages per second a stream trigger (ping.wasm,
// concurrency 4, batch 64) works through, against a bare JetStream
// consumer with the same consumer settings and as many workers doing
// the same ack and nothing else. Each round stores its messages on a
// subject of its own first, then starts the consumer (baton: adds a
// trigger filtered on that subject) and times until the consumer has
// every message acked.

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
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/internal/server"
	streamtrigger "github.com/baton-run/baton/triggers/stream"
)

const (
	rrSubjectBaton   = "bench.rr.baton"
	rrSubjectPlain   = "bench.rr.plain"
	rrLatencyN       = 2000 // sequential requests per p50 round
	rrThroughputN    = 6000 // requests per throughput round, all clients
	rrRounds         = 6
	streamBenchName  = "BENCH_STREAM"
	streamPerRound   = 20000
	streamRounds     = 6
	streamWorkers    = 4
	streamBatch      = 64
	streamRoundLimit = 60 * time.Second
)

// triggerNode is one baton node with ping deployed.
type triggerNode struct {
	srv  *server.Server
	dir  string
	base string
}

func startTriggerNode(ctx context.Context, ping []byte) (*triggerNode, error) {
	dir, err := os.MkdirTemp("", "baton-bench-trigger")
	if err != nil {
		return nil, err
	}
	srv, err := server.New(server.Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", NATSListen: "127.0.0.1:-1", Logger: discardLogger()})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		_ = srv.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	n := &triggerNode{srv: srv, dir: dir, base: "http://" + srv.HTTPAddr()}
	if err := n.deploy(ctx, ping); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

func (n *triggerNode) close() {
	_ = n.srv.Close()
	os.RemoveAll(n.dir)
}

func (n *triggerNode) deploy(ctx context.Context, module []byte) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("spec", `{"name":"ping"}`)
	part, err := mw.CreateFormFile("module", "ping.wasm")
	if err != nil {
		return err
	}
	_, _ = part.Write(module)
	if err := mw.Close(); err != nil {
		return err
	}
	return n.admin(ctx, http.MethodPost, "/api/v1/functions", mw.FormDataContentType(), &body)
}

func (n *triggerNode) admin(ctx context.Context, method, path, contentType string, body io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, method, n.base+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+n.srv.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, msg)
	}
	return nil
}

func (n *triggerNode) addTrigger(ctx context.Context, spec map[string]any) error {
	b, _ := json.Marshal(spec)
	return n.admin(ctx, http.MethodPost, "/api/v1/triggers", "application/json", bytes.NewReader(b))
}

func runNATSReqReply(ctx context.Context, c *config) ([]result, error) {
	ping, err := readModule(c.modulesDir, "ping")
	if err != nil {
		return nil, err
	}
	n, err := startTriggerNode(ctx, ping)
	if err != nil {
		return nil, err
	}
	defer n.close()
	if err := n.addTrigger(ctx, map[string]any{"id": "bench-rr", "kind": "nats", "subject": rrSubjectBaton, "function": "ping"}); err != nil {
		return nil, err
	}
	// The plain responder: its own connection, as the node has its own.
	rc, err := nats.Connect(n.srv.NATSURL())
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	sub, err := rc.QueueSubscribe(rrSubjectPlain, "plain", func(m *nats.Msg) { _ = m.Respond([]byte("pong")) })
	if err != nil {
		return nil, err
	}
	_ = sub.SetPendingLimits(-1, -1)
	if err := rc.Flush(); err != nil {
		return nil, err
	}
	clients := make([]*nats.Conn, c.clients)
	for i := range clients {
		if clients[i], err = nats.Connect(n.srv.NATSURL()); err != nil {
			return nil, err
		}
		defer clients[i].Close()
	}
	request := func(nc *nats.Conn, subject string) error {
		m, err := nc.Request(subject, nil, 10*time.Second)
		if err != nil {
			return fmt.Errorf("request on %s: %w", subject, err)
		}
		if e := m.Header.Get("Baton-Error"); e != "" || len(m.Data) == 0 {
			return fmt.Errorf("request on %s: error %q, data %q", subject, e, m.Data)
		}
		return nil
	}
	// Warm both sides (the trigger may take a moment to subscribe).
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := request(clients[0], rrSubjectBaton)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
	for range 200 {
		if err := request(clients[0], rrSubjectBaton); err != nil {
			return nil, err
		}
		if err := request(clients[0], rrSubjectPlain); err != nil {
			return nil, err
		}
	}

	p50 := func(subject string) func() (float64, error) {
		return func() (float64, error) {
			lat := make([]time.Duration, 0, rrLatencyN)
			for range rrLatencyN {
				start := time.Now()
				if err := request(clients[0], subject); err != nil {
					return 0, err
				}
				lat = append(lat, time.Since(start))
			}
			return durationsPercentile(lat, 50, time.Microsecond), nil
		}
	}
	bs, ts, err := interleave(rrRounds, p50(rrSubjectPlain), p50(rrSubjectBaton))
	if err != nil {
		return nil, err
	}
	rP50 := pairedResult("nats_reqreply_p50", "us", bs, ts, atMost(1.3))

	rate := func(subject string) func() (float64, error) {
		return func() (float64, error) {
			var wg sync.WaitGroup
			errs := make([]error, len(clients))
			start := time.Now()
			for k, nc := range clients {
				count := rrThroughputN / len(clients)
				if k < rrThroughputN%len(clients) {
					count++
				}
				wg.Go(func() {
					for range count {
						if err := request(nc, subject); err != nil {
							errs[k] = err
							return
						}
					}
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				return 0, err
			}
			return float64(rrThroughputN) / time.Since(start).Seconds(), nil
		}
	}
	bs, ts, err = interleave(rrRounds, rate(rrSubjectPlain), rate(rrSubjectBaton))
	if err != nil {
		return nil, err
	}
	rRate := pairedResult("nats_reqreply_throughput", "req/s", bs, ts, atLeast(0.6))
	rRate.Note = joinNotes(fmt.Sprintf("%d clients", len(clients)), rRate.Note)
	return []result{rP50, rRate}, nil
}

func runStreamThroughput(ctx context.Context, c *config) ([]result, error) {
	ping, err := readModule(c.modulesDir, "ping")
	if err != nil {
		return nil, err
	}
	n, err := startTriggerNode(ctx, ping)
	if err != nil {
		return nil, err
	}
	defer n.close()
	pc, err := nats.Connect(n.srv.NATSURL())
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	js, err := jetstream.New(pc)
	if err != nil {
		return nil, err
	}
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: streamBenchName, Subjects: []string{"bench.stream.>"}, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, err
	}
	// The bare consumer's own connection, as the node has its own.
	bc, err := nats.Connect(n.srv.NATSURL())
	if err != nil {
		return nil, err
	}
	defer bc.Close()
	bjs, err := jetstream.New(bc)
	if err != nil {
		return nil, err
	}

	round := 0
	payload := bytes.Repeat([]byte("x"), 64)
	// fill stores the round's messages on a subject of its own.
	fill := func(subject string) error {
		for range streamPerRound {
			if _, err := js.PublishAsync(subject, payload); err != nil {
				return err
			}
		}
		select {
		case <-js.PublishAsyncComplete():
			return nil
		case <-time.After(streamRoundLimit):
			return errors.New("storing the messages took too long")
		}
	}
	// wait polls the consumer until every message is acked.
	wait := func(durable string) error {
		deadline := time.Now().Add(streamRoundLimit)
		for time.Now().Before(deadline) {
			cons, err := st.Consumer(ctx, durable)
			if err == nil {
				info, err := cons.Info(ctx)
				if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream > 0 {
					return nil
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
		return fmt.Errorf("consumer %s did not finish %d messages within %s", durable, streamPerRound, streamRoundLimit)
	}
	baton := func() (float64, error) {
		round++
		id := fmt.Sprintf("bench-stream-%d", round)
		subject := fmt.Sprintf("bench.stream.r%d", round)
		if err := fill(subject); err != nil {
			return 0, err
		}
		start := time.Now()
		if err := n.addTrigger(ctx, map[string]any{"id": id, "kind": "stream", "stream": streamBenchName, "filter": subject,
			"function": "ping", "concurrency": streamWorkers, "batch": streamBatch}); err != nil {
			return 0, err
		}
		if err := wait(streamtrigger.Durable(id)); err != nil {
			return 0, err
		}
		rate := streamPerRound / time.Since(start).Seconds()
		return rate, n.admin(ctx, http.MethodDelete, "/api/v1/triggers/"+id, "", nil)
	}
	bare := func() (float64, error) {
		round++
		durable := fmt.Sprintf("bench-bare-%d", round)
		subject := fmt.Sprintf("bench.stream.r%d", round)
		if err := fill(subject); err != nil {
			return 0, err
		}
		start := time.Now()
		cons, err := bjs.CreateOrUpdateConsumer(ctx, streamBenchName, jetstream.ConsumerConfig{
			Durable: durable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: streamtrigger.DefaultAckWait,
			MaxDeliver: -1, FilterSubject: subject, DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err != nil {
			return 0, err
		}
		work := make(chan jetstream.Msg)
		var wg sync.WaitGroup
		for range streamWorkers {
			wg.Go(func() {
				for m := range work {
					_ = m.Ack()
				}
			})
		}
		cc, err := cons.Consume(func(m jetstream.Msg) { work <- m }, jetstream.PullMaxMessages(streamBatch))
		if err != nil {
			close(work)
			wg.Wait()
			return 0, err
		}
		err = wait(durable)
		rate := streamPerRound / time.Since(start).Seconds()
		cc.Stop()
		<-cc.Closed()
		close(work)
		wg.Wait()
		return rate, err
	}
	// Warm: one small round each (compiles ping, opens the consumers).
	if _, err := baton(); err != nil {
		return nil, err
	}
	if _, err := bare(); err != nil {
		return nil, err
	}
	bs, ts, err := interleave(streamRounds, bare, baton)
	if err != nil {
		return nil, err
	}
	r := pairedResult("stream_throughput", "msg/s", bs, ts, atLeast(0.5))
	r.Note = joinNotes(fmt.Sprintf("%d messages a round, %d workers, batch %d", streamPerRound, streamWorkers, streamBatch), r.Note)
	return []result{r}, nil
}
