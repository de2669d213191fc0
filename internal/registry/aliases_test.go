package registry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/internal/registry"
	"github.com/baton-run/baton/internal/testutil"
)

func openRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	_, nc := testutil.NATS(t, "")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Open(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// deployN deploys n versions of name (the module bytes differ, so each is
// a new version).
func deployN(t *testing.T, reg *registry.Registry, name string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		d, err := reg.Deploy(context.Background(), registry.Spec{Name: name}, fmt.Appendf(nil, "module %d", i), "reactor")
		if err != nil {
			t.Fatal(err)
		}
		if d.Version.Version != i {
			t.Fatalf("deploy %d made version %d", i, d.Version.Version)
		}
	}
}

func TestSetAndGetAlias(t *testing.T) {
	ctx := context.Background()
	reg := openRegistry(t)
	deployN(t, reg, "fn", 3)

	fn, err := reg.SetAlias(ctx, "fn", "live", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fn.Aliases["live"] != 2 || fn.Current().Version != 2 {
		t.Fatalf("after set: aliases %v, current %d", fn.Aliases, fn.Current().Version)
	}
	if _, err := reg.SetAlias(ctx, "fn", "canary", 2, map[int]int{3: 10, 1: 5}); err != nil {
		t.Fatal(err)
	}
	fn, err = reg.Get(ctx, "fn")
	if err != nil {
		t.Fatal(err)
	}
	a, ok := fn.Alias("canary")
	if !ok || a.Version != 2 || a.Weights[3] != 10 || a.Weights[1] != 5 {
		t.Fatalf("stored canary = %+v, %v", a, ok)
	}
	if got := fn.AliasList(); len(got) != 3 || got[0].Name != "canary" || got[1].Name != "latest" || got[2].Name != "live" {
		t.Fatalf("AliasList = %+v", got)
	}
	if !fn.References(1) || !fn.References(3) {
		t.Fatal("versions named only by weights are not referenced")
	}
	if v := fn.Resolve("canary"); v.Version != 2 {
		t.Fatalf("Resolve(canary) = %d, want the primary 2", v.Version)
	}
	// Setting again without weights drops them.
	if fn, err = reg.SetAlias(ctx, "fn", "canary", 3, nil); err != nil {
		t.Fatal(err)
	}
	if fn.Weights != nil || fn.Aliases["canary"] != 3 {
		t.Fatalf("after reset: aliases %v weights %v", fn.Aliases, fn.Weights)
	}
	// A deploy keeps the aliases and live.
	deployN2 := func() {
		if _, err := reg.Deploy(ctx, registry.Spec{Name: "fn"}, []byte("module 4"), "reactor"); err != nil {
			t.Fatal(err)
		}
	}
	deployN2()
	fn, _ = reg.Get(ctx, "fn")
	if fn.Aliases["latest"] != 4 || fn.Aliases["live"] != 2 || fn.Current().Version != 2 {
		t.Fatalf("after deploy: %v", fn.Aliases)
	}

	if _, err := reg.DeleteAlias(ctx, "fn", "canary"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.DeleteAlias(ctx, "fn", "canary"); event.CodeOf(err) != event.CodeNotFound {
		t.Fatalf("deleting a missing alias: %v, want not_found", err)
	}
	if _, err := reg.DeleteAlias(ctx, "fn", "latest"); event.CodeOf(err) != event.CodeBadRequest {
		t.Fatalf("deleting latest: %v, want bad_request", err)
	}
	if _, err := reg.SetAlias(ctx, "nope", "live", 1, nil); event.CodeOf(err) != event.CodeFunctionNotFound {
		t.Fatalf("alias of a missing function: %v", err)
	}
}

func TestCheckAlias(t *testing.T) {
	fn := &registry.Function{Name: "fn", Latest: 3, Versions: []registry.Version{{Version: 1}, {Version: 2}, {Version: 3}}}
	long := "a"
	for len(long) <= registry.MaxAliasLen {
		long += "a"
	}
	tests := []struct {
		name    string
		alias   string
		version int
		weights map[int]int
		code    event.Code // "" for valid
		field   string
	}{
		{"plain", "live", 1, nil, "", ""},
		{"canary", "live", 1, map[int]int{2: 10}, "", ""},
		{"two canaries", "prod-2", 1, map[int]int{2: 10, 3: 89}, "", ""},
		{"min weight", "x", 3, map[int]int{1: 1}, "", ""},
		{"latest reserved", "latest", 1, nil, event.CodeBadRequest, "alias:"},
		{"upper case", "Live", 1, nil, event.CodeBadRequest, "alias:"},
		{"starts with digit", "1a", 1, nil, event.CodeBadRequest, "alias:"},
		{"empty", "", 1, nil, event.CodeBadRequest, "alias:"},
		{"too long", long, 1, nil, event.CodeBadRequest, "alias:"},
		{"colon", "a:b", 1, nil, event.CodeBadRequest, "alias:"},
		{"version zero", "live", 0, nil, event.CodeBadRequest, "version:"},
		{"unknown version", "live", 7, nil, event.CodeFunctionNotFound, "no version 7"},
		{"weight zero", "live", 1, map[int]int{2: 0}, event.CodeBadRequest, "weights:"},
		{"weight negative", "live", 1, map[int]int{2: -5}, event.CodeBadRequest, "weights:"},
		{"weight 100", "live", 1, map[int]int{2: 100}, event.CodeBadRequest, "weights:"},
		{"sum 100", "live", 1, map[int]int{2: 50, 3: 50}, event.CodeBadRequest, "weights:"},
		{"own version", "live", 1, map[int]int{1: 10}, event.CodeBadRequest, "weights:"},
		{"unknown weighted version", "live", 1, map[int]int{9: 10}, event.CodeFunctionNotFound, "no version 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := registry.CheckAlias(fn, tt.alias, tt.version, tt.weights)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if event.CodeOf(err) != tt.code || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("error %v, want code %s naming %q", err, tt.code, tt.field)
			}
		})
	}
}

func TestSetAliasValidatesAgainstStore(t *testing.T) {
	ctx := context.Background()
	reg := openRegistry(t)
	deployN(t, reg, "fn", 2)
	if _, err := reg.SetAlias(ctx, "fn", "live", 1, map[int]int{2: 100}); event.CodeOf(err) != event.CodeBadRequest {
		t.Fatalf("bad weights: %v", err)
	}
	if _, err := reg.SetAlias(ctx, "fn", "live", 3, nil); event.CodeOf(err) != event.CodeFunctionNotFound {
		t.Fatalf("unknown version: %v", err)
	}
	fn, _ := reg.Get(ctx, "fn")
	if _, ok := fn.Aliases["live"]; ok || fn.Weights != nil {
		t.Fatalf("a refused alias was stored: %v %v", fn.Aliases, fn.Weights)
	}
}

func TestRollback(t *testing.T) {
	ctx := context.Background()
	reg := openRegistry(t)
	deployN(t, reg, "fn", 3)

	// Without live: from latest to the one before.
	rb, err := reg.Rollback(ctx, "fn")
	if err != nil {
		t.Fatal(err)
	}
	if rb.From != 3 || rb.To != 2 || rb.Function.Aliases["live"] != 2 || rb.Function.Current().Version != 2 {
		t.Fatalf("first rollback: %d → %d, aliases %v", rb.From, rb.To, rb.Function.Aliases)
	}
	// With live (and weights, which rollback drops): from live.
	if _, err := reg.SetAlias(ctx, "fn", "live", 2, map[int]int{3: 20}); err != nil {
		t.Fatal(err)
	}
	rb, err = reg.Rollback(ctx, "fn")
	if err != nil {
		t.Fatal(err)
	}
	if rb.From != 2 || rb.To != 1 || rb.Function.Weights != nil {
		t.Fatalf("second rollback: %d → %d, weights %v", rb.From, rb.To, rb.Function.Weights)
	}
	// At version 1 there is nothing before.
	if _, err := reg.Rollback(ctx, "fn"); event.CodeOf(err) != event.CodeBadRequest || !strings.Contains(err.Error(), "version 1") {
		t.Fatalf("rollback at version 1: %v", err)
	}
	fn, _ := reg.Get(ctx, "fn")
	if fn.Aliases["live"] != 1 || fn.Aliases["latest"] != 3 {
		t.Fatalf("stored aliases %v", fn.Aliases)
	}

	// A function with one version and no live.
	deployN(t, reg, "one", 1)
	if _, err := reg.Rollback(ctx, "one"); event.CodeOf(err) != event.CodeBadRequest {
		t.Fatalf("rollback of a single version: %v", err)
	}
	if _, err := reg.Rollback(ctx, "nope"); event.CodeOf(err) != event.CodeFunctionNotFound {
		t.Fatalf("rollback of a missing function: %v", err)
	}
}

func TestRollbackTarget(t *testing.T) {
	vs := func(ns ...int) []registry.Version {
		var out []registry.Version
		for _, n := range ns {
			out = append(out, registry.Version{Version: n})
		}
		return out
	}
	tests := []struct {
		name     string
		fn       registry.Function
		from, to int
		err      bool
	}{
		{"latest", registry.Function{Latest: 3, Versions: vs(1, 2, 3)}, 3, 2, false},
		{"live", registry.Function{Latest: 3, Aliases: map[string]int{"live": 2}, Versions: vs(1, 2, 3)}, 2, 1, false},
		{"gap", registry.Function{Latest: 5, Versions: vs(1, 2, 5)}, 5, 2, false},
		{"first", registry.Function{Latest: 1, Versions: vs(1)}, 1, 0, true},
		{"live first", registry.Function{Latest: 3, Aliases: map[string]int{"live": 1}, Versions: vs(1, 2, 3)}, 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to, err := registry.RollbackTarget(&tt.fn)
			if from != tt.from || to != tt.to || (err != nil) != tt.err {
				t.Fatalf("got %d → %d, %v; want %d → %d, error %v", from, to, err, tt.from, tt.to, tt.err)
			}
		})
	}
}

// TestConcurrentSetAlias hammers one record: every goroutine sets its own
// alias at once, and compare-and-set must keep every one.
func TestConcurrentSetAlias(t *testing.T) {
	ctx := context.Background()
	reg := openRegistry(t)
	deployN(t, reg, "fn", 2)
	const n = 16
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := reg.SetAlias(ctx, "fn", fmt.Sprintf("a%d", i), 1+i%2, map[int]int{2 - i%2: 1 + i})
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	fn, err := reg.Get(ctx, "fn")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		a, ok := fn.Alias(fmt.Sprintf("a%d", i))
		if !ok || a.Version != 1+i%2 || a.Weights[2-i%2] != 1+i {
			t.Errorf("alias a%d = %+v, %v: lost", i, a, ok)
		}
	}
}

// TestOldRecordsDecode: records stored before weights existed have only
// "aliases"; they read and route as before.
func TestOldRecordsDecode(t *testing.T) {
	old := `{"name":"fn","latest":2,"aliases":{"latest":2,"live":1},"versions":[{"version":1},{"version":2}]}`
	var fn registry.Function
	if err := json.Unmarshal([]byte(old), &fn); err != nil {
		t.Fatal(err)
	}
	if fn.Weights != nil || fn.Route("", 0).Version != 1 || fn.Route("latest", 0).Version != 2 {
		t.Fatalf("old record: %+v", fn)
	}
	b, _ := json.Marshal(&fn)
	if strings.Contains(string(b), "weights") {
		t.Fatalf("a record without weights writes them: %s", b)
	}
}

func TestPick(t *testing.T) {
	tests := []struct {
		name    string
		primary int
		weights map[int]int
		r       int
		want    int
	}{
		{"no weights", 1, nil, 0, 1},
		{"no weights high", 1, nil, 99, 1},
		{"one weight inside", 1, map[int]int{2: 10}, 0, 2},
		{"one weight edge", 1, map[int]int{2: 10}, 9, 2},
		{"one weight past", 1, map[int]int{2: 10}, 10, 1},
		{"one weight top", 1, map[int]int{2: 10}, 99, 1},
		{"two: lower version first", 1, map[int]int{3: 20, 2: 10}, 9, 2},
		{"two: then the next", 1, map[int]int{3: 20, 2: 10}, 10, 3},
		{"two: last of the next", 1, map[int]int{3: 20, 2: 10}, 29, 3},
		{"two: primary", 1, map[int]int{3: 20, 2: 10}, 30, 1},
		{"canary below primary", 5, map[int]int{4: 99}, 98, 4},
		{"canary below primary rest", 5, map[int]int{4: 99}, 99, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := registry.Pick(tt.primary, tt.weights, tt.r); got != tt.want {
				t.Fatalf("Pick(%d, %v, %d) = %d, want %d", tt.primary, tt.weights, tt.r, got, tt.want)
			}
		})
	}
}

// TestPickDistribution draws 10,000 picks with a fixed seed and checks each
// version's share against its weight within 4.5 binomial standard
// deviations.
func TestPickDistribution(t *testing.T) {
	tests := []struct {
		name    string
		primary int
		weights map[int]int
	}{
		{"10% canary", 1, map[int]int{2: 10}},
		{"50/50", 1, map[int]int{2: 50}},
		{"three ways", 1, map[int]int{2: 5, 3: 25}},
		{"1%", 7, map[int]int{8: 1}},
	}
	const n = 10000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			counts := map[int]int{}
			for range n {
				counts[registry.Pick(tt.primary, tt.weights, rng.IntN(100))]++
			}
			want := map[int]int{tt.primary: 100}
			for v, w := range tt.weights {
				want[v] = w
				want[tt.primary] -= w
			}
			for v, pct := range want {
				p := float64(pct) / 100
				mean := n * p
				bound := 4.5 * math.Sqrt(n*p*(1-p))
				if got := float64(counts[v]); math.Abs(got-mean) > bound {
					t.Errorf("version %d ran %v times, want %v ± %.0f", v, got, mean, bound)
				}
			}
			if len(counts) != len(want) {
				t.Errorf("picked versions %v, want only %v", counts, want)
			}
		})
	}
}

func TestRoute(t *testing.T) {
	fn := &registry.Function{
		Name: "fn", Latest: 3,
		Aliases:  map[string]int{"latest": 3, "live": 1, "canary": 2},
		Weights:  map[string]map[int]int{"live": {2: 10}, "canary": {3: 50}},
		Versions: []registry.Version{{Version: 1}, {Version: 2}, {Version: 3}},
	}
	tests := []struct {
		qual string
		r    int
		want int // 0: nil
	}{
		{"", 0, 2}, {"", 10, 1}, {"", 99, 1},
		{"live", 5, 2}, {"live", 50, 1},
		{"canary", 49, 3}, {"canary", 50, 2},
		{"latest", 0, 3},
		{"1", 0, 1}, {"3", 0, 3}, {"2", 99, 2},
		{"4", 0, 0}, {"nope", 0, 0}, {"01", 0, 0},
	}
	for _, tt := range tests {
		v := fn.Route(tt.qual, tt.r)
		got := 0
		if v != nil {
			got = v.Version
		}
		if got != tt.want {
			t.Errorf("Route(%q, %d) = %d, want %d", tt.qual, tt.r, got, tt.want)
		}
	}
	noLive := &registry.Function{Latest: 2, Aliases: map[string]int{"latest": 2}, Versions: []registry.Version{{Version: 1}, {Version: 2}}}
	if v := noLive.Route("", 0); v.Version != 2 {
		t.Errorf("without live: %d, want latest 2", v.Version)
	}
}

func BenchmarkRoute(b *testing.B) {
	fn := &registry.Function{
		Name: "fn", Latest: 3,
		Aliases:  map[string]int{"latest": 3, "live": 1},
		Weights:  map[string]map[int]int{"live": {2: 10, 3: 5}},
		Versions: []registry.Version{{Version: 1}, {Version: 2}, {Version: 3}},
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if fn.Route("", i%100) == nil {
			b.Fatal("nil")
		}
	}
}

func TestNeedsToken(t *testing.T) {
	open, token := registry.Spec{Name: "f"}, registry.Spec{Name: "f", Auth: registry.AuthToken}
	f := &registry.Function{Name: "f", Latest: 3, Versions: []registry.Version{{Version: 1, Spec: open}, {Version: 2, Spec: token}, {Version: 3, Spec: open}},
		Aliases: map[string]int{"live": 1, "prod": 3}, Weights: map[string]map[int]int{"live": {2: 10}}}
	for _, tt := range []struct {
		qualifier string
		want      bool
	}{
		{"", true},      // live: 1, with 10% on the token version 2
		{"live", true},  // the same
		{"1", false},    // a version named
		{"2", true},     // the token version named
		{"prod", false}, // an alias without weights
		{"9", false},    // nothing to reach
	} {
		if got := f.NeedsToken(tt.qualifier); got != tt.want {
			t.Errorf("NeedsToken(%q) = %v, want %v", tt.qualifier, got, tt.want)
		}
	}
}

// A version recorded with another spec hash (an older baton hashed the
// defaults too) is still the same spec: an identical deploy leaves it.
func TestIdenticalDeployIgnoresStoredSpecHash(t *testing.T) {
	_, nc := testutil.NATS(t, "")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reg, err := registry.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	spec := registry.Spec{Name: "f", Memory: 32}
	if _, err := reg.Deploy(ctx, spec, []byte("module"), "reactor"); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, registry.FunctionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v %v", keys, err)
	}
	ent, err := kv.Get(ctx, keys[0])
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(ent.Value(), &rec); err != nil {
		t.Fatal(err)
	}
	rec["versions"].([]any)[0].(map[string]any)["specHash"] = "an-old-style-hash"
	b, _ := json.Marshal(rec)
	if _, err := kv.Update(ctx, keys[0], b, ent.Revision()); err != nil {
		t.Fatal(err)
	}
	d, err := reg.Deploy(ctx, spec, []byte("module"), "reactor")
	if err != nil || d.Changed || d.Version.Version != 1 {
		t.Fatalf("identical deploy after an old-style hash: %+v %v", d, err)
	}
}

func TestNeedsTokenDoesNotAllocate(t *testing.T) {
	f := &registry.Function{Name: "f", Latest: 2, Versions: []registry.Version{{Version: 1}, {Version: 2}},
		Aliases: map[string]int{"live": 1}, Weights: map[string]map[int]int{"live": {2: 10}}}
	if n := testing.AllocsPerRun(100, func() { f.NeedsToken("") }); n != 0 {
		t.Fatalf("NeedsToken allocates %v times per call", n)
	}
}
