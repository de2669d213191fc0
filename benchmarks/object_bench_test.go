package main

// object_event_p50_added: what the object trigger adds between MinIO's
// bucket event reaching JetStream and the function being started, at the
// median. Both sides consume the same events from the stream MinIO
// publishes into (BATON_OBJECT_EVENTS), each with a durable consumer of
// its own and the same settings: the baseline is a bare JetStream
// consumer noting when each event arrives; baton is the object trigger
// (triggers/object, in this process) whose Invoke notes when it is
// called — the moment the runtime would start the function (the
// function's own run is warm_invoke's business). added = baton - baseline
// per event; target ≤ 1 ms at p50.
//
//	go test ./benchmarks -run '^$' -bench ObjectEvent
//
// It needs the pinned MinIO (`go tool task tools:minio`).

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/internal/testutil"
	"github.com/baton-run/baton/triggers"
	objecttrigger "github.com/baton-run/baton/triggers/object"
)

func BenchmarkObjectEventP50Added(b *testing.B) {
	const subject = "bench.minio.events"
	ctx := context.Background()
	ns, nc := testutil.NATS(b, "")
	mio := testutil.MinIO(b, ns.Addr().String(), subject)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	mc, err := minio.New(mio.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(mio.AccessKey, mio.SecretKey, "")})
	if err != nil {
		b.Fatal(err)
	}
	if err := mc.MakeBucket(ctx, "bench", minio.MakeBucketOptions{}); err != nil {
		b.Fatal(err)
	}

	var mu sync.Mutex
	batonAt := map[string]time.Time{}
	baseAt := map[string]time.Time{}
	env := triggers.Env{
		NATS: nc, JetStream: js, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ObjectStore: triggers.ObjectStoreConfig{Endpoint: mio.Endpoint, AccessKey: mio.AccessKey, SecretKey: mio.SecretKey, Subject: subject, ARN: mio.ARN},
		Invoke: func(_ context.Context, _ string, ev *event.Event) (*event.Response, error) {
			now := time.Now()
			mu.Lock()
			batonAt[ev.Subject] = now
			mu.Unlock()
			return &event.Response{Status: 200}, nil
		},
	}
	tr, err := triggers.New(triggers.Spec{ID: "bench", Kind: objecttrigger.Kind, Function: "f", Bucket: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if err := tr.Start(ctx, env); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tr.Stop(ctx) }()

	stream, err := js.Stream(ctx, objecttrigger.StreamName)
	if err != nil {
		b.Fatal(err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "bench-baseline", DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: time.Minute, MaxDeliver: objecttrigger.MaxDeliver, FilterSubject: subject, MaxAckPending: 1024,
	})
	if err != nil {
		b.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		now := time.Now()
		recs, _ := objecttrigger.ParseRecords(m.Data())
		mu.Lock()
		for _, r := range recs {
			baseAt[r.Bucket+"/"+r.Key] = now
		}
		mu.Unlock()
		_ = m.Ack()
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Stop()

	b.ResetTimer()
	var added []time.Duration
	for i := range b.N {
		key := fmt.Sprintf("k%06d", i)
		if _, err := mc.PutObject(ctx, "bench", key, strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			tb, okb := batonAt["bench/"+key]
			t0, ok0 := baseAt["bench/"+key]
			mu.Unlock()
			if okb && ok0 {
				added = append(added, tb.Sub(t0))
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("event %s: baton %v, baseline %v", key, okb, ok0)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.StopTimer()
	slices.Sort(added)
	p50 := added[len(added)/2]
	b.ReportMetric(float64(p50.Microseconds())/1000, "object_event_p50_added_ms")
}
