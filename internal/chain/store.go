package chain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/internal/registry"
	"github.com/baton-run/baton/scheduler/asl"
)

// Chain is a deployed chain: its current definition and version.
type Chain struct {
	Name string `json:"name"`
	// Version counts deploys that changed the definition, from 1.
	Version int `json:"version"`
	// Definition is the ASL document, as JSON (YAML is converted).
	Definition json.RawMessage `json:"definition"`
	// SHA256 is the hash of Definition.
	SHA256 string `json:"sha256"`
	// Auth is who may start executions at the public POST /chains/NAME
	// (and custom routes to the chain): "none" (anyone) or "token" (the
	// admin token). Empty (a record older than the setting) is "none".
	Auth    string    `json:"auth,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// AuthMode is c.Auth, "none" when empty.
func (c *Chain) AuthMode() string {
	if c.Auth == "" {
		return AuthNone
	}
	return c.Auth
}

// Auth modes of a chain's public start.
const (
	AuthNone  = "none"
	AuthToken = "token"
)

// DeployOptions are the settings of a chain beside its definition.
type DeployOptions struct {
	// Auth is AuthNone or AuthToken; empty keeps the chain's current
	// setting (AuthNone for a new chain), so that a redeploy of the
	// definition alone does not open a guarded chain.
	Auth string
}

// ErrChainNotFound is returned for an unknown chain.
var ErrChainNotFound = event.Errorf(event.CodeNotFound, "no such chain")

func chainNotFound(name string) error {
	return event.Errorf(event.CodeNotFound, "no chain named %q", name)
}

func versionKey(name string, v int) string { return name + ".v" + strconv.Itoa(v) }

// normalize turns a JSON or YAML definition into compact JSON.
func normalize(def []byte) (json.RawMessage, error) {
	t := bytes.TrimSpace(def)
	if len(t) > 0 && t[0] == '{' && json.Valid(t) {
		var b bytes.Buffer
		if err := json.Compact(&b, t); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	var v any
	if err := yaml.Unmarshal(t, &v); err != nil {
		return nil, fmt.Errorf("parsing YAML: %w", err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("converting YAML to JSON: %w", err)
	}
	return out, nil
}

// Deploy validates def (JSON or YAML) and stores it as the next version
// of chain name. A definition equal to the current one is not a new
// version (changed is false). An invalid definition is an
// *asl.ValidationError listing every problem with its path.
func (e *Engine) Deploy(ctx context.Context, name string, def []byte) (c *Chain, changed bool, err error) {
	return e.DeployWith(ctx, name, def, DeployOptions{})
}

// DeployWith is Deploy with the chain's settings: a deploy that changes
// only them updates the chain without a new version.
func (e *Engine) DeployWith(ctx context.Context, name string, def []byte, opts DeployOptions) (c *Chain, changed bool, err error) {
	auth := opts.Auth
	switch auth {
	case "", AuthNone, AuthToken:
	default:
		return nil, false, event.Errorf(event.CodeBadRequest, "auth: %q is neither %q nor %q", opts.Auth, AuthNone, AuthToken)
	}
	if !registry.ValidName(name) {
		return nil, false, event.Errorf(event.CodeBadRequest, "chain name %q must be 1-63 lower-case letters, digits or '-', starting with a letter or digit", name)
	}
	if _, err := asl.Parse(def); err != nil {
		return nil, false, err
	}
	norm, err := normalize(def)
	if err != nil {
		return nil, false, event.Errorf(event.CodeBadRequest, "definition: %v", err)
	}
	sum := sha256.Sum256(norm)
	hash := hex.EncodeToString(sum[:])
	for {
		cur, rev, err := e.getChain(ctx, name)
		now := time.Now().UTC()
		auth := auth
		if auth == "" {
			auth = AuthNone
			if cur != nil {
				auth = cur.AuthMode()
			}
		}
		var next Chain
		switch {
		case errors.Is(err, ErrChainNotFound):
			next = Chain{Name: name, Version: 1, Created: now}
		case err != nil:
			return nil, false, err
		case cur.SHA256 == hash && cur.AuthMode() == auth:
			return cur, false, nil
		case cur.SHA256 == hash:
			next = *cur // only the settings change
		default:
			next = *cur
			next.Version++
		}
		next.Definition, next.SHA256, next.Auth, next.Updated = norm, hash, auth, now
		data, _ := json.Marshal(&next)
		if _, err := e.chains.Put(ctx, versionKey(name, next.Version), data); err != nil {
			return nil, false, unavailable("storing chain", err)
		}
		if rev == 0 {
			_, err = e.chains.Create(ctx, name, data)
		} else {
			_, err = e.chains.Update(ctx, name, data, rev)
		}
		if isConflict(err) {
			continue // someone deployed at the same time: go again
		}
		if err != nil {
			return nil, false, unavailable("storing chain", err)
		}
		e.cacheMachine(name, next.Version, nil)
		return &next, true, nil
	}
}

func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || strings.Contains(fmt.Sprint(err), "wrong last sequence")
}

func unavailable(what string, err error) error {
	if ee := (*event.Error)(nil); errors.As(err, &ee) {
		return err
	}
	return &event.Error{Code: event.CodeUnavailable, Message: what + ": " + err.Error(), Err: err}
}

func (e *Engine) getChain(ctx context.Context, name string) (*Chain, uint64, error) {
	ent, err := e.chains.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, ErrChainNotFound
	}
	if err != nil {
		return nil, 0, unavailable("reading chain", err)
	}
	var c Chain
	if err := json.Unmarshal(ent.Value(), &c); err != nil {
		return nil, 0, fmt.Errorf("decoding chain %q: %w", name, err)
	}
	return &c, ent.Revision(), nil
}

// Chain returns the current version of chain name.
func (e *Engine) Chain(ctx context.Context, name string) (*Chain, error) {
	if !registry.ValidName(name) {
		return nil, chainNotFound(name)
	}
	c, _, err := e.getChain(ctx, name)
	if errors.Is(err, ErrChainNotFound) {
		return nil, chainNotFound(name)
	}
	return c, err
}

// Chains lists the deployed chains by name.
func (e *Engine) Chains(ctx context.Context) ([]*Chain, error) {
	lister, err := e.chains.ListKeysFiltered(ctx, "*")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, unavailable("listing chains", err)
	}
	var names []string
	for k := range lister.Keys() {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]*Chain, 0, len(names))
	for _, n := range names {
		c, _, err := e.getChain(ctx, n)
		if errors.Is(err, ErrChainNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// DeleteChain removes chain name and its versions. Executions still
// running fail with States.Runtime at their next step.
func (e *Engine) DeleteChain(ctx context.Context, name string) error {
	c, err := e.Chain(ctx, name)
	if err != nil {
		return err
	}
	for v := 1; v <= c.Version; v++ {
		_ = e.chains.Purge(ctx, versionKey(name, v))
	}
	if err := e.chains.Purge(ctx, name); err != nil {
		return unavailable("deleting chain", err)
	}
	e.mu.Lock()
	for k := range e.machines {
		if k.name == name {
			delete(e.machines, k)
		}
	}
	e.mu.Unlock()
	return nil
}

type machineKey struct {
	name    string
	version int
}

func (e *Engine) cacheMachine(name string, version int, m *asl.Machine) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m == nil {
		return
	}
	if len(e.machines) > 1024 {
		clear(e.machines)
	}
	e.machines[machineKey{name, version}] = m
}

// machine returns the parsed definition of a chain version.
func (e *Engine) machine(ctx context.Context, name string, version int) (*asl.Machine, error) {
	e.mu.RLock()
	m := e.machines[machineKey{name, version}]
	e.mu.RUnlock()
	if m != nil {
		return m, nil
	}
	ent, err := e.chains.Get(ctx, versionKey(name, version))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("chain %q version %d was deleted", name, version)
	}
	if err != nil {
		return nil, unavailable("reading chain", err)
	}
	var c Chain
	if err := json.Unmarshal(ent.Value(), &c); err != nil {
		return nil, err
	}
	m, err = asl.Parse(c.Definition)
	if err != nil {
		return nil, err
	}
	e.cacheMachine(name, version, m)
	return m, nil
}
