package asl

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Query languages.
const (
	JSONPath = "JSONPath"
	JSONata  = "JSONata"
)

// State types.
const (
	TypePass     = "Pass"
	TypeTask     = "Task"
	TypeChoice   = "Choice"
	TypeWait     = "Wait"
	TypeSucceed  = "Succeed"
	TypeFail     = "Fail"
	TypeParallel = "Parallel"
	TypeMap      = "Map"
)

// Machine is a parsed and validated state machine: the top-level
// definition or a Parallel branch / Map item processor inside it.
type Machine struct {
	// Comment is the definition's Comment.
	Comment string
	// StartAt names the first state.
	StartAt string
	// States holds the states by name.
	States map[string]*State
	// QueryLanguage is the default query language of the states.
	QueryLanguage string
	// TimeoutSeconds is the execution timeout (0: none).
	TimeoutSeconds int
	// Path locates this machine in the root document as a JSON pointer
	// ("" for the root, "/States/P/Branches/0" for a branch).
	Path string

	subs map[string]*Machine // root only: every nested machine by Path
}

// Sub returns the nested machine at path ("" is the machine itself).
func (m *Machine) Sub(path string) (*Machine, bool) {
	if path == "" {
		return m, true
	}
	s, ok := m.subs[path]
	return s, ok
}

// optPath is an InputPath/OutputPath/ResultPath-like field: absent (the
// default "$"), null (discard) or a path.
type optPath struct {
	null bool
	path *jsonPath // nil with !null means "$"
}

// numField is a field that holds a number or, in JSONata states, an
// expression; set reports presence.
type numField struct {
	set  bool
	num  any // json.Number
	expr *tmplNode
}

// Retrier is one element of a Retry array.
type Retrier struct {
	ErrorEquals     []string
	IntervalSeconds float64
	MaxAttempts     int
	BackoffRate     float64
	MaxDelaySeconds float64
	JitterStrategy  string
}

// Catcher is one element of a Catch array.
type Catcher struct {
	ErrorEquals []string
	Next        string
	resultPath  optPath
	output      *tmplNode
	assign      *tmplNode
}

// State is one state of a Machine. Fields that only some types use are
// documented by the ASL specification; unexported fields hold compiled
// paths and templates.
type State struct {
	Name          string
	Type          string
	Comment       string
	QueryLanguage string
	Next          string
	End           bool
	// Resource is a Task's resource ("fn:NAME", a Lambda ARN or
	// "arn:aws:states:::lambda:invoke").
	Resource string
	// Default is a Choice's default next state.
	Default string
	// Retry and Catch are the error handlers of Task, Parallel and Map.
	Retry []Retrier
	Catch []Catcher
	// Choices are a Choice state's rules.
	Choices []*ChoiceRule
	// Branches are a Parallel state's machines.
	Branches []*Machine
	// Processor is a Map state's item processor (ItemProcessor/Iterator).
	Processor *Machine
	// ProcessorMode is INLINE or DISTRIBUTED.
	ProcessorMode string

	inputPath, outputPath, resultPath optPath
	parameters, resultSelector        *tmplNode
	arguments, output, assign         *tmplNode
	result                            any
	hasResult                         bool

	timeoutSeconds, heartbeatSeconds         numField
	timeoutSecondsPath, heartbeatSecondsPath *jsonPath
	// passthrough: see the function of that name (set by Parse).
	passthrough bool

	seconds, timestamp         *tmplNode
	secondsPath, timestampPath *jsonPath

	errorField, causeField *tmplNode
	errorPath, causePath   *tmplNode

	itemsPath                  *jsonPath
	items, itemSelector        *tmplNode
	maxConcurrency             numField
	maxConcurrencyPath         *jsonPath
	toleratedCount             numField
	toleratedCountPath         *jsonPath
	toleratedPercentage        numField
	toleratedPercentagePath    *jsonPath
	hasItemReader, hasBatcher  bool
	hasResultWriter            bool
	parametersLegacyForMapItem bool
}

// Problem is one validation finding: where in the document and what.
type Problem struct {
	// Path is a JSON pointer into the definition, e.g. "/States/Check/Next".
	Path string `json:"path"`
	// Message says what is wrong.
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError lists every problem found in a definition.
type ValidationError struct {
	Problems []Problem
}

// Error implements error: one problem per line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid state machine definition (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString(")")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Parse reads a state machine definition in JSON or YAML, validates it and
// returns the compiled Machine. A definition with problems yields a
// *ValidationError listing all of them, each with its JSON-pointer path.
func Parse(data []byte) (*Machine, error) {
	doc, err := decodeDefinition(data)
	if err != nil {
		return nil, &ValidationError{Problems: []Problem{{Path: "", Message: err.Error()}}}
	}
	b := &builder{subs: map[string]*Machine{}}
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, &ValidationError{Problems: []Problem{{Path: "", Message: fmt.Sprintf("the definition must be an object, got %s", typeName(doc))}}}
	}
	ql := JSONPath
	if v, ok := root["QueryLanguage"]; ok {
		if s, ok := v.(string); ok && s == JSONata {
			ql = JSONata
		}
	}
	m := b.machine(root, "", ql, true)
	if len(b.problems) > 0 {
		return nil, &ValidationError{Problems: b.problems}
	}
	m.subs = b.subs
	for _, sm := range m.subs {
		for _, st := range sm.States {
			st.passthrough = passthrough(st)
		}
	}
	for _, st := range m.States {
		st.passthrough = passthrough(st)
	}
	return m, nil
}

// MustParse is Parse for definitions known to be valid; it panics on error.
func MustParse(data []byte) *Machine {
	m, err := Parse(data)
	if err != nil {
		panic(err)
	}
	return m
}

func decodeDefinition(data []byte) (any, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("the definition is empty")
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		v, err := decodeJSON(trimmed)
		if err == nil {
			return v, nil
		}
		// JSON is YAML too, but a JSON syntax error reads better.
		var yv any
		if yerr := yaml.Unmarshal(trimmed, &yv); yerr != nil {
			return nil, fmt.Errorf("parsing JSON: %v", err)
		}
		return normalizeValue(yv), nil
	}
	var yv any
	if err := yaml.Unmarshal(trimmed, &yv); err != nil {
		return nil, fmt.Errorf("parsing YAML: %v", err)
	}
	return normalizeValue(yv), nil
}
