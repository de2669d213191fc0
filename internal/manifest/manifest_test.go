package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baton-run/baton/client"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", ``, "baton.yaml:1: empty manifest"},
		{"not a mapping", "- a\n", "baton.yaml:1: want a mapping"},
		{"syntax", "name: p\n\tfunctions: []\n", "baton.yaml:2: found a tab character"},
		{"unknown top-level", "name: p\nfunction: []\n", "baton.yaml:2: function: unknown field"},
		{"bad project", "name: Bad_Name\n", "baton.yaml:1: name: "},
		{"functions not a list", "functions: {}\n", "baton.yaml:1: functions: want a list"},
		{"unknown function field", "functions:\n  - name: a\n    wasm: a.wasm\n    memroy: 3\n", "baton.yaml:4: functions[0].memroy: unknown field"},
		{"wrong type", "functions:\n  - name: a\n    wasm: a.wasm\n    memory: lots\n", "baton.yaml:4: functions[0].memory: want int"},
		{"no name", "functions:\n  - wasm: a.wasm\n", "baton.yaml:2: functions[0].name: required"},
		{"bad name", "functions:\n  - name: A\n    wasm: a.wasm\n", "baton.yaml:2: functions[0].name: "},
		{"no module", "functions:\n  - name: a\n", "baton.yaml:2: functions[0]: set wasm"},
		{"both modules", "functions:\n  - name: a\n    wasm: a.wasm\n    build: ./a\n", "baton.yaml:4: functions[0].build: set wasm or build, not both"},
		{"duplicate", "functions:\n  - name: a\n    wasm: a.wasm\n  - name: a\n    wasm: b.wasm\n", "baton.yaml:4: functions[1].name: function \"a\" is declared twice"},
		{"bad duration", "functions:\n  - name: a\n    wasm: a.wasm\n    timeout: soon\n", "baton.yaml:4: functions[0].timeout: "},
		{"owner env", "functions:\n  - name: a\n    wasm: a.wasm\n    env: {BATON_MANIFEST: x}\n", "baton.yaml:4: functions[0].env: "},
		{"trigger unknown field", "triggers:\n  - kind: nats\n    subjet: a\n    function: a\n", "baton.yaml:3: triggers[0].subjet: unknown field"},
		{"trigger id", "triggers:\n  - id: x\n    kind: nats\n    function: a\n", "baton.yaml:2: triggers[0].id: set name instead"},
		{"trigger no kind", "triggers:\n  - function: a\n", "baton.yaml:2: triggers[0].kind: required"},
		{"trigger bad target", "triggers:\n  - kind: nats\n    subject: a\n    function: chain:Bad\n", "baton.yaml:4: triggers[0].function: "},
		{"trigger dup", "triggers:\n  - {name: t, kind: nats, subject: a, function: a}\n  - {name: t, kind: nats, subject: b, function: a}\n", "baton.yaml:3: triggers[1].name: trigger \"t\" is declared twice"},
		{"chain unknown field", "chains:\n  - name: c\n    defn: {}\n", "baton.yaml:3: chains[0].defn: unknown field"},
		{"chain no definition", "chains:\n  - name: c\n", "baton.yaml:2: chains[0]: set file"},
		{"chain bad auth", "chains:\n  - name: c\n    auth: yes\n    definition: {StartAt: P, States: {P: {Type: Pass, End: true}}}\n", "baton.yaml:3: chains[0].auth: \"yes\" is neither none nor token"},
		{"chain missing file", "chains:\n  - name: c\n    file: nope.json\n", "baton.yaml:3: chains[0].file: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("baton.yaml", []byte(tt.yaml), t.TempDir())
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("Parse: %v, want a *Error", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got  %q\nwant %q…", err, tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte("StartAt: A\nStates: {A: {Type: Pass, End: true}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Parse("baton.yaml", []byte(`
functions:
  - name: a
    wasm: build/a.wasm
    memory: 32
    timeout: 2s
    maxInstances: 3
    env: {GREETING: Hey}
  - name: b
    build: ./b
triggers:
  - kind: nats
    subject: a.*
    function: a
  - kind: nats
    subject: b.*
    function: a
  - name: route
    kind: http
    method: POST
    path: /a
    function: "a:live"
  - kind: stream
    stream: ORDERS
    maxDeliver: 3
    ackWait: 2m
    function: a
chains:
  - name: flow
    file: flow.yaml
  - name: inline
    auth: token
    definition:
      StartAt: A
      States: {A: {Type: Pass, End: true}}
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != defaultProject(dir) {
		t.Errorf("project %q", m.Name)
	}
	if f := m.Functions[0]; f.Wasm != filepath.Join(dir, "build", "a.wasm") || f.Spec.Memory != 32 || f.Spec.Timeout != "2s" || f.Spec.MaxInstances != 3 || f.Spec.Env["GREETING"] != "Hey" {
		t.Errorf("function a: %+v", f)
	}
	if f := m.Functions[1]; f.Build != filepath.Join(dir, "b") {
		t.Errorf("function b: %+v", f)
	}
	var ids []string
	for _, tr := range m.Triggers {
		ids = append(ids, tr.Spec.ID)
	}
	p := m.Name + "--"
	if want := []string{p + "a-nats", p + "a-nats-2", p + "route", p + "a-stream"}; strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("trigger ids %v, want %v", ids, want)
	}
	if m.Triggers[2].Spec.Method != "POST" || m.Triggers[2].Spec.Path != "/a" {
		t.Errorf("route: %+v", m.Triggers[2].Spec)
	}
	if s := m.Triggers[3].Spec; s.Stream != "ORDERS" || s.MaxDeliver != 3 || s.AckWait != "2m" {
		t.Errorf("stream: %+v", s)
	}
	if len(m.Chains) != 2 || !strings.Contains(string(m.Chains[0].Definition), "StartAt") || !strings.Contains(string(m.Chains[1].Definition), `"StartAt":"A"`) ||
		m.Chains[0].Auth != "" || m.Chains[1].Auth != "token" {
		t.Errorf("chains: %+v", m.Chains)
	}
}

func TestPlanTriggers(t *testing.T) {
	nats := func(id, subject string) client.TriggerSpec {
		return client.TriggerSpec{ID: id, Kind: "nats", Subject: subject, Function: "a"}
	}
	tests := []struct {
		name       string
		want, have []client.TriggerSpec
		prune      bool
		steps      string
	}{
		{"create", []client.TriggerSpec{nats("p--a", "x")}, nil, false, "created p--a"},
		{"unchanged", []client.TriggerSpec{nats("p--a", "x")}, []client.TriggerSpec{nats("p--a", "x")}, false, "unchanged p--a"},
		{"update", []client.TriggerSpec{nats("p--a", "y")}, []client.TriggerSpec{nats("p--a", "x")}, false, "updated p--a"},
		{"no prune keeps", nil, []client.TriggerSpec{nats("p--a", "x")}, false, ""},
		{"prune owned only", nil, []client.TriggerSpec{nats("p--a", "x"), nats("other", "x"), nats("p-q--a", "x")}, true, "removed p--a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range PlanTriggers("p", tt.want, tt.have, tt.prune) {
				got = append(got, s.Action+" "+s.Spec.ID)
			}
			if strings.Join(got, ";") != tt.steps {
				t.Errorf("got %q, want %q", strings.Join(got, ";"), tt.steps)
			}
		})
	}
}

func TestMarkChain(t *testing.T) {
	def, err := markChain([]byte("Comment: mine\nStartAt: A\nStates: {A: {Type: Pass, End: true}}\n"), "p")
	if err != nil {
		t.Fatal(err)
	}
	if !ownsChain(def, "p") || ownsChain(def, "q") || !strings.Contains(string(def), `"Comment":"mine (manifest p)"`) {
		t.Errorf("marked %s", def)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"functions:\n  - name: a\n    wasm: a.wasm\n",
		"triggers:\n  - {kind: nats, subject: a, function: a}\n",
		"chains:\n  - name: c\n    definition: {StartAt: A}\n",
		"name: p\n",
		"- x\n",
		"functions: [{name: a, build: ., env: {A: 1}}]",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("baton.yaml", data, dir)
		if err != nil {
			var me *Error
			if !errors.As(err, &me) || me.Line < 1 {
				t.Fatalf("error %v is not a *Error with a line", err)
			}
			return
		}
		for _, tr := range m.Triggers {
			if !strings.HasPrefix(tr.Spec.ID, m.Name+"--") {
				t.Fatalf("trigger id %q", tr.Spec.ID)
			}
		}
	})
}
