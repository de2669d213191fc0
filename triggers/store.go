package triggers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/event"
)

// Bucket is the KV bucket holding the trigger specs, one JSON value per
// trigger under "trg.<id>".
const Bucket = "baton_triggers"

const keyPrefix = "trg."

// ErrExists is returned by Store.Create for an id already in use.
var ErrExists = errors.New("trigger exists")

// Store keeps the trigger specs in the control plane. It is safe for
// concurrent use, also from several nodes on one NATS.
type Store struct {
	kv jetstream.KeyValue
}

// OpenStore creates the bucket when missing and returns a Store.
func OpenStore(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "baton trigger specs",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("opening KV bucket %s: %w", Bucket, err)
	}
	return &Store{kv: kv}, nil
}

// Create stores a new trigger. spec must be valid and have an id; an id in
// use is ErrExists.
func (s *Store) Create(ctx context.Context, spec Spec) (Spec, error) {
	if spec.ID == "" {
		return spec, Errorf("id", "required")
	}
	if err := spec.Validate(); err != nil {
		return spec, err
	}
	spec.Created = time.Now().UTC()
	b, err := json.Marshal(spec)
	if err != nil {
		return spec, err
	}
	if _, err := s.kv.Create(ctx, keyPrefix+spec.ID, b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return spec, fmt.Errorf("trigger %q: %w", spec.ID, ErrExists)
		}
		return spec, event.Errorf(event.CodeUnavailable, "storing trigger %q: %v", spec.ID, err)
	}
	return spec, nil
}

// Put stores spec, replacing the trigger of the same id (whose creation
// time it keeps) or creating it; created says which. spec must be valid
// and have an id.
func (s *Store) Put(ctx context.Context, spec Spec) (stored Spec, created bool, err error) {
	if spec.ID == "" {
		return spec, false, Errorf("id", "required")
	}
	if err := spec.Validate(); err != nil {
		return spec, false, err
	}
	old, err := s.Get(ctx, spec.ID)
	switch {
	case err == nil:
		spec.Created = old.Created
	case event.CodeOf(err) == event.CodeNotFound:
		spec.Created, created = time.Now().UTC(), true
	default:
		return spec, false, err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return spec, false, err
	}
	if _, err := s.kv.Put(ctx, keyPrefix+spec.ID, b); err != nil {
		return spec, false, event.Errorf(event.CodeUnavailable, "storing trigger %q: %v", spec.ID, err)
	}
	return spec, created, nil
}

// Get returns trigger id; a missing one is an event.Error with code
// not_found.
func (s *Store) Get(ctx context.Context, id string) (Spec, error) {
	var spec Spec
	if !ValidID(id) {
		return spec, event.Errorf(event.CodeNotFound, "no trigger %q", id)
	}
	e, err := s.kv.Get(ctx, keyPrefix+id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return spec, event.Errorf(event.CodeNotFound, "no trigger %q", id)
	}
	if err != nil {
		return spec, event.Errorf(event.CodeUnavailable, "reading trigger %q: %v", id, err)
	}
	if err := json.Unmarshal(e.Value(), &spec); err != nil {
		return spec, fmt.Errorf("decoding trigger %q: %w", id, err)
	}
	return spec, nil
}

// List returns every trigger sorted by id.
func (s *Store) List(ctx context.Context) ([]Spec, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, event.Errorf(event.CodeUnavailable, "listing triggers: %v", err)
	}
	defer func() { _ = lister.Stop() }()
	out := []Spec{}
	for k := range lister.Keys() {
		id, ok := strings.CutPrefix(k, keyPrefix)
		if !ok {
			continue
		}
		spec, err := s.Get(ctx, id)
		if event.CodeOf(err) == event.CodeNotFound {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, spec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Delete removes trigger id; a missing one is not_found.
func (s *Store) Delete(ctx context.Context, id string) error {
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	if err := s.kv.Delete(ctx, keyPrefix+id); err != nil {
		return event.Errorf(event.CodeUnavailable, "deleting trigger %q: %v", id, err)
	}
	return nil
}

// Watch calls fn for every trigger now stored and then for every change
// (spec nil: id was deleted), from one goroutine, until ctx ends. It
// returns once the initial values have been delivered, with a channel
// closed when the watch has stopped.
func (s *Store) Watch(ctx context.Context, fn func(id string, spec *Spec)) (<-chan struct{}, error) {
	w, err := s.kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watching triggers: %w", err)
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = w.Stop() }()
		initial := true
		markReady := func() {
			if initial {
				initial = false
				close(ready)
			}
		}
		defer markReady()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil { // end of the initial values
					markReady()
					continue
				}
				id, ok := strings.CutPrefix(e.Key(), keyPrefix)
				if !ok {
					continue
				}
				if e.Operation() != jetstream.KeyValuePut {
					fn(id, nil)
					continue
				}
				var spec Spec
				if err := json.Unmarshal(e.Value(), &spec); err != nil {
					continue
				}
				fn(id, &spec)
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
