package manifest_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baton-run/baton/client"
	"github.com/baton-run/baton/internal/manifest"
	"github.com/baton-run/baton/internal/server"
	"github.com/baton-run/baton/internal/servertest"
	"github.com/baton-run/baton/internal/testutil"
)

// node starts a node (dev applies the examples' manifest) and returns a
// client of it.
func node(t *testing.T, dev bool) *client.Client {
	t.Helper()
	srv := servertest.Start(t, server.Config{Dev: dev, ExamplesDir: testutil.BuildDir(t)})
	cl, err := client.New(servertest.URL(srv), srv.Token())
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func load(t *testing.T, dir, text string) *manifest.Manifest {
	t.Helper()
	path := filepath.Join(dir, "baton.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func apply(t *testing.T, cl *client.Client, m *manifest.Manifest, prune bool) string {
	t.Helper()
	res, err := manifest.Apply(context.Background(), cl, m, manifest.Options{Prune: prune})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range res {
		lines = append(lines, r.String())
	}
	return strings.Join(lines, "\n")
}

const v1 = `name: shop
functions:
  - name: hello
    wasm: BUILD/hello.wasm
    memory: 32
    env: {GREETING: Hey}
  - name: ping
    wasm: BUILD/ping.wasm
triggers:
  - kind: nats
    subject: greet.*
    function: hello
  - name: route
    kind: http
    method: POST
    path: /shop/hello
    function: hello
chains:
  - name: flow
    file: flow.yaml
`

func TestApply(t *testing.T) {
	cl := node(t, false)
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte("StartAt: A\nStates: {A: {Type: Pass, End: true}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A function of nobody's: prune leaves it alone.
	if _, err := cl.Deploy(ctx, client.Spec{Name: "other"}, bytes.NewReader(testutil.Module(t, "ping"))); err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(v1, "BUILD", testutil.BuildDir(t))

	got := apply(t, cl, load(t, dir, text), false)
	want := "created function hello\ncreated function ping\ncreated chain flow\ncreated trigger shop--hello-nats\ncreated trigger shop--route"
	if got != want {
		t.Fatalf("first apply:\n%s\nwant\n%s", got, want)
	}
	got = apply(t, cl, load(t, dir, text), false)
	want = "unchanged function hello\nunchanged function ping\nunchanged chain flow\nunchanged trigger shop--hello-nats\nunchanged trigger shop--route"
	if got != want {
		t.Fatalf("second apply:\n%s\nwant\n%s", got, want)
	}
	resp, err := cl.Invoke(ctx, "hello", client.InvokeRequest{Body: []byte(`{"name":"Ada"}`)})
	if err != nil || !strings.Contains(string(resp.Body), "Hey, Ada!") {
		t.Fatalf("invoke hello: %v %+v", err, resp)
	}

	// Updates: a spec, a trigger's subject, the chain.
	changed := strings.NewReplacer("memory: 32", "memory: 48", "greet.*", "hi.*").Replace(text)
	if err := os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte("StartAt: B\nStates: {B: {Type: Pass, End: true}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got = apply(t, cl, load(t, dir, changed), false)
	want = "updated function hello\nunchanged function ping\nupdated chain flow\nupdated trigger shop--hello-nats\nunchanged trigger shop--route"
	if got != want {
		t.Fatalf("update:\n%s\nwant\n%s", got, want)
	}
	tr, err := cl.GetTrigger(ctx, "shop--hello-nats")
	if err != nil || tr.Subject != "hi.*" {
		t.Fatalf("trigger after update: %v %+v", err, tr)
	}

	// Without --prune, dropping entries removes nothing; with it, what
	// this manifest owned goes.
	small := "name: shop\nfunctions:\n  - name: hello\n    wasm: " + testutil.BuildDir(t) + "/hello.wasm\n    memory: 48\n    env: {GREETING: Hey}\n"
	got = apply(t, cl, load(t, dir, small), false)
	if got != "unchanged function hello" {
		t.Fatalf("apply without prune: %q", got)
	}
	got = apply(t, cl, load(t, dir, small), true)
	want = "unchanged function hello\nremoved trigger shop--hello-nats\nremoved trigger shop--route\nremoved chain flow\nremoved function ping"
	if got != want {
		t.Fatalf("prune:\n%s\nwant\n%s", got, want)
	}
	fns, err := cl.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fns {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "hello,other" {
		t.Errorf("functions after prune: %v", names)
	}
}

// TestDevAppliesExamples: Dev applies functions/baton.yaml before the node
// listens.
func TestDevAppliesExamples(t *testing.T) {
	cl := node(t, true)
	ctx := context.Background()
	fns, err := cl.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 5 {
		t.Errorf("%d functions, want the 5 examples", len(fns))
	}
	trs, err := cl.Triggers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tr := range trs {
		ids = append(ids, tr.ID)
	}
	if strings.Join(ids, ",") != "examples--greet,examples--hello-route" {
		t.Errorf("triggers %v", ids)
	}
	// The route answers.
	base := strings.TrimSuffix(cl.BaseURL(), "/")
	testutil.Eventually(t, 10e9, "the /hello route", func() bool {
		resp, err := httpPost(base+"/hello", `{"name":"Ada"}`)
		return err == nil && strings.Contains(resp, "Hello, Ada!")
	})
}

func httpPost(url, body string) (string, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
