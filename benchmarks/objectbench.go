package main

// object_event_p50_added: what the object trigger adds between MinIO's
// bucket event reaching JetStream and the function being started, at the
// median. A real MinIO (the pinned one in .tools/bin, `go tool task
// tools:minio`) publishes its bucket events into the stream the object
// trigger uses (BATON_OBJECT_EVENTS) on an embedded NATS server. Both
// sides consume the same events, each with a durable consumer of its own
// with the trigger's settings and a connection of its own: the baseline
// is a bare JetStream consumer noting when each event arrives (created
// first, so any head start of the older consumer goes to it); baton is
// the object trigger (triggers/object, in this process) whose Invoke
// notes when it is called — the moment the runtime would start the
// function (the function's own run is warm_invoke's business). Objects
// are put one at a time; baseline and baton are the p50 latencies from
// the put to each side, and the compared value is the median of the
// per-event differences baton - baseline; target ≤ 1 ms.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/internal/testutil"
	"github.com/baton-run/baton/triggers"
	objecttrigger "github.com/baton-run/baton/triggers/object"
)

const (
	objectSubject = "bench.minio.events"
	objectBucket  = "bench"
	objectWarm    = 20  // events before measuring
	objectEvents  = 300 // measured events
	objectWait    = 10 * time.Second
)

func runObjectEvent(ctx context.Context, _ *config) ([]result, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "baton-bench-object-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir + "/nats", NoSigs: true, NoLog: true})
	if err != nil {
		return nil, err
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(10 * time.Second) {
		return nil, fmt.Errorf("NATS did not start")
	}
	mio, err := testutil.StartMinIO(testutil.MinIOBin(root), dir+"/minio", ns.Addr().String(), objectSubject)
	if err != nil {
		return nil, err
	}
	defer mio.Stop()
	mc, err := minio.New(mio.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(mio.AccessKey, mio.SecretKey, "")})
	if err != nil {
		return nil, err
	}
	if err := mc.MakeBucket(ctx, objectBucket, minio.MakeBucketOptions{}); err != nil {
		return nil, err
	}

	// arrivals: when each side saw each event (by bucket/key); arrived
	// wakes the putter after each.
	var mu sync.Mutex
	batonAt, baseAt := map[string]time.Time{}, map[string]time.Time{}
	arrived := make(chan struct{}, 64)
	note := func(m map[string]time.Time, key string, at time.Time) {
		mu.Lock()
		m[key] = at
		mu.Unlock()
		select {
		case arrived <- struct{}{}:
		default:
		}
	}

	// Baseline: a bare consumer of the stream, with the trigger's consumer
	// settings and a connection of its own. It is created first, so that
	// if JetStream favours the older consumer it favours the baseline.
	bc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return nil, err
	}
	defer bc.Close()
	bjs, err := jetstream.New(bc)
	if err != nil {
		return nil, err
	}
	// The stream as the trigger creates it (its CreateOrUpdateStream then
	// changes nothing).
	if _, err := bjs.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: objecttrigger.StreamName, Description: "bucket events published by MinIO for baton's object triggers",
		Subjects: []string{objectSubject}, Retention: jetstream.InterestPolicy, MaxAge: objecttrigger.StreamMaxAge,
		Storage: jetstream.FileStorage,
	}); err != nil {
		return nil, err
	}
	cons, err := bjs.CreateOrUpdateConsumer(ctx, objecttrigger.StreamName, jetstream.ConsumerConfig{
		Durable: "bench-baseline", DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: time.Minute, MaxDeliver: objecttrigger.MaxDeliver, FilterSubject: objectSubject, MaxAckPending: 1024,
	})
	if err != nil {
		return nil, err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		now := time.Now()
		recs, _ := objecttrigger.ParseRecords(m.Data())
		for _, r := range recs {
			note(baseAt, r.Bucket+"/"+r.Key, now)
		}
		_ = m.Ack()
	})
	if err != nil {
		return nil, err
	}
	defer func() { cc.Stop(); <-cc.Closed() }()

	// Baton: the object trigger on a connection of its own.
	tc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	tjs, err := jetstream.New(tc)
	if err != nil {
		return nil, err
	}
	env := triggers.Env{
		NATS: tc, JetStream: tjs, Logger: discardLogger(),
		ObjectStore: triggers.ObjectStoreConfig{Endpoint: mio.Endpoint, AccessKey: mio.AccessKey, SecretKey: mio.SecretKey, Subject: objectSubject, ARN: mio.ARN},
		Invoke: func(_ context.Context, _ string, ev *event.Event) (*event.Response, error) {
			note(batonAt, ev.Subject, time.Now())
			return &event.Response{Status: 200}, nil
		},
	}
	tr, err := triggers.New(triggers.Spec{ID: "bench", Kind: objecttrigger.Kind, Function: "f", Bucket: objectBucket})
	if err != nil {
		return nil, err
	}
	if err := tr.Start(ctx, env); err != nil {
		return nil, err
	}
	defer func() { _ = tr.Stop(context.WithoutCancel(ctx)) }()

	// put puts one object and waits until both sides have seen its event.
	put := func(i int) (base, baton time.Duration, err error) {
		key := fmt.Sprintf("k%06d", i)
		start := time.Now()
		if _, err := mc.PutObject(ctx, objectBucket, key, strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			return 0, 0, err
		}
		timeout := time.After(objectWait)
		for {
			mu.Lock()
			tb, okb := batonAt[objectBucket+"/"+key]
			t0, ok0 := baseAt[objectBucket+"/"+key]
			mu.Unlock()
			if okb && ok0 {
				return t0.Sub(start), tb.Sub(start), nil
			}
			select {
			case <-arrived:
			case <-timeout:
				return 0, 0, fmt.Errorf("event of %s not seen within %s (baton %v, baseline %v); MinIO log:\n%s", key, objectWait, okb, ok0, mio.Log())
			case <-ctx.Done():
				return 0, 0, ctx.Err()
			}
		}
	}
	for i := range objectWarm {
		if _, _, err := put(i); err != nil {
			return nil, err
		}
	}
	bases, batons := make([]time.Duration, 0, objectEvents), make([]time.Duration, 0, objectEvents)
	added := make([]float64, 0, objectEvents)
	for i := range objectEvents {
		b, t, err := put(objectWarm + i)
		if err != nil {
			return nil, err
		}
		bases, batons = append(bases, b), append(batons, t)
		added = append(added, float64(t-b)/float64(time.Millisecond))
	}
	p50base := durationsPercentile(bases, 50, time.Millisecond)
	p50baton := durationsPercentile(batons, 50, time.Millisecond)
	goal := atMost(1)
	r := deltaResult("object_event_p50_added", "ms", p50base, p50baton, goal)
	// Compare the median of the per-event differences: both sides see the
	// same event, so MinIO's own latency cancels out.
	r.Ratio = median(added)
	r.Pass = goal.met(r.Ratio)
	r.Note = fmt.Sprintf("DESIGN.md target: at most 1 ms added at p50; %d events put one at a time, latencies from the put; "+
		"p90 added %s ms, difference of the medians %s ms",
		objectEvents, formatNum(percentile(added, 90)), formatNum(p50baton-p50base))
	return []result{r}, nil
}
