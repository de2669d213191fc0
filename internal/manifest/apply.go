package manifest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/baton-run/baton/client"
)

// API is what Apply needs of a node; *client.Client satisfies it.
type API interface {
	Deploy(ctx context.Context, spec client.Spec, module io.Reader) (*client.DeployResult, error)
	List(ctx context.Context) ([]client.Function, error)
	Delete(ctx context.Context, name string) error
	Triggers(ctx context.Context) ([]client.Trigger, error)
	AddTrigger(ctx context.Context, spec client.TriggerSpec) (*client.Trigger, error)
	PutTrigger(ctx context.Context, spec client.TriggerSpec) (*client.Trigger, error)
	DeleteTrigger(ctx context.Context, id string) error
	Chains(ctx context.Context) ([]client.Chain, error)
	DeployChainWith(ctx context.Context, name string, definition []byte, opts client.ChainOptions) (*client.Chain, error)
	DeleteChain(ctx context.Context, name string) error
}

var _ API = (*client.Client)(nil)

// Actions of a Result.
const (
	Created   = "created"
	Updated   = "updated"
	Unchanged = "unchanged"
	Removed   = "removed"
)

// Result is what Apply did to one item.
type Result struct {
	Action string `json:"action"`
	Kind   string `json:"kind"` // function, trigger, chain
	Name   string `json:"name"`
	// Version is the function's or chain's version after the apply.
	Version int `json:"version,omitempty"`
}

func (r Result) String() string { return r.Action + " " + r.Kind + " " + r.Name }

// Options configure Apply.
type Options struct {
	// Prune removes the functions, triggers and chains this manifest's
	// project deployed earlier but no longer declares.
	Prune bool
	// Build builds the Go package in dir into a wasm module; nil means
	// BuildGo.
	Build func(ctx context.Context, dir string) ([]byte, error)
	// Report, when set, is called with each result as it happens.
	Report func(Result)
}

// Apply makes the node match m: functions first, then chains, then
// triggers (which reference both); pruning goes the other way. It stops
// at the first error, returning what it did so far.
func Apply(ctx context.Context, api API, m *Manifest, opts Options) ([]Result, error) {
	var out []Result
	report := func(r Result) {
		out = append(out, r)
		if opts.Report != nil {
			opts.Report(r)
		}
	}
	build := opts.Build
	if build == nil {
		build = BuildGo
	}

	fns, err := api.List(ctx)
	if err != nil {
		return out, fmt.Errorf("listing functions: %w", err)
	}
	existing := map[string]client.Function{}
	for _, f := range fns {
		existing[f.Name] = f
	}
	for _, f := range m.Functions {
		var module []byte
		if f.Wasm != "" {
			module, err = os.ReadFile(f.Wasm)
		} else {
			module, err = build(ctx, f.Build)
		}
		if err != nil {
			return out, fmt.Errorf("function %s: %w", f.Spec.Name, err)
		}
		spec := f.Spec
		spec.Env = map[string]string{}
		for k, v := range f.Spec.Env {
			spec.Env[k] = v
		}
		spec.Env[OwnerEnv] = m.Name
		res, err := api.Deploy(ctx, spec, bytes.NewReader(module))
		if err != nil {
			return out, fmt.Errorf("deploying function %s: %w", spec.Name, err)
		}
		report(Result{Action: changeAction(res.Changed, existing[spec.Name].Name != ""), Kind: "function", Name: spec.Name, Version: res.Version})
	}

	chains, err := api.Chains(ctx)
	if err != nil {
		return out, fmt.Errorf("listing chains: %w", err)
	}
	haveChain := map[string]client.Chain{}
	for _, c := range chains {
		haveChain[c.Name] = c
	}
	for _, c := range m.Chains {
		def, err := markChain(c.Definition, m.Name)
		if err != nil {
			return out, fmt.Errorf("chain %s: %w", c.Name, err)
		}
		res, err := api.DeployChainWith(ctx, c.Name, def, client.ChainOptions{Auth: c.Auth})
		if err != nil {
			return out, fmt.Errorf("deploying chain %s: %w", c.Name, err)
		}
		_, had := haveChain[c.Name]
		report(Result{Action: changeAction(res.Changed, had), Kind: "chain", Name: c.Name, Version: res.Version})
	}

	trs, err := api.Triggers(ctx)
	if err != nil {
		return out, fmt.Errorf("listing triggers: %w", err)
	}
	have := make([]client.TriggerSpec, 0, len(trs))
	for _, t := range trs {
		have = append(have, t.TriggerSpec)
	}
	want := make([]client.TriggerSpec, 0, len(m.Triggers))
	for _, t := range m.Triggers {
		want = append(want, t.Spec)
	}
	for _, st := range PlanTriggers(m.Name, want, have, opts.Prune) {
		switch st.Action {
		case Removed:
			if err := api.DeleteTrigger(ctx, st.Spec.ID); err != nil {
				return out, fmt.Errorf("removing trigger %s: %w", st.Spec.ID, err)
			}
		case Updated:
			// Replaced in place: a stream trigger keeps its place.
			if _, err := api.PutTrigger(ctx, st.Spec); err != nil {
				return out, fmt.Errorf("updating trigger %s: %w", st.Spec.ID, err)
			}
		case Created:
			if _, err := api.AddTrigger(ctx, st.Spec); err != nil {
				return out, fmt.Errorf("adding trigger %s: %w", st.Spec.ID, err)
			}
		}
		report(Result{Action: st.Action, Kind: "trigger", Name: st.Spec.ID})
	}

	if !opts.Prune {
		return out, nil
	}
	for _, c := range chains {
		if !slices.ContainsFunc(m.Chains, func(x Chain) bool { return x.Name == c.Name }) && ownsChain(c.Definition, m.Name) {
			if err := api.DeleteChain(ctx, c.Name); err != nil {
				return out, fmt.Errorf("removing chain %s: %w", c.Name, err)
			}
			report(Result{Action: Removed, Kind: "chain", Name: c.Name})
		}
	}
	for _, f := range fns {
		if f.Spec.Env[OwnerEnv] == m.Name && !slices.ContainsFunc(m.Functions, func(x Function) bool { return x.Spec.Name == f.Name }) {
			if err := api.Delete(ctx, f.Name); err != nil {
				return out, fmt.Errorf("removing function %s: %w", f.Name, err)
			}
			report(Result{Action: Removed, Kind: "function", Name: f.Name})
		}
	}
	return out, nil
}

func changeAction(changed, existed bool) string {
	switch {
	case !changed:
		return Unchanged
	case existed:
		return Updated
	default:
		return Created
	}
}

// TriggerStep is one decision of PlanTriggers.
type TriggerStep struct {
	Action string
	Spec   client.TriggerSpec
}

// PlanTriggers decides, without I/O, what to do to make the stored
// triggers have match want: a want whose id is absent is created, one
// whose stored spec differs is updated (replaced in place), an equal one
// is unchanged. With prune, stored triggers
// of project ("<project>--…") that want lacks are removed. Steps come in
// want's order, removals last.
func PlanTriggers(project string, want, have []client.TriggerSpec, prune bool) []TriggerStep {
	byID := map[string]client.TriggerSpec{}
	for _, h := range have {
		byID[h.ID] = h
	}
	var steps []TriggerStep
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w.ID] = true
		h, ok := byID[w.ID]
		switch {
		case !ok:
			steps = append(steps, TriggerStep{Created, w})
		case sameTrigger(h, w):
			steps = append(steps, TriggerStep{Unchanged, w})
		default:
			steps = append(steps, TriggerStep{Updated, w})
		}
	}
	if prune {
		for _, h := range have {
			if strings.HasPrefix(h.ID, project+"--") && !wanted[h.ID] {
				steps = append(steps, TriggerStep{Removed, h})
			}
		}
	}
	return steps
}

// sameTrigger compares through JSON so that fields added to the client's
// TriggerSpec take part without changes here.
func sameTrigger(a, b client.TriggerSpec) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// ownerMark ends the Comment of a chain definition deployed by project.
func ownerMark(project string) string { return "(manifest " + project + ")" }

// markChain returns def (YAML or JSON) as JSON with the ownership mark
// appended to its top-level Comment.
func markChain(def []byte, project string) ([]byte, error) {
	var m map[string]any
	if err := yaml.Unmarshal(def, &m); err != nil {
		return nil, fmt.Errorf("reading definition: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("reading definition: want a mapping with StartAt and States")
	}
	c, _ := m["Comment"].(string)
	if c != "" {
		c += " "
	}
	m["Comment"] = c + ownerMark(project)
	return json.Marshal(m)
}

func ownsChain(def json.RawMessage, project string) bool {
	var m struct{ Comment string }
	_ = json.Unmarshal(def, &m)
	return strings.HasSuffix(m.Comment, ownerMark(project))
}

// BuildGo builds the Go package in dir as a wasm reactor:
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared.
func BuildGo(ctx context.Context, dir string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "baton-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "module.wasm")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("building %s: %v: %s", dir, err, strings.TrimSpace(stderr.String()))
	}
	return os.ReadFile(out)
}
