package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/testutil"
	objecttrigger "github.com/baton-run/baton/triggers/object"
)

const minioSubject = "baton.minio.events"

// objectEnv is a baton node on an external NATS server, a MinIO server
// publishing its bucket events to that NATS, and a client of that MinIO
// with the buckets uploads and converted.
type objectEnv struct {
	*node
	mc *minio.Client
	js jetstream.JetStream
}

func startObjects(t *testing.T) *objectEnv {
	t.Helper()
	ns, nc := testutil.NATS(t, "")
	mio := testutil.MinIO(t, ns.Addr().String(), minioSubject)
	srv, err := server.New(server.Config{
		DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", NATSURL: ns.ClientURL(), CacheDir: testutil.CacheDir(t),
		MinIO: server.MinIOConfig{
			Endpoint: mio.Endpoint, AccessKey: mio.AccessKey, SecretKey: mio.SecretKey,
			Subject: minioSubject, ARN: mio.ARN,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	mc, err := minio.New(mio.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(mio.AccessKey, mio.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"uploads", "converted"} {
		if err := mc.MakeBucket(context.Background(), b, minio.MakeBucketOptions{}); err != nil {
			t.Fatalf("making bucket %s: %v", b, err)
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &objectEnv{node: &node{t: t, srv: srv, base: "http://" + srv.HTTPAddr()}, mc: mc, js: js}
}

func (e *objectEnv) put(bucket, key, data string) {
	e.t.Helper()
	_, err := e.mc.PutObject(context.Background(), bucket, key, strings.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		e.t.Fatalf("putting %s/%s: %v", bucket, key, err)
	}
}

// get returns the object bucket/key, "" and false when there is none.
func (e *objectEnv) get(bucket, key string) (string, bool) {
	obj, err := e.mc.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return "", false
	}
	defer obj.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(obj); err != nil {
		return "", false
	}
	return buf.String(), true
}

func (e *objectEnv) keys(bucket string) []string {
	var out []string
	for o := range e.mc.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			e.t.Fatalf("listing %s: %v", bucket, o.Err)
		}
		out = append(out, o.Key)
	}
	slices.Sort(out)
	return out
}

// settled reports whether the consumer of object trigger id has handled
// every event published so far.
func (e *objectEnv) settled(id string) bool {
	c, err := e.js.Consumer(context.Background(), objecttrigger.StreamName, "baton-object-"+id)
	if err != nil {
		return false
	}
	info, err := c.Info(context.Background())
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0
}

func (e *objectEnv) deployCSV2JSON(name, buckets string) {
	e.t.Helper()
	spec := fmt.Sprintf(`{"name":%q,"buckets":%s}`, name, buckets)
	if code, out := e.deploy(spec, testutil.Module(e.t, "csv2json")); code != 201 {
		e.t.Fatalf("deploy %s: %d %v", spec, code, out)
	}
}

func TestObjectTriggerCSVPipeline(t *testing.T) {
	e := startObjects(t)
	e.deployCSV2JSON("csv2json", `["uploads","converted"]`)
	id := e.addTrigger(`{"id":"csv","kind":"object","function":"csv2json","bucket":"uploads","suffix":".csv"}`)
	testutil.Eventually(t, 10*time.Second, "trigger running", func() bool { return e.triggerRunning(id) })

	e.put("uploads", "parts.csv", "name,qty\nbolt,3\nnut,10\n")
	var got string
	testutil.Eventually(t, 20*time.Second, "converted/parts.json", func() bool {
		var ok bool
		got, ok = e.get("converted", "parts.json")
		return ok
	})
	if want := `[{"name":"bolt","qty":"3"},{"name":"nut","qty":"10"}]`; got != want {
		t.Fatalf("converted/parts.json = %s, want %s", got, want)
	}
}

func TestObjectTriggerManyUploadsNoneMissed(t *testing.T) {
	e := startObjects(t)
	e.deployCSV2JSON("csv2json", `["uploads","converted"]`)
	id := e.addTrigger(`{"id":"many","kind":"object","function":"csv2json","bucket":"uploads","suffix":".csv"}`)
	testutil.Eventually(t, 10*time.Second, "trigger running", func() bool { return e.triggerRunning(id) })

	const n = 50
	var want []string
	for i := range n {
		e.put("uploads", fmt.Sprintf("batch/f%02d.csv", i), fmt.Sprintf("i\n%d\n", i))
		want = append(want, fmt.Sprintf("batch/f%02d.json", i))
	}
	testutil.Eventually(t, 60*time.Second, fmt.Sprintf("%d converted objects", n), func() bool {
		return len(e.keys("converted")) >= n && e.settled(id)
	})
	if got := e.keys("converted"); !slices.Equal(got, want) {
		t.Fatalf("converted has %d objects %v, want exactly %d", len(got), got, n)
	}
	for i := range n {
		if got, _ := e.get("converted", want[i]); got != fmt.Sprintf(`[{"i":"%d"}]`, i) {
			t.Fatalf("%s = %s", want[i], got)
		}
	}
}

func TestObjectTriggerPrefixSuffix(t *testing.T) {
	e := startObjects(t)
	e.deployCSV2JSON("csv2json", `["uploads","converted"]`)
	id := e.addTrigger(`{"id":"inbox","kind":"object","function":"csv2json","bucket":"uploads","prefix":"in/","suffix":".csv"}`)
	testutil.Eventually(t, 10*time.Second, "trigger running", func() bool { return e.triggerRunning(id) })

	e.put("uploads", "in/a.csv", "x\n1\n")
	e.put("uploads", "out/b.csv", "x\n2\n")   // wrong prefix
	e.put("uploads", "in/c.txt", "x\n3\n")    // wrong suffix
	e.put("uploads", "in.csv", "x\n4\n")      // no prefix
	e.put("uploads", "in/last.csv", "x\n5\n") // the sentinel
	testutil.Eventually(t, 20*time.Second, "converted/in/last.json", func() bool {
		_, ok := e.get("converted", "in/last.json")
		return ok && e.settled(id)
	})
	if got, want := e.keys("converted"), []string{"in/a.json", "in/last.json"}; !slices.Equal(got, want) {
		t.Fatalf("converted = %v, want %v", got, want)
	}
}

func TestObjectGetBucketNotInSpec(t *testing.T) {
	e := startObjects(t)
	e.deployCSV2JSON("nobuckets", `["converted"]`)
	e.put("uploads", "a.csv", "x\n1\n")
	status, _, body := e.do("POST", "/fn/nobuckets", strings.NewReader(`{"bucket":"uploads","key":"a.csv"}`), nil)
	if status == 200 || errCode(t, body) != "function_error" {
		t.Fatalf("invoke: %d %s, want a function_error", status, body)
	}
	var out struct{ Error struct{ Message string } }
	_ = json.Unmarshal(body, &out)
	if msg := out.Error.Message; !strings.Contains(msg, "uploads/a.csv") || !strings.Contains(msg, "not allowed") || !strings.Contains(msg, "buckets:") {
		t.Fatalf("message %q does not say the bucket is not in the spec", msg)
	}
	if _, ok := e.get("converted", "a.json"); ok {
		t.Fatal("converted/a.json was written")
	}
}

func TestObjectTriggerRemoveDeletesNotification(t *testing.T) {
	e := startObjects(t)
	e.deployCSV2JSON("csv2json", `["uploads","converted"]`)
	id := e.addTrigger(`{"id":"gone","kind":"object","function":"csv2json","bucket":"uploads","suffix":".csv"}`)
	testutil.Eventually(t, 10*time.Second, "trigger running", func() bool { return e.triggerRunning(id) })
	ctx := context.Background()
	conf, err := e.mc.GetBucketNotification(ctx, "uploads")
	if err != nil || len(conf.QueueConfigs) != 1 {
		t.Fatalf("notification after add: %+v %v", conf.QueueConfigs, err)
	}
	if code, body := e.admin("DELETE", "/api/v1/triggers/"+id, nil, ""); code != 200 {
		t.Fatalf("rm: %d %s", code, body)
	}
	conf, err = e.mc.GetBucketNotification(ctx, "uploads")
	if err != nil || len(conf.QueueConfigs) != 0 {
		t.Fatalf("notification after rm: %+v %v", conf.QueueConfigs, err)
	}
	if _, err := e.js.Consumer(ctx, objecttrigger.StreamName, "baton-object-"+id); err == nil {
		t.Fatal("the consumer survived the trigger")
	}
	// Nothing converts an upload any more.
	e.put("uploads", "late.csv", "x\n1\n")
	info, err := e.js.Stream(ctx, objecttrigger.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := info.Info(ctx); st.State.Msgs != 0 {
		t.Fatalf("%d events in the stream after the trigger was removed", st.State.Msgs)
	}
}

// Replacing an object trigger (PUT, as `baton deploy -f` does) keeps its
// consumer and bucket notification, with the new filters.
func TestObjectTriggerReplaceKeepsSetup(t *testing.T) {
	e := startObjects(t)
	e.deployCSV2JSON("csv2json", `["uploads","converted"]`)
	id := e.addTrigger(`{"id":"swap","kind":"object","function":"csv2json","bucket":"uploads","suffix":".csv"}`)
	testutil.Eventually(t, 10*time.Second, "trigger running", func() bool { return e.triggerRunning(id) })
	ctx := context.Background()
	cons, err := e.js.Consumer(ctx, objecttrigger.StreamName, "baton-object-"+id)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := cons.Info(ctx)
	e.put("uploads", "a.csv", "x\n1\n")
	testutil.Eventually(t, 20*time.Second, "converted/a.json", func() bool {
		_, ok := e.get("converted", "a.json")
		return ok && e.settled(id)
	})

	code, body := e.admin("PUT", "/api/v1/triggers/"+id, strings.NewReader(`{"kind":"object","function":"csv2json","bucket":"uploads","prefix":"in/","suffix":".csv"}`), "application/json")
	if code != 200 {
		t.Fatalf("put: %d %s", code, body)
	}
	testutil.Eventually(t, 10*time.Second, "the trigger running with the new spec", func() bool {
		conf, err := e.mc.GetBucketNotification(ctx, "uploads")
		if err != nil || len(conf.QueueConfigs) != 1 {
			return false
		}
		for _, r := range conf.QueueConfigs[0].Filter.S3Key.FilterRules {
			if r.Name == "prefix" && r.Value == "in/" {
				return e.triggerRunning(id)
			}
		}
		return false
	})
	cons, err = e.js.Consumer(ctx, objecttrigger.StreamName, "baton-object-"+id)
	if err != nil {
		t.Fatalf("the consumer did not survive the replace: %v", err)
	}
	after, _ := cons.Info(ctx)
	if !after.Created.Equal(before.Created) || after.Delivered.Stream < before.Delivered.Stream {
		t.Fatalf("the consumer was made again: created %s then %s, delivered %d then %d", before.Created, after.Created, before.Delivered.Stream, after.Delivered.Stream)
	}
	e.put("uploads", "b.csv", "x\n2\n")    // no longer matches
	e.put("uploads", "in/c.csv", "x\n3\n") // the sentinel
	testutil.Eventually(t, 20*time.Second, "converted/in/c.json", func() bool {
		_, ok := e.get("converted", "in/c.json")
		return ok && e.settled(id)
	})
	if got, want := e.keys("converted"), []string{"a.json", "in/c.json"}; !slices.Equal(got, want) {
		t.Fatalf("converted = %v, want %v", got, want)
	}
}
