package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/event"
)

// Bucket names in JetStream.
const (
	FunctionsBucket = "baton_functions"
	ModulesBucket   = "baton_modules"
)

// Aliases with a meaning of their own.
const (
	// AliasLatest always names the newest version; it cannot be set.
	AliasLatest = "latest"
	// AliasLive, when set, is what plain invocations (no qualifier) run;
	// Rollback moves it.
	AliasLive = "live"
)

// Version is one immutable deploy of a function.
type Version struct {
	Version  int       `json:"version"`
	SHA256   string    `json:"sha256"`
	Size     int64     `json:"size"`
	Mode     string    `json:"mode"`
	Spec     Spec      `json:"spec"`
	SpecHash string    `json:"specHash"`
	Created  time.Time `json:"created"`
}

// Function is the stored record of a function: every version and the
// aliases pointing at them.
type Function struct {
	Name    string         `json:"name"`
	Latest  int            `json:"latest"`
	Aliases map[string]int `json:"aliases"`
	// Weights holds the canary split of an alias: alias → extra version →
	// percent of its invocations (the rest run the alias's own version).
	// Records stored before weights existed have none.
	Weights  map[string]map[int]int `json:"weights,omitempty"`
	Versions []Version              `json:"versions"`
	Created  time.Time              `json:"created"`
	Updated  time.Time              `json:"updated"`
}

// Version returns version n, or nil.
func (f *Function) Version(n int) *Version {
	for i := range f.Versions {
		if f.Versions[i].Version == n {
			return &f.Versions[i]
		}
	}
	return nil
}

// Current is the version plain invocations run: alias "live" when set,
// else the latest. It ignores weights; Route applies them.
func (f *Function) Current() *Version {
	if n, ok := f.Aliases[AliasLive]; ok {
		if v := f.Version(n); v != nil {
			return v
		}
	}
	return f.Version(f.Latest)
}

// Resolve finds the version a qualifier names: "" (current), an alias, or
// a version number. For an alias it is the alias's own version, whatever
// its weights; Route applies them.
func (f *Function) Resolve(qualifier string) *Version {
	if qualifier == "" {
		return f.Current()
	}
	if n, ok := f.Aliases[qualifier]; ok {
		return f.Version(n)
	}
	var n int
	if _, err := fmt.Sscanf(qualifier, "%d", &n); err == nil && fmt.Sprint(n) == qualifier {
		return f.Version(n)
	}
	return nil
}

// Registry is the function store. It is safe for concurrent use, also
// from several nodes on one NATS.
type Registry struct {
	kv  jetstream.KeyValue
	obs jetstream.ObjectStore
}

// Open creates the buckets when missing and returns a Registry.
func Open(ctx context.Context, js jetstream.JetStream) (*Registry, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      FunctionsBucket,
		Description: "baton function records",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("opening KV bucket %s: %w", FunctionsBucket, err)
	}
	obs, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      ModulesBucket,
		Description: "baton wasm modules by sha256",
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("opening object store %s: %w", ModulesBucket, err)
	}
	return &Registry{kv: kv, obs: obs}, nil
}

// Deployment is what a deploy did.
type Deployment struct {
	Function *Function
	Version  *Version
	Changed  bool
}

// SHA256 returns the hex digest of b.
func SHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Deploy stores module under its sha256 and records a new version of
// spec.Name, unless the newest version has the same bytes and spec. The
// caller has validated both (spec.Validate, runtime Inspect/Load).
func (r *Registry) Deploy(ctx context.Context, spec Spec, module []byte, mode string) (*Deployment, error) {
	spec = spec.WithDefaults()
	sum := SHA256(module)
	specHash := spec.Hash()
	if err := r.putModule(ctx, sum, module); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		fn, rev, err := r.get(ctx, spec.Name)
		if err != nil && !errors.Is(err, event.ErrFunctionNotFound) {
			return nil, err
		}
		now := time.Now().UTC()
		if fn == nil {
			fn = &Function{Name: spec.Name, Aliases: map[string]int{}, Created: now}
		}
		// The stored spec is hashed again: a hash stored by an older
		// baton (whose Hash covered defaults) must not make an identical
		// deploy a new version.
		if cur := fn.Version(fn.Latest); cur != nil && cur.SHA256 == sum && cur.Spec.Hash() == specHash {
			return &Deployment{Function: fn, Version: cur, Changed: false}, nil
		}
		v := Version{Version: fn.Latest + 1, SHA256: sum, Size: int64(len(module)), Mode: mode, Spec: spec, SpecHash: specHash, Created: now}
		fn.Versions = append(fn.Versions, v)
		fn.Latest = v.Version
		fn.Aliases[AliasLatest] = v.Version
		fn.Updated = now
		if err := r.put(ctx, fn, rev); err != nil {
			if isConflict(err) && attempt < 10 {
				continue // someone else deployed meanwhile: redo on top of theirs
			}
			return nil, err
		}
		return &Deployment{Function: fn, Version: fn.Version(v.Version), Changed: true}, nil
	}
}

func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

func (r *Registry) putModule(ctx context.Context, sum string, module []byte) error {
	if info, err := r.obs.GetInfo(ctx, sum); err == nil && info.Size == uint64(len(module)) {
		return nil
	}
	if _, err := r.obs.PutBytes(ctx, sum, module); err != nil {
		return fmt.Errorf("storing module %s: %w", sum[:12], err)
	}
	return nil
}

// Module returns the bytes of the module with the given sha256.
func (r *Registry) Module(ctx context.Context, sum string) ([]byte, error) {
	b, err := r.obs.GetBytes(ctx, sum)
	if err != nil {
		return nil, fmt.Errorf("reading module %s: %w", sum, err)
	}
	if got := SHA256(b); got != sum {
		return nil, fmt.Errorf("module %s is corrupt: its bytes hash to %s", sum, got)
	}
	return b, nil
}

func key(name string) string { return "fn." + name }

// Get returns the record of one function, or event.ErrFunctionNotFound.
func (r *Registry) Get(ctx context.Context, name string) (*Function, error) {
	fn, _, err := r.get(ctx, name)
	return fn, err
}

func (r *Registry) get(ctx context.Context, name string) (*Function, uint64, error) {
	e, err := r.kv.Get(ctx, key(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, 0, event.Errorf(event.CodeFunctionNotFound, "no function named %q", name)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading function %q: %w", name, err)
	}
	fn, err := decode(e.Value())
	if err != nil {
		return nil, 0, fmt.Errorf("reading function %q: %w", name, err)
	}
	return fn, e.Revision(), nil
}

func decode(b []byte) (*Function, error) {
	var fn Function
	if err := json.Unmarshal(b, &fn); err != nil {
		return nil, err
	}
	if fn.Aliases == nil {
		fn.Aliases = map[string]int{}
	}
	return &fn, nil
}

// put writes fn; rev 0 creates, anything else updates with compare-and-set.
func (r *Registry) put(ctx context.Context, fn *Function, rev uint64) error {
	b, err := json.Marshal(fn)
	if err != nil {
		return err
	}
	if rev == 0 {
		_, err = r.kv.Create(ctx, key(fn.Name), b)
	} else {
		_, err = r.kv.Update(ctx, key(fn.Name), b, rev)
	}
	return err
}

// List returns every function sorted by name.
func (r *Registry) List(ctx context.Context) ([]*Function, error) {
	lister, err := r.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing functions: %w", err)
	}
	defer lister.Stop()
	var out []*Function
	for k := range lister.Keys() {
		e, err := r.kv.Get(ctx, k)
		if err != nil {
			continue // deleted meanwhile
		}
		fn, err := decode(e.Value())
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", k, err)
		}
		out = append(out, fn)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Delete removes a function and every module no other function uses.
func (r *Registry) Delete(ctx context.Context, name string) error {
	fn, rev, err := r.get(ctx, name)
	if err != nil {
		return err
	}
	if err := r.kv.Delete(ctx, key(name), jetstream.LastRevision(rev)); err != nil {
		if isConflict(err) {
			return fmt.Errorf("deleting %q: it changed meanwhile, try again", name)
		}
		return fmt.Errorf("deleting %q: %w", name, err)
	}
	inUse := map[string]bool{}
	others, err := r.List(ctx)
	if err != nil {
		return nil // the function is gone; unused modules stay until the next delete
	}
	for _, o := range others {
		for _, v := range o.Versions {
			inUse[v.SHA256] = true
		}
	}
	for _, v := range fn.Versions {
		if !inUse[v.SHA256] {
			inUse[v.SHA256] = true // delete once
			_ = r.obs.Delete(ctx, v.SHA256)
		}
	}
	return nil
}

// Change is one update seen by Watch: Function is nil when Name was deleted.
type Change struct {
	Name     string
	Function *Function
}

// Watch calls fn for every function now stored and then for every change,
// until ctx ends. It returns once the initial values have been delivered,
// with a channel that is closed when the watch has stopped.
func (r *Registry) Watch(ctx context.Context, fn func(Change)) (<-chan struct{}, error) {
	w, err := r.kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watching functions: %w", err)
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = w.Stop() }()
		initial := true
		for {
			select {
			case <-ctx.Done():
				if initial {
					close(ready)
				}
				return
			case e, ok := <-w.Updates():
				if !ok {
					if initial {
						close(ready)
					}
					return
				}
				if e == nil { // end of the initial values
					if initial {
						initial = false
						close(ready)
					}
					continue
				}
				name := e.Key()[len("fn."):]
				if e.Operation() != jetstream.KeyValuePut {
					fn(Change{Name: name})
					continue
				}
				f, err := decode(e.Value())
				if err != nil {
					continue
				}
				fn(Change{Name: name, Function: f})
			}
		}
	}()
	select {
	case <-ready:
		return done, nil
	case <-ctx.Done():
		<-done
		return nil, ctx.Err()
	}
}
