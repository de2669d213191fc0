// Package objecttrigger is the object trigger kind: events of a bucket of
// the node's S3-compatible object store (MinIO) — objects created or
// removed, on keys with a prefix and a suffix — each invoking the target
// with the event record as JSON data ([Record]).
//
// Mode "nats" (the default) is durable: Start points the bucket's
// notification at MinIO's JetStream notification target (the ARN of the
// node config), so MinIO publishes each event into the stream
// [StreamName] on the configured subject; baton consumes it with a
// durable consumer shared by every node and acknowledges an event once
// the function answered it. An event whose invocation fails is delivered
// again, up to MaxDeliver times. Deleting the trigger removes its part of
// the bucket notification and its consumer.
//
// Mode "listen" uses MinIO's ListenBucketNotification: no notification
// target to configure, but an event that happens while no node listens,
// or whose invocation fails, is lost, and every node listening invokes
// the target for each event — use it on one node, for development. It
// needs a MinIO whose listen endpoint flushes each event (see
// docs/triggers.md: upstream builds since minio/minio#21651 do not).
package objecttrigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/notification"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/triggers"
)

// Kind is the name of this kind.
const Kind = "object"

// Modes.
const (
	ModeNATS   = "nats"
	ModeListen = "listen"
)

// Event kinds of a spec's Events.
const (
	EventCreated = "created"
	EventRemoved = "removed"
)

// StreamName is the JetStream stream baton creates on the subject MinIO
// publishes bucket events to.
const StreamName = "BATON_OBJECT_EVENTS"

// StreamMaxAge bounds how long an event waits in the stream.
const StreamMaxAge = 7 * 24 * time.Hour

// MaxDeliver is how many times an event is delivered before it is given
// up (mode nats).
const MaxDeliver = 5

// MaxConcurrent bounds the invocations one trigger runs at once on one
// node.
const MaxConcurrent = 16

// Source and Type of the events the target receives.
const (
	Source = "object"
	Type   = "baton.object.event"
)

func init() { triggers.Register(Kind, newTrigger) }

var (
	_ triggers.Trigger = (*trigger)(nil)
	_ triggers.Remover = (*trigger)(nil)
)

type trigger struct {
	spec   triggers.Spec
	events []notification.EventType

	mu     sync.Mutex
	cancel context.CancelFunc
	// unlisten ends the listen request at once (mode listen): the
	// invocation in flight keeps its own context.
	unlisten context.CancelFunc
	cc       jetstream.ConsumeContext
	wg       sync.WaitGroup
	sem      chan struct{}
}

func newTrigger(spec triggers.Spec) (triggers.Trigger, error) {
	if err := spec.Only("bucket", "events", "prefix", "suffix", "mode"); err != nil {
		return nil, err
	}
	if !validBucket(spec.Bucket) {
		return nil, triggers.Errorf("bucket", "%q is not a bucket name (3-63 lower-case letters, digits, '.' or '-')", spec.Bucket)
	}
	events, err := eventTypes(spec.Events)
	if err != nil {
		return nil, triggers.Errorf("events", "%v", err)
	}
	switch spec.Mode {
	case "", ModeNATS, ModeListen:
	default:
		return nil, triggers.Errorf("mode", "%q is neither %q nor %q", spec.Mode, ModeNATS, ModeListen)
	}
	if len(spec.Prefix) > 1024 || len(spec.Suffix) > 1024 {
		return nil, triggers.Errorf("prefix", "prefix and suffix are at most 1024 bytes")
	}
	return &trigger{spec: spec, events: events, sem: make(chan struct{}, MaxConcurrent)}, nil
}

func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (c == '.' || c == '-') && i > 0 && i < len(b)-1
		if !ok {
			return false
		}
	}
	return true
}

// eventTypes maps the spec's event kinds to S3 event types (default:
// created).
func eventTypes(kinds []string) ([]notification.EventType, error) {
	if len(kinds) == 0 {
		kinds = []string{EventCreated}
	}
	var out []notification.EventType
	for _, k := range kinds {
		var et notification.EventType
		switch k {
		case EventCreated:
			et = notification.ObjectCreatedAll
		case EventRemoved:
			et = notification.ObjectRemovedAll
		default:
			return nil, fmt.Errorf("%q is neither %q nor %q", k, EventCreated, EventRemoved)
		}
		if !slices.Contains(out, et) {
			out = append(out, et)
		}
	}
	return out, nil
}

// Record is what the target receives as event data, as JSON.
type Record struct {
	Bucket    string    `json:"bucket"`
	Key       string    `json:"key"`
	Size      int64     `json:"size"`
	ETag      string    `json:"etag"`
	EventName string    `json:"eventName"`
	Time      time.Time `json:"time"`
}

// Match decides whether the trigger described by spec handles r: same
// bucket, key with its prefix and suffix, an event of its kinds.
func Match(spec triggers.Spec, r Record) bool {
	if r.Bucket != spec.Bucket || !strings.HasPrefix(r.Key, spec.Prefix) || !strings.HasSuffix(r.Key, spec.Suffix) {
		return false
	}
	kinds := spec.Events
	if len(kinds) == 0 {
		kinds = []string{EventCreated}
	}
	for _, k := range kinds {
		if k == EventCreated && strings.HasPrefix(r.EventName, "s3:ObjectCreated:") ||
			k == EventRemoved && strings.HasPrefix(r.EventName, "s3:ObjectRemoved:") {
			return true
		}
	}
	return false
}

// ParseRecords extracts the records of a bucket event as MinIO publishes
// it ({"EventName":…,"Key":…,"Records":[…]}).
func ParseRecords(data []byte) ([]Record, error) {
	var msg struct {
		Records []notification.Event `json:"Records"`
	}
	if err := json.Unmarshal(data, &msg); err != nil {
		return nil, err
	}
	return records(msg.Records), nil
}

func records(evs []notification.Event) []Record {
	out := make([]Record, 0, len(evs))
	for _, e := range evs {
		key, err := url.QueryUnescape(e.S3.Object.Key)
		if err != nil {
			key = e.S3.Object.Key
		}
		t, _ := time.Parse(time.RFC3339Nano, e.EventTime)
		out = append(out, Record{
			Bucket: e.S3.Bucket.Name, Key: key, Size: e.S3.Object.Size,
			ETag: e.S3.Object.ETag, EventName: e.EventName, Time: t,
		})
	}
	return out
}

// NewClient returns a MinIO client for cfg.
func NewClient(cfg triggers.ObjectStoreConfig) (*minio.Client, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("no object store configured on this node (baton up --minio-endpoint, or BATON_MINIO_ENDPOINT)")
	}
	tr, err := minio.DefaultTransport(cfg.Secure)
	if err != nil {
		return nil, err
	}
	// MinIO compresses a listen stream for a client that accepts gzip and
	// then holds small events in its compressor: ask for none.
	tr.DisableCompression = true
	return minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.Secure,
		Transport: tr,
	})
}

func (t *trigger) mode() string {
	if t.spec.Mode == "" {
		return ModeNATS
	}
	return t.spec.Mode
}

// notificationID names this trigger's part of the bucket notification.
func (t *trigger) notificationID() string { return "baton-" + t.spec.ID }

// durable names this trigger's consumer.
func (t *trigger) durable() string { return "baton-object-" + t.spec.ID }

func (t *trigger) Start(ctx context.Context, env triggers.Env) error {
	if env.Invoke == nil {
		return errors.New("object trigger: no way to invoke")
	}
	client, err := NewClient(env.ObjectStore)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t.mu.Lock()
	t.cancel = cancel
	t.mu.Unlock()
	if t.mode() == ModeListen {
		listenCtx, unlisten := context.WithCancel(runCtx)
		t.mu.Lock()
		t.unlisten = unlisten
		t.mu.Unlock()
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			// The client ends the stream on its first error: listen
			// again, after a pause that grows while the errors go on.
			pause := time.Second
			for listenCtx.Err() == nil {
				ch := client.ListenBucketNotification(listenCtx, t.spec.Bucket, t.spec.Prefix, t.spec.Suffix, eventStrings(t.events))
				if t.listen(runCtx, env, ch) {
					pause = time.Second
				}
				select {
				case <-listenCtx.Done():
				case <-time.After(pause):
				}
				pause = min(2*pause, 30*time.Second)
			}
		}()
		return nil
	}
	return t.startNATS(ctx, runCtx, env, client)
}

func eventStrings(ets []notification.EventType) []string {
	out := make([]string, len(ets))
	for i, e := range ets {
		out[i] = string(e)
	}
	return out
}

func (t *trigger) startNATS(ctx, runCtx context.Context, env triggers.Env, client *minio.Client) error {
	cfg := env.ObjectStore
	if env.JetStream == nil {
		return errors.New("object trigger: no JetStream")
	}
	if cfg.Subject == "" || cfg.ARN == "" {
		return errors.New("object trigger: mode nats needs the subject and ARN of MinIO's NATS target (baton up --minio-subject, --minio-arn)")
	}
	arn, err := notification.NewArnFromString(cfg.ARN)
	if err != nil {
		return fmt.Errorf("object trigger: ARN %q: %w", cfg.ARN, err)
	}
	stream, err := env.JetStream.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "bucket events published by MinIO for baton's object triggers",
		Subjects:    []string{cfg.Subject},
		Retention:   jetstream.InterestPolicy,
		MaxAge:      StreamMaxAge,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("object trigger: stream %s: %w", StreamName, err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       t.durable(),
		Description:   "object trigger " + t.spec.ID,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxDeliver:    MaxDeliver,
		FilterSubject: cfg.Subject,
		MaxAckPending: 1024,
	})
	if err != nil {
		return fmt.Errorf("object trigger: consumer %s: %w", t.durable(), err)
	}
	// The consumer exists before the notification: no event is published
	// before someone is interested in it.
	if err := t.setNotification(ctx, client, arn); err != nil {
		return err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		t.sem <- struct{}{}
		t.wg.Add(1)
		go func() {
			defer func() { <-t.sem; t.wg.Done() }()
			t.handleMsg(runCtx, env, m)
		}()
	})
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.cc = cc
	t.mu.Unlock()
	return nil
}

// setNotification replaces this trigger's part of the bucket's
// notification configuration, leaving the rest alone.
func (t *trigger) setNotification(ctx context.Context, client *minio.Client, arn notification.Arn) error {
	conf, err := client.GetBucketNotification(ctx, t.spec.Bucket)
	if err != nil {
		return fmt.Errorf("object trigger: bucket %s: %w", t.spec.Bucket, err)
	}
	qc := notification.NewConfig(arn)
	qc.ID = t.notificationID()
	qc.AddEvents(t.events...)
	if t.spec.Prefix != "" {
		qc.AddFilterPrefix(t.spec.Prefix)
	}
	if t.spec.Suffix != "" {
		qc.AddFilterSuffix(t.spec.Suffix)
	}
	conf.QueueConfigs = slices.DeleteFunc(conf.QueueConfigs, func(q notification.QueueConfig) bool { return q.ID == qc.ID })
	conf.QueueConfigs = append(conf.QueueConfigs, notification.QueueConfig{Config: qc, Queue: arn.String()})
	if err := client.SetBucketNotification(ctx, t.spec.Bucket, conf); err != nil {
		return fmt.Errorf("object trigger: setting the notification of bucket %s: %w", t.spec.Bucket, err)
	}
	return nil
}

func (t *trigger) handleMsg(ctx context.Context, env triggers.Env, m jetstream.Msg) {
	recs, err := ParseRecords(m.Data())
	if err != nil {
		env.Logger.Warn("dropping a bucket event that is not JSON", "err", err)
		_ = m.Term()
		return
	}
	meta, _ := m.Metadata()
	failed := false
	for i, r := range recs {
		if !Match(t.spec, r) {
			continue
		}
		id := nuid.Next()
		attempt := attemptOf(meta)
		if meta != nil {
			id = fmt.Sprintf("%s-%d-%d", t.spec.ID, meta.Sequence.Stream, i)
		}
		if err := t.invoke(ctx, env, r, id, attempt); err != nil {
			failed = true
			level := env.Logger.Warn
			if attempt >= MaxDeliver {
				level = env.Logger.Error
			}
			level("object event invocation failed", "bucket", r.Bucket, "key", r.Key, "attempt", attempt, "err", err)
		}
	}
	if failed && ctx.Err() == nil {
		_ = m.NakWithDelay(time.Duration(attemptOf(meta)) * time.Second)
		return
	}
	if ctx.Err() != nil {
		return // stopping: redelivered to whoever runs next
	}
	_ = m.Ack()
}

func attemptOf(meta *jetstream.MsgMetadata) int {
	if meta == nil || meta.NumDelivered == 0 {
		return 1
	}
	return int(meta.NumDelivered)
}

func (t *trigger) invoke(ctx context.Context, env triggers.Env, r Record, id string, attempt int) error {
	data, _ := json.Marshal(r)
	ev := &event.Event{
		ID:           id,
		Source:       Source,
		Type:         Type,
		Subject:      r.Bucket + "/" + r.Key,
		Time:         r.Time,
		Data:         data,
		InvocationID: nuid.Next(),
		Attempt:      attempt,
	}
	ev.Header = map[string][]string{"Content-Type": {"application/json"}, "X-Baton-Trigger": {t.spec.ID}}
	resp, err := env.Invoke(ctx, t.spec.Function, ev)
	if err != nil {
		return err
	}
	if resp.Status >= 500 {
		return fmt.Errorf("the function answered status %d", resp.Status)
	}
	return nil
}

// listen invokes the function for the events of ch until it closes; it
// reports whether any event came.
func (t *trigger) listen(ctx context.Context, env triggers.Env, ch <-chan notification.Info) (heard bool) {
	for info := range ch {
		if info.Err != nil {
			if ctx.Err() == nil && !errors.Is(info.Err, context.Canceled) {
				env.Logger.Warn("listening to bucket notifications", "bucket", t.spec.Bucket, "err", info.Err)
			}
			continue
		}
		heard = true
		for _, r := range records(info.Records) {
			if !Match(t.spec, r) {
				continue
			}
			if err := t.invoke(ctx, env, r, nuid.Next(), 1); err != nil && ctx.Err() == nil {
				env.Logger.Warn("object event invocation failed (mode listen: not retried)", "bucket", r.Bucket, "key", r.Key, "err", err)
			}
		}
	}
	return heard
}

// Stop stops consuming, waits for the invocations in flight (cancelling
// them when ctx ends first) and returns. The bucket notification and the
// consumer stay, so that events keep for the next node: Remove deletes
// them.
func (t *trigger) Stop(ctx context.Context) error {
	t.mu.Lock()
	cc, cancel, unlisten := t.cc, t.cancel, t.unlisten
	t.cc, t.unlisten = nil, nil
	t.mu.Unlock()
	if unlisten != nil {
		unlisten()
	}
	if cc != nil {
		cc.Drain()
		select {
		case <-cc.Closed():
		case <-ctx.Done():
			cc.Stop()
		}
	}
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if cancel != nil {
			cancel()
		}
		<-done
	}
	if cancel != nil {
		cancel()
	}
	return nil
}

// Remove deletes this trigger's part of the bucket notification and its
// consumer (mode nats), unless the trigger was replaced by one that uses
// them too (see keepSetup): in a cluster every node removes the old spec
// and starts the new one, and a node slow to remove must not undo what a
// faster one started, nor lose the events waiting in the consumer.
func (t *trigger) Remove(ctx context.Context, env triggers.Env) error {
	if t.mode() != ModeNATS {
		return nil
	}
	if env.JetStream != nil {
		store, err := triggers.OpenStore(ctx, env.JetStream)
		if err != nil {
			return fmt.Errorf("reading the trigger store: %w", err)
		}
		var cur *triggers.Spec
		switch spec, err := store.Get(ctx, t.spec.ID); {
		case err == nil:
			cur = &spec
		case event.CodeOf(err) != event.CodeNotFound:
			return fmt.Errorf("reading the trigger store: %w", err)
		}
		if keepSetup(t.spec, cur) {
			return nil
		}
	}
	var errs []error
	if client, err := NewClient(env.ObjectStore); err != nil {
		errs = append(errs, err)
	} else if conf, err := client.GetBucketNotification(ctx, t.spec.Bucket); err != nil {
		errs = append(errs, err)
	} else {
		n := len(conf.QueueConfigs)
		conf.QueueConfigs = slices.DeleteFunc(conf.QueueConfigs, func(q notification.QueueConfig) bool { return q.ID == t.notificationID() })
		if len(conf.QueueConfigs) != n {
			if err := client.SetBucketNotification(ctx, t.spec.Bucket, conf); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if env.JetStream != nil {
		err := env.JetStream.DeleteConsumer(ctx, StreamName, t.durable())
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// keepSetup is Remove's decision about the bucket notification and the
// consumer of the removed trigger old, given the spec now stored under
// its id (nil: none): keep them when that is an object trigger in mode
// nats on the same bucket, whose start updates both.
func keepSetup(old triggers.Spec, stored *triggers.Spec) bool {
	return stored != nil && stored.Kind == Kind && (stored.Mode == "" || stored.Mode == ModeNATS) && stored.Bucket == old.Bucket
}
