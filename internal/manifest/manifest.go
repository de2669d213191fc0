// Package manifest reads baton.yaml (docs/manifest.md) — functions,
// triggers and chains declared in one file — and applies it to a node
// through the admin API, idempotently.
//
//	baton.yaml ──Load──▶ Manifest ──Apply(API)──▶ []Result
//	                                 │  functions: deploy (server says changed)
//	                                 │  chains:    deploy (server says changed)
//	                                 │  triggers:  plan (pure) → delete+add
//	                                 └─ --prune:   remove what this manifest owned
//
// Ownership (what --prune may remove) is recorded on the objects
// themselves: functions carry env BATON_MANIFEST=<project>, trigger ids are
// "<project>--<name>", chain definitions end their Comment with
// "(manifest <project>)".
package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/baton-run/baton/client"
	"github.com/baton-run/baton/triggers"
)

// OwnerEnv is the env variable that marks a function as deployed by a
// manifest; its value is the manifest's project name.
const OwnerEnv = "BATON_MANIFEST"

// Manifest is a parsed baton.yaml.
type Manifest struct {
	// Name is the project name (top-level `name`, default the directory's
	// name); it scopes ownership for --prune.
	Name string `json:"name"`
	// File is the path it was read from; Dir resolves relative paths.
	File string `json:"-"`
	Dir  string `json:"-"`

	Functions []Function `json:"functions,omitempty"`
	Triggers  []Trigger  `json:"triggers,omitempty"`
	Chains    []Chain    `json:"chains,omitempty"`
}

// Function is one `functions:` entry: a spec and where its module comes
// from (Wasm, a file, or Build, a Go package), both absolute after Load.
type Function struct {
	Spec  client.Spec `json:"spec"`
	Wasm  string      `json:"wasm,omitempty"`
	Build string      `json:"build,omitempty"`
	Line  int         `json:"-"`
}

// Trigger is one `triggers:` entry; Spec.ID is "<project>--<Name>".
type Trigger struct {
	Name string             `json:"name"`
	Spec client.TriggerSpec `json:"spec"`
	Line int                `json:"-"`
}

// Chain is one `chains:` entry with its definition (read from `file` or
// given inline as `definition`).
type Chain struct {
	Name string `json:"name"`
	// Auth is who may start it at POST /chains/NAME: "none" or "token".
	Auth       string `json:"auth,omitempty"`
	File       string `json:"file,omitempty"`
	Definition []byte `json:"-"`
	Line       int    `json:"-"`
}

// Error is an invalid manifest: "FILE:LINE: field: message".
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	projectRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	envKeyRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	yamlErrRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// Load reads and parses the manifest at path.
func Load(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	m, err := Parse(filepath.Base(path), data, filepath.Dir(abs))
	if err != nil {
		return nil, err
	}
	m.File = path
	return m, nil
}

// Parse parses data (named file in errors); relative paths are resolved
// against dir. Chain definition files are read here, so that a missing
// one is an error with its line. Errors are *Error.
func Parse(file string, data []byte, dir string) (*Manifest, error) {
	p := &parser{file: file, dir: dir}
	m, err := p.parse(data)
	if err != nil {
		return nil, err
	}
	return m, nil
}

type parser struct {
	file, dir string
}

func (p *parser) errf(n *yaml.Node, field, format string, args ...any) *Error {
	line := 1
	if n != nil && n.Line > 0 {
		line = n.Line
	}
	return &Error{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parse(data []byte) (*Manifest, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg, line := err.Error(), 1
		if sm := yamlErrRE.FindStringSubmatch(msg); sm != nil {
			line, _ = strconv.Atoi(sm[1])
			msg = sm[2]
		}
		return nil, &Error{File: p.file, Line: line, Msg: strings.TrimPrefix(msg, "yaml: ")}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, p.errf(nil, "", "empty manifest (want functions:, triggers:, chains:)")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, p.errf(root, "", "want a mapping with functions:, triggers:, chains:")
	}
	m := &Manifest{Dir: p.dir}
	var fnNode, trNode, chNode *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "name":
			if v.Kind != yaml.ScalarNode || !projectRE.MatchString(v.Value) || len(v.Value) > 40 {
				return nil, p.errf(v, "name", "%q is not a project name (lower-case letters and digits, single '-' between, at most 40)", v.Value)
			}
			m.Name = v.Value
		case "functions":
			fnNode = v
		case "triggers":
			trNode = v
		case "chains":
			chNode = v
		default:
			return nil, p.errf(k, k.Value, "unknown field (want name, functions, triggers, chains)")
		}
	}
	if m.Name == "" {
		m.Name = defaultProject(p.dir)
	}
	if err := p.functions(m, fnNode); err != nil {
		return nil, err
	}
	if err := p.chains(m, chNode); err != nil {
		return nil, err
	}
	if err := p.triggers(m, trNode); err != nil {
		return nil, err
	}
	return m, nil
}

// defaultProject turns a directory name into a project name.
func defaultProject(dir string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(filepath.Base(dir)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			if s := b.String(); s != "" && !strings.HasSuffix(s, "-") {
				b.WriteByte('-')
			}
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 40 {
		s = strings.Trim(s[:40], "-")
	}
	if s == "" {
		s = "default"
	}
	return s
}

func (p *parser) seq(n *yaml.Node, field string) ([]*yaml.Node, error) {
	if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, field, "want a list")
	}
	for i, e := range n.Content {
		if e.Kind != yaml.MappingNode {
			return nil, p.errf(e, fmt.Sprintf("%s[%d]", field, i), "want a mapping")
		}
	}
	return n.Content, nil
}

// key returns the key node of field in mapping n.
func key(n *yaml.Node, field string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == field {
			return n.Content[i]
		}
	}
	return nil
}

// keyOr is key, or n itself when field is absent (for an error's line).
func keyOr(n *yaml.Node, field string) *yaml.Node {
	if k := key(n, field); k != nil {
		return k
	}
	return n
}

// decode decodes mapping n strictly into v through JSON, so that v's json
// tags (the client's types) name the fields; errors carry the line.
func (p *parser) decode(n *yaml.Node, prefix string, v any) error {
	var generic any
	if err := n.Decode(&generic); err != nil {
		return p.errf(n, prefix, "%v", err)
	}
	raw, err := json.Marshal(generic)
	if err != nil {
		return p.errf(n, prefix, "%v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// Drop the names of embedded Go structs ("Spec.memory").
		path := strings.Split(te.Field, ".")
		for len(path) > 1 && path[0] != "" && path[0][0] >= 'A' && path[0][0] <= 'Z' {
			path = path[1:]
		}
		te.Field = strings.Join(path, ".")
		field := path[0]
		at := key(n, field)
		if at == nil {
			at = n
		}
		return p.errf(at, prefix+"."+te.Field, "want %s, got %s", te.Type, te.Value)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		at := key(n, f)
		if at == nil {
			at = n
		}
		return p.errf(at, prefix+"."+f, "unknown field")
	}
	return p.errf(n, prefix, "%v", err)
}

type functionEntry struct {
	client.Spec
	Wasm  string `json:"wasm"`
	Build string `json:"build"`
}

func (p *parser) functions(m *Manifest, n *yaml.Node) error {
	entries, err := p.seq(n, "functions")
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, e := range entries {
		at := fmt.Sprintf("functions[%d]", i)
		var fe functionEntry
		if err := p.decode(e, at, &fe); err != nil {
			return err
		}
		line := func(field string) *yaml.Node { return keyOr(e, field) }
		switch {
		case fe.Name == "":
			return p.errf(e, at+".name", "required")
		case !nameRE.MatchString(fe.Name):
			return p.errf(line("name"), at+".name", "%q is not a function name ([a-z0-9][a-z0-9-]{0,62})", fe.Name)
		case seen[fe.Name]:
			return p.errf(line("name"), at+".name", "function %q is declared twice", fe.Name)
		case fe.Wasm == "" && fe.Build == "":
			return p.errf(e, at, "set wasm (a .wasm file) or build (a Go package directory)")
		case fe.Wasm != "" && fe.Build != "":
			return p.errf(line("build"), at+".build", "set wasm or build, not both")
		}
		seen[fe.Name] = true
		for _, d := range []struct{ field, v string }{
			{"timeout", fe.Timeout}, {"idleTimeout", fe.IdleTimeout},
			{"queueTimeout", fe.QueueTimeout}, {"retryBackoff", fe.RetryBackoff},
		} {
			if d.v == "" {
				continue
			}
			if dur, err := time.ParseDuration(d.v); err != nil || dur <= 0 {
				return p.errf(line(d.field), at+"."+d.field, "%q is not a positive Go duration (e.g. 5s)", d.v)
			}
		}
		for k := range fe.Env {
			if !envKeyRE.MatchString(k) {
				return p.errf(line("env"), at+".env", "%q is not an environment variable name", k)
			}
			if k == OwnerEnv {
				return p.errf(line("env"), at+".env", "%s is set by baton deploy -f", OwnerEnv)
			}
		}
		if fe.Memory < 0 || fe.MaxInstances < 0 || fe.MinInstances < 0 {
			return p.errf(e, at, "memory, maxInstances and minInstances must not be negative")
		}
		fn := Function{Spec: fe.Spec, Line: e.Line}
		if fe.Wasm != "" {
			fn.Wasm = p.path(fe.Wasm)
		} else {
			fn.Build = p.path(fe.Build)
		}
		m.Functions = append(m.Functions, fn)
	}
	return nil
}

func (p *parser) path(s string) string {
	if filepath.IsAbs(s) {
		return filepath.Clean(s)
	}
	return filepath.Join(p.dir, filepath.FromSlash(s))
}

type triggerEntry struct {
	Name string `json:"name"`
	client.TriggerSpec
}

func (p *parser) triggers(m *Manifest, n *yaml.Node) error {
	entries, err := p.seq(n, "triggers")
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, e := range entries {
		at := fmt.Sprintf("triggers[%d]", i)
		var te triggerEntry
		if err := p.decode(e, at, &te); err != nil {
			return err
		}
		line := func(field string) *yaml.Node { return keyOr(e, field) }
		switch {
		case te.ID != "":
			return p.errf(line("id"), at+".id", "set name instead: the trigger id is %s--NAME", m.Name)
		case te.Kind == "":
			return p.errf(e, at+".kind", "required (http, nats, cron…)")
		case !nameRE.MatchString(te.Kind):
			return p.errf(line("kind"), at+".kind", "%q is not a trigger kind", te.Kind)
		case te.Function == "":
			return p.errf(e, at+".function", "required: a function name[:qualifier] or chain:NAME")
		}
		if _, _, _, err := triggers.ParseTarget(te.Function); err != nil {
			return p.errf(line("function"), at+".function", "%v", err)
		}
		if te.Name == "" {
			te.Name = defaultTriggerName(te.Function, te.Kind, seen)
		} else if !nameRE.MatchString(te.Name) {
			return p.errf(line("name"), at+".name", "%q is not a trigger name ([a-z0-9][a-z0-9-]*)", te.Name)
		}
		if seen[te.Name] {
			return p.errf(line("name"), at+".name", "trigger %q is declared twice", te.Name)
		}
		seen[te.Name] = true
		spec := te.TriggerSpec
		spec.ID = m.Name + "--" + te.Name
		if !triggers.ValidID(spec.ID) {
			return p.errf(line("name"), at+".name", "trigger id %q is longer than 63 characters", spec.ID)
		}
		m.Triggers = append(m.Triggers, Trigger{Name: te.Name, Spec: spec, Line: e.Line})
	}
	return nil
}

// defaultTriggerName is "<target>-<kind>", then "-2", "-3"… for the next
// triggers of the same target and kind.
func defaultTriggerName(target, kind string, seen map[string]bool) string {
	var b strings.Builder
	for _, r := range strings.ToLower(target) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	base := b.String() + "-" + kind
	name := base
	for i := 2; seen[name]; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name
}

func (p *parser) chains(m *Manifest, n *yaml.Node) error {
	entries, err := p.seq(n, "chains")
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, e := range entries {
		at := fmt.Sprintf("chains[%d]", i)
		c := Chain{Line: e.Line}
		var defNode, fileNode *yaml.Node
		for j := 0; j+1 < len(e.Content); j += 2 {
			k, v := e.Content[j], e.Content[j+1]
			switch k.Value {
			case "name":
				c.Name = v.Value
				if v.Kind != yaml.ScalarNode || !nameRE.MatchString(v.Value) {
					return p.errf(k, at+".name", "%q is not a chain name ([a-z0-9][a-z0-9-]{0,62})", v.Value)
				}
				if seen[v.Value] {
					return p.errf(k, at+".name", "chain %q is declared twice", v.Value)
				}
			case "auth":
				if v.Kind != yaml.ScalarNode || (v.Value != "none" && v.Value != "token") {
					return p.errf(k, at+".auth", "%q is neither none nor token", v.Value)
				}
				c.Auth = v.Value
			case "file":
				if v.Kind != yaml.ScalarNode || v.Value == "" {
					return p.errf(k, at+".file", "want a path")
				}
				fileNode = k
				c.File = p.path(v.Value)
			case "definition":
				defNode = k
				var def any
				if err := v.Decode(&def); err != nil {
					return p.errf(k, at+".definition", "%v", err)
				}
				if s, ok := def.(string); ok {
					c.Definition = []byte(s)
				} else if c.Definition, err = json.Marshal(def); err != nil {
					return p.errf(k, at+".definition", "%v", err)
				}
			default:
				return p.errf(k, at+"."+k.Value, "unknown field (want name, auth, file, definition)")
			}
		}
		switch {
		case c.Name == "":
			return p.errf(e, at+".name", "required")
		case defNode == nil && fileNode == nil:
			return p.errf(e, at, "set file (a definition file) or definition (inline)")
		case defNode != nil && fileNode != nil:
			return p.errf(defNode, at+".definition", "set file or definition, not both")
		}
		if fileNode != nil {
			data, err := os.ReadFile(c.File)
			if err != nil {
				return p.errf(fileNode, at+".file", "%v", err)
			}
			c.Definition = data
		}
		seen[c.Name] = true
		m.Chains = append(m.Chains, c)
	}
	return nil
}
