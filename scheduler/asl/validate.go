package asl

import (
	"fmt"
	"math"
	"strings"
)

// builder validates a decoded definition and compiles it into Machines in
// one walk, collecting every problem rather than stopping at the first.
type builder struct {
	problems []Problem
	subs     map[string]*Machine
}

func (b *builder) add(path, format string, args ...any) {
	b.problems = append(b.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

var commonFields = map[string]bool{"Type": true, "Comment": true, "QueryLanguage": true}

var allowedFields = map[string][]string{
	TypePass:     {"Next", "End", "InputPath", "OutputPath", "Parameters", "ResultPath", "Result", "Assign", "Output"},
	TypeTask:     {"Next", "End", "InputPath", "OutputPath", "Parameters", "ResultPath", "ResultSelector", "Resource", "Arguments", "Retry", "Catch", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials", "Assign", "Output"},
	TypeChoice:   {"InputPath", "OutputPath", "Choices", "Default", "Assign", "Output"},
	TypeWait:     {"Next", "End", "InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp", "TimestampPath", "Assign", "Output"},
	TypeSucceed:  {"InputPath", "OutputPath", "Output"},
	TypeFail:     {"Error", "ErrorPath", "Cause", "CausePath"},
	TypeParallel: {"Next", "End", "InputPath", "OutputPath", "Parameters", "ResultPath", "ResultSelector", "Retry", "Catch", "Branches", "Assign", "Output", "Arguments"},
	TypeMap:      {"Next", "End", "InputPath", "OutputPath", "Parameters", "ResultPath", "ResultSelector", "Retry", "Catch", "Iterator", "ItemProcessor", "ItemsPath", "Items", "ItemSelector", "ItemReader", "ItemBatcher", "ResultWriter", "MaxConcurrency", "MaxConcurrencyPath", "ToleratedFailureCount", "ToleratedFailureCountPath", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath", "Label", "Assign", "Output"},
}

// Fields that belong to one query language only.
var jsonPathOnly = []string{"InputPath", "OutputPath", "Parameters", "ResultPath", "ResultSelector", "ItemsPath", "SecondsPath", "TimestampPath", "ErrorPath", "CausePath", "MaxConcurrencyPath", "ToleratedFailureCountPath", "ToleratedFailurePercentagePath", "TimeoutSecondsPath", "HeartbeatSecondsPath", "Iterator"}
var jsonataOnly = []string{"Arguments", "Output", "Items"}

// machine compiles a (sub-)machine object at ptr.
func (b *builder) machine(obj map[string]any, ptr, ql string, root bool) *Machine {
	m := &Machine{Path: ptr, States: map[string]*State{}}
	if ptr != "" {
		b.subs[ptr] = m
	}
	for k := range obj {
		switch k {
		case "StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage", "ProcessorConfig":
		default:
			b.add(ptr+"/"+escapePtr(k), "unknown field %q", k)
		}
	}
	if v, ok := obj["QueryLanguage"]; ok {
		s, _ := v.(string)
		switch s {
		case JSONPath, JSONata:
			if !root && s != ql {
				// Nested machines may set their own default.
			}
			ql = s
		default:
			b.add(ptr+"/QueryLanguage", "QueryLanguage must be %q or %q", JSONPath, JSONata)
		}
	}
	m.QueryLanguage = ql
	if c, ok := obj["Comment"].(string); ok {
		m.Comment = c
	}
	if v, ok := obj["Version"]; ok {
		if s, ok := v.(string); !ok || s != "1.0" {
			b.add(ptr+"/Version", "Version must be \"1.0\"")
		}
	}
	if v, ok := obj["TimeoutSeconds"]; ok {
		if !root {
			b.add(ptr+"/TimeoutSeconds", "TimeoutSeconds is only allowed at the top level")
		} else if n, ok := toInt(v); !ok || n <= 0 {
			b.add(ptr+"/TimeoutSeconds", "TimeoutSeconds must be a positive integer")
		} else {
			m.TimeoutSeconds = int(n)
		}
	}
	start, ok := obj["StartAt"].(string)
	if !ok || start == "" {
		b.add(ptr+"/StartAt", "StartAt is required and must be a state name")
	}
	m.StartAt = start
	states, ok := obj["States"].(map[string]any)
	if !ok || len(states) == 0 {
		b.add(ptr+"/States", "States is required and must be a non-empty object")
		return m
	}
	for _, name := range sortedKeys(states) {
		sp := ptr + "/States/" + escapePtr(name)
		if len(name) > 80 {
			b.add(sp, "state names must be at most 80 characters")
		}
		so, ok := states[name].(map[string]any)
		if !ok {
			b.add(sp, "a state must be an object, got %s", typeName(states[name]))
			continue
		}
		if st := b.state(name, so, sp, ql); st != nil {
			m.States[name] = st
		}
	}
	if start != "" {
		if _, ok := states[start]; !ok {
			b.add(ptr+"/StartAt", "no state named %q%s", start, suggest(start, states))
		}
	}
	b.checkTransitions(m, states, ptr)
	return m
}

// checkTransitions checks that every target exists and that every state
// can be reached from StartAt.
func (b *builder) checkTransitions(m *Machine, raw map[string]any, ptr string) {
	target := func(p, name string) {
		if name == "" {
			return
		}
		if _, ok := raw[name]; !ok {
			b.add(p, "no state named %q%s", name, suggest(name, raw))
		}
	}
	for _, name := range sortedKeysState(m.States) {
		st := m.States[name]
		sp := ptr + "/States/" + escapePtr(name)
		target(sp+"/Next", st.Next)
		target(sp+"/Default", st.Default)
		for i, c := range st.Choices {
			if c != nil {
				target(fmt.Sprintf("%s/Choices/%d/Next", sp, i), c.Next)
			}
		}
		for i, c := range st.Catch {
			target(fmt.Sprintf("%s/Catch/%d/Next", sp, i), c.Next)
		}
	}
	if _, ok := m.States[m.StartAt]; !ok {
		return
	}
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		st, ok := m.States[n]
		if !ok || seen[n] {
			return
		}
		seen[n] = true
		visit(st.Next)
		visit(st.Default)
		for _, c := range st.Choices {
			if c != nil {
				visit(c.Next)
			}
		}
		for _, c := range st.Catch {
			visit(c.Next)
		}
	}
	visit(m.StartAt)
	for _, name := range sortedKeysState(m.States) {
		if !seen[name] {
			b.add(ptr+"/States/"+escapePtr(name), "state %q is not reachable from StartAt %q", name, m.StartAt)
		}
	}
}

func sortedKeysState(m map[string]*State) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return sortedStrings(keys)
}

// suggest proposes the closest state name for a typo.
func suggest(name string, states map[string]any) string {
	best, bestD := "", math.MaxInt
	for k := range states {
		if d := editDistance(strings.ToLower(name), strings.ToLower(k)); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	if best != "" && bestD <= max(2, len(name)/3) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (b *builder) state(name string, obj map[string]any, ptr, parentQL string) *State {
	st := &State{Name: name}
	typ, ok := obj["Type"].(string)
	if !ok {
		b.add(ptr+"/Type", "Type is required")
		return nil
	}
	allowed, ok := allowedFields[typ]
	if !ok {
		b.add(ptr+"/Type", "unknown state type %q (want Pass, Task, Choice, Wait, Succeed, Fail, Parallel or Map)", typ)
		return nil
	}
	st.Type = typ
	st.Comment, _ = obj["Comment"].(string)
	ql := parentQL
	if v, ok := obj["QueryLanguage"]; ok {
		s, _ := v.(string)
		if s != JSONPath && s != JSONata {
			b.add(ptr+"/QueryLanguage", "QueryLanguage must be %q or %q", JSONPath, JSONata)
		} else {
			ql = s
		}
	}
	st.QueryLanguage = ql
	allowedSet := map[string]bool{}
	for _, f := range allowed {
		allowedSet[f] = true
	}
	for _, k := range sortedKeys(obj) {
		if !commonFields[k] && !allowedSet[k] {
			b.add(ptr+"/"+escapePtr(k), "field %q is not allowed in a %s state", k, typ)
		}
	}
	if ql == JSONata {
		for _, f := range jsonPathOnly {
			if _, ok := obj[f]; ok && allowedSet[f] {
				b.add(ptr+"/"+f, "%s is a JSONPath field; it is not allowed in a JSONata state", f)
			}
		}
	} else {
		for _, f := range jsonataOnly {
			if _, ok := obj[f]; ok && allowedSet[f] {
				b.add(ptr+"/"+f, "%s is a JSONata field; it is not allowed in a JSONPath state (set QueryLanguage to JSONata)", f)
			}
		}
	}

	// Transitions.
	next, hasNext := obj["Next"]
	end, hasEnd := obj["End"]
	if hasNext {
		s, ok := next.(string)
		if !ok || s == "" {
			b.add(ptr+"/Next", "Next must be a non-empty string")
		}
		st.Next = s
	}
	if hasEnd {
		e, ok := end.(bool)
		if !ok {
			b.add(ptr+"/End", "End must be a boolean")
		}
		st.End = e
	}
	switch typ {
	case TypeChoice, TypeSucceed, TypeFail:
	default:
		switch {
		case hasNext && st.End:
			b.add(ptr, "a state must have either Next or End, not both")
		case !hasNext && !st.End:
			b.add(ptr, "a %s state must have Next or \"End\": true", typ)
		}
	}

	// Paths.
	st.inputPath = b.optPath(obj, "InputPath", ptr, false)
	st.outputPath = b.optPath(obj, "OutputPath", ptr, false)
	st.resultPath = b.optPath(obj, "ResultPath", ptr, true)

	if v, ok := obj["Parameters"]; ok {
		st.parameters = b.compileJSONPathTemplate(v, ptr+"/Parameters")
		if _, isObj := v.(map[string]any); !isObj {
			b.add(ptr+"/Parameters", "Parameters must be an object")
		}
	}
	if v, ok := obj["ResultSelector"]; ok {
		if _, isObj := v.(map[string]any); !isObj {
			b.add(ptr+"/ResultSelector", "ResultSelector must be an object")
		}
		st.resultSelector = b.compileJSONPathTemplate(v, ptr+"/ResultSelector")
	}
	if v, ok := obj["Result"]; ok {
		st.result, st.hasResult = v, true
	}
	if v, ok := obj["Arguments"]; ok && ql == JSONata {
		st.arguments = b.compileJSONataTemplate(v, ptr+"/Arguments")
	}
	if v, ok := obj["Output"]; ok && ql == JSONata {
		st.output = b.compileJSONataTemplate(v, ptr+"/Output")
	}
	if v, ok := obj["Assign"]; ok {
		st.assign = b.compileAssign(v, ptr+"/Assign", ql)
	}

	switch typ {
	case TypeTask:
		b.task(st, obj, ptr, ql)
	case TypeChoice:
		b.choice(st, obj, ptr, ql)
	case TypeWait:
		b.wait(st, obj, ptr, ql)
	case TypeFail:
		b.fail(st, obj, ptr, ql)
	case TypeParallel:
		b.parallel(st, obj, ptr, ql)
	case TypeMap:
		b.mapState(st, obj, ptr, ql)
	}
	if typ == TypeTask || typ == TypeParallel || typ == TypeMap {
		b.retryCatch(st, obj, ptr, ql)
	}
	return st
}

func (b *builder) optPath(obj map[string]any, field, ptr string, reference bool) optPath {
	v, ok := obj[field]
	if !ok {
		return optPath{}
	}
	if v == nil {
		return optPath{null: true}
	}
	s, ok := v.(string)
	if !ok {
		b.add(ptr+"/"+field, "%s must be a JSONPath string or null", field)
		return optPath{}
	}
	p, err := parsePath(s)
	if err != nil {
		b.add(ptr+"/"+field, "%v", err)
		return optPath{}
	}
	if reference && !p.isReference() {
		b.add(ptr+"/"+field, "%s must be a reference path ($ followed by .field or [index] only), got %q", field, s)
		return optPath{}
	}
	return optPath{path: p}
}

// compileAssign compiles an Assign object for the given query language.
func (b *builder) compileAssign(v any, ptr, ql string) *tmplNode {
	obj, ok := v.(map[string]any)
	if !ok {
		b.add(ptr, "Assign must be an object")
		return nil
	}
	for k := range obj {
		name := strings.TrimSuffix(k, ".$")
		if ql == JSONata {
			name = k
		}
		if !validVarName(name) {
			b.add(ptr+"/"+escapePtr(k), "%q is not a valid variable name (letters, digits and _; not starting with a digit; at most 80 characters)", name)
		} else if name == "states" {
			b.add(ptr+"/"+escapePtr(k), "\"states\" is a reserved variable name")
		}
	}
	if ql == JSONata {
		return b.compileJSONataTemplate(v, ptr)
	}
	return b.compileJSONPathTemplate(v, ptr)
}

func validVarName(s string) bool {
	if s == "" || len(s) > 80 || !isVarStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isVarChar(s[i]) {
			return false
		}
	}
	return true
}

// numOrExpr compiles a field holding a number (or in JSONata a
// "{% %}" expression); pathField is the JSONPath "...Path" alternative.
func (b *builder) numOrExpr(obj map[string]any, field, ptr, ql string, minVal float64, integer bool) numField {
	v, ok := obj[field]
	if !ok {
		return numField{}
	}
	if s, isStr := v.(string); isStr && ql == JSONata && isJSONataString(s) {
		return numField{set: true, expr: b.compileJSONataTemplate(s, ptr+"/"+field)}
	}
	f, isNum := toFloat(v)
	if !isNum {
		b.add(ptr+"/"+field, "%s must be a number", field)
		return numField{}
	}
	if integer {
		if _, ok := toInt(v); !ok {
			b.add(ptr+"/"+field, "%s must be an integer", field)
			return numField{}
		}
	}
	if f < minVal {
		b.add(ptr+"/"+field, "%s must be at least %v", field, minVal)
		return numField{}
	}
	return numField{set: true, num: v}
}

func (b *builder) refPath(obj map[string]any, field, ptr string) *jsonPath {
	v, ok := obj[field]
	if !ok {
		return nil
	}
	s, ok := v.(string)
	if !ok {
		b.add(ptr+"/"+field, "%s must be a JSONPath string", field)
		return nil
	}
	p, err := parsePath(s)
	if err != nil {
		b.add(ptr+"/"+field, "%v", err)
		return nil
	}
	return p
}

func (b *builder) exclusive(obj map[string]any, ptr string, fields ...string) {
	var present []string
	for _, f := range fields {
		if _, ok := obj[f]; ok {
			present = append(present, f)
		}
	}
	if len(present) > 1 {
		b.add(ptr, "%s are mutually exclusive", strings.Join(present, " and "))
	}
}

func (b *builder) task(st *State, obj map[string]any, ptr, ql string) {
	r, ok := obj["Resource"].(string)
	if !ok || r == "" {
		b.add(ptr+"/Resource", "Resource is required and must be a string")
	} else if ql == JSONata && isJSONataString(r) {
		b.add(ptr+"/Resource", "Resource cannot be a JSONata expression")
	}
	st.Resource = r
	b.exclusive(obj, ptr, "TimeoutSeconds", "TimeoutSecondsPath")
	b.exclusive(obj, ptr, "HeartbeatSeconds", "HeartbeatSecondsPath")
	st.timeoutSeconds = b.numOrExpr(obj, "TimeoutSeconds", ptr, ql, 1, true)
	st.heartbeatSeconds = b.numOrExpr(obj, "HeartbeatSeconds", ptr, ql, 1, true)
	st.timeoutSecondsPath = b.refPath(obj, "TimeoutSecondsPath", ptr)
	st.heartbeatSecondsPath = b.refPath(obj, "HeartbeatSecondsPath", ptr)
	if st.timeoutSeconds.num != nil && st.heartbeatSeconds.num != nil {
		t, _ := toFloat(st.timeoutSeconds.num)
		h, _ := toFloat(st.heartbeatSeconds.num)
		if h >= t {
			b.add(ptr+"/HeartbeatSeconds", "HeartbeatSeconds must be smaller than TimeoutSeconds")
		}
	}
	if r == lambdaInvokeResource || strings.HasPrefix(r, lambdaInvokeResource+".") {
		args := obj["Parameters"]
		if ql == JSONata {
			args = obj["Arguments"]
		}
		if m, ok := args.(map[string]any); ok {
			_, a := m["FunctionName"]
			_, c := m["FunctionName.$"]
			if !a && !c {
				b.add(ptr, "%s needs FunctionName in its %s", lambdaInvokeResource, map[bool]string{true: "Arguments", false: "Parameters"}[ql == JSONata])
			}
		}
	}
}

func (b *builder) choice(st *State, obj map[string]any, ptr, ql string) {
	if _, ok := obj["Next"]; ok {
		b.add(ptr+"/Next", "a Choice state must not have Next; use Choices and Default")
	}
	if _, ok := obj["End"]; ok {
		b.add(ptr+"/End", "a Choice state cannot end a machine")
	}
	if d, ok := obj["Default"]; ok {
		s, ok := d.(string)
		if !ok || s == "" {
			b.add(ptr+"/Default", "Default must be a state name")
		}
		st.Default = s
	}
	arr, ok := obj["Choices"].([]any)
	if !ok || len(arr) == 0 {
		b.add(ptr+"/Choices", "Choices is required and must be a non-empty array")
		return
	}
	for i, r := range arr {
		st.Choices = append(st.Choices, b.compileRule(r, fmt.Sprintf("%s/Choices/%d", ptr, i), ql, true))
	}
}

func (b *builder) wait(st *State, obj map[string]any, ptr, ql string) {
	n := 0
	for _, f := range []string{"Seconds", "Timestamp", "SecondsPath", "TimestampPath"} {
		if _, ok := obj[f]; ok {
			n++
		}
	}
	if n != 1 {
		b.add(ptr, "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath and TimestampPath")
	}
	if v, ok := obj["Seconds"]; ok {
		if s, isStr := v.(string); isStr && ql == JSONata && isJSONataString(s) {
			st.seconds = b.compileJSONataTemplate(s, ptr+"/Seconds")
		} else if i, ok := toInt(v); !ok || i < 0 {
			b.add(ptr+"/Seconds", "Seconds must be a non-negative integer")
		} else {
			st.seconds = &tmplNode{kind: tLit, lit: v}
		}
	}
	if v, ok := obj["Timestamp"]; ok {
		s, isStr := v.(string)
		switch {
		case isStr && ql == JSONata && isJSONataString(s):
			st.timestamp = b.compileJSONataTemplate(s, ptr+"/Timestamp")
		case !isStr:
			b.add(ptr+"/Timestamp", "Timestamp must be a string")
		default:
			if _, ok := parseTimestamp(s); !ok {
				b.add(ptr+"/Timestamp", "%q is not an RFC 3339 timestamp such as 2016-03-14T01:59:00Z", s)
			}
			st.timestamp = &tmplNode{kind: tLit, lit: s}
		}
	}
	st.secondsPath = b.refPath(obj, "SecondsPath", ptr)
	st.timestampPath = b.refPath(obj, "TimestampPath", ptr)
}

func (b *builder) fail(st *State, obj map[string]any, ptr, ql string) {
	if _, ok := obj["Next"]; ok {
		b.add(ptr+"/Next", "a Fail state must not have Next")
	}
	if _, ok := obj["End"]; ok {
		b.add(ptr+"/End", "a Fail state must not have End")
	}
	b.exclusive(obj, ptr, "Error", "ErrorPath")
	b.exclusive(obj, ptr, "Cause", "CausePath")
	for _, f := range []string{"Error", "Cause"} {
		v, ok := obj[f]
		if !ok {
			continue
		}
		s, isStr := v.(string)
		if !isStr {
			b.add(ptr+"/"+f, "%s must be a string", f)
			continue
		}
		var n *tmplNode
		if ql == JSONata {
			n = b.compileJSONataTemplate(s, ptr+"/"+f)
		} else {
			n = &tmplNode{kind: tLit, lit: s}
		}
		if f == "Error" {
			st.errorField = n
		} else {
			st.causeField = n
		}
	}
	for _, f := range []string{"ErrorPath", "CausePath"} {
		v, ok := obj[f]
		if !ok {
			continue
		}
		s, isStr := v.(string)
		if !isStr {
			b.add(ptr+"/"+f, "%s must be a JSONPath or intrinsic function string", f)
			continue
		}
		n, err := compilePathOrCall(s)
		if err != nil {
			b.add(ptr+"/"+f, "%v", err)
			continue
		}
		if f == "ErrorPath" {
			st.errorPath = n
		} else {
			st.causePath = n
		}
	}
}

func (b *builder) parallel(st *State, obj map[string]any, ptr, ql string) {
	arr, ok := obj["Branches"].([]any)
	if !ok || len(arr) == 0 {
		b.add(ptr+"/Branches", "Branches is required and must be a non-empty array")
		return
	}
	for i, br := range arr {
		bp := fmt.Sprintf("%s/Branches/%d", ptr, i)
		o, ok := br.(map[string]any)
		if !ok {
			b.add(bp, "a branch must be an object with StartAt and States")
			continue
		}
		st.Branches = append(st.Branches, b.machine(o, bp, ql, false))
	}
}

func (b *builder) mapState(st *State, obj map[string]any, ptr, ql string) {
	b.exclusive(obj, ptr, "ItemProcessor", "Iterator")
	b.exclusive(obj, ptr, "ItemSelector", "Parameters")
	b.exclusive(obj, ptr, "MaxConcurrency", "MaxConcurrencyPath")
	b.exclusive(obj, ptr, "ToleratedFailureCount", "ToleratedFailureCountPath")
	b.exclusive(obj, ptr, "ToleratedFailurePercentage", "ToleratedFailurePercentagePath")
	field := "ItemProcessor"
	proc, ok := obj["ItemProcessor"].(map[string]any)
	if !ok {
		field = "Iterator"
		proc, ok = obj["Iterator"].(map[string]any)
	}
	if !ok {
		b.add(ptr+"/ItemProcessor", "a Map state needs ItemProcessor (or the older Iterator) with StartAt and States")
	} else {
		st.ProcessorMode = "INLINE"
		if pc, ok := proc["ProcessorConfig"]; ok {
			pco, ok := pc.(map[string]any)
			if !ok {
				b.add(ptr+"/"+field+"/ProcessorConfig", "ProcessorConfig must be an object")
			} else {
				if mode, ok := pco["Mode"]; ok {
					s, _ := mode.(string)
					if s != "INLINE" && s != "DISTRIBUTED" {
						b.add(ptr+"/"+field+"/ProcessorConfig/Mode", "Mode must be INLINE or DISTRIBUTED")
					} else {
						st.ProcessorMode = s
					}
				}
				if et, ok := pco["ExecutionType"]; ok {
					s, _ := et.(string)
					if s != "STANDARD" && s != "EXPRESS" {
						b.add(ptr+"/"+field+"/ProcessorConfig/ExecutionType", "ExecutionType must be STANDARD or EXPRESS")
					}
				}
			}
		}
		st.Processor = b.machine(proc, ptr+"/"+field, ql, false)
	}
	if v, ok := obj["ItemsPath"]; ok {
		s, isStr := v.(string)
		if !isStr {
			b.add(ptr+"/ItemsPath", "ItemsPath must be a JSONPath string")
		} else if p, err := parsePath(s); err != nil {
			b.add(ptr+"/ItemsPath", "%v", err)
		} else {
			st.itemsPath = p
		}
	}
	if v, ok := obj["Items"]; ok && ql == JSONata {
		st.items = b.compileJSONataTemplate(v, ptr+"/Items")
	}
	if v, ok := obj["ItemSelector"]; ok {
		if ql == JSONata {
			st.itemSelector = b.compileJSONataTemplate(v, ptr+"/ItemSelector")
		} else {
			if _, isObj := v.(map[string]any); !isObj {
				b.add(ptr+"/ItemSelector", "ItemSelector must be an object")
			}
			st.itemSelector = b.compileJSONPathTemplate(v, ptr+"/ItemSelector")
		}
	}
	if st.parameters != nil && st.itemSelector == nil {
		// Map's legacy Parameters selects each item, like ItemSelector.
		st.itemSelector, st.parameters = st.parameters, nil
		st.parametersLegacyForMapItem = true
	}
	st.maxConcurrency = b.numOrExpr(obj, "MaxConcurrency", ptr, ql, 0, true)
	st.maxConcurrencyPath = b.refPath(obj, "MaxConcurrencyPath", ptr)
	st.toleratedCount = b.numOrExpr(obj, "ToleratedFailureCount", ptr, ql, 0, true)
	st.toleratedCountPath = b.refPath(obj, "ToleratedFailureCountPath", ptr)
	st.toleratedPercentage = b.numOrExpr(obj, "ToleratedFailurePercentage", ptr, ql, 0, false)
	if st.toleratedPercentage.num != nil {
		if f, _ := toFloat(st.toleratedPercentage.num); f > 100 {
			b.add(ptr+"/ToleratedFailurePercentage", "ToleratedFailurePercentage must be between 0 and 100")
		}
	}
	st.toleratedPercentagePath = b.refPath(obj, "ToleratedFailurePercentagePath", ptr)
	_, st.hasItemReader = obj["ItemReader"]
	_, st.hasBatcher = obj["ItemBatcher"]
	_, st.hasResultWriter = obj["ResultWriter"]
}

func (b *builder) retryCatch(st *State, obj map[string]any, ptr, ql string) {
	if v, ok := obj["Retry"]; ok {
		arr, ok := v.([]any)
		if !ok {
			b.add(ptr+"/Retry", "Retry must be an array")
		}
		for i, x := range arr {
			rp := fmt.Sprintf("%s/Retry/%d", ptr, i)
			o, ok := x.(map[string]any)
			if !ok {
				b.add(rp, "a retrier must be an object")
				continue
			}
			r := Retrier{IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2, JitterStrategy: "NONE"}
			r.ErrorEquals = b.errorEquals(o, rp, i == len(arr)-1)
			for k, val := range o {
				switch k {
				case "ErrorEquals", "Comment":
				case "IntervalSeconds":
					n, ok := toInt(val)
					if !ok || n < 1 || n > 99999999 {
						b.add(rp+"/IntervalSeconds", "IntervalSeconds must be a positive integer")
					} else {
						r.IntervalSeconds = float64(n)
					}
				case "MaxAttempts":
					n, ok := toInt(val)
					if !ok || n < 0 || n > 99999999 {
						b.add(rp+"/MaxAttempts", "MaxAttempts must be a non-negative integer")
					} else {
						r.MaxAttempts = int(n)
					}
				case "BackoffRate":
					f, ok := toFloat(val)
					if !ok || f < 1 {
						b.add(rp+"/BackoffRate", "BackoffRate must be a number of at least 1.0")
					} else {
						r.BackoffRate = f
					}
				case "MaxDelaySeconds":
					n, ok := toInt(val)
					if !ok || n < 1 || n > 31622400 {
						b.add(rp+"/MaxDelaySeconds", "MaxDelaySeconds must be a positive integer")
					} else {
						r.MaxDelaySeconds = float64(n)
					}
				case "JitterStrategy":
					s, _ := val.(string)
					if s != "FULL" && s != "NONE" {
						b.add(rp+"/JitterStrategy", "JitterStrategy must be FULL or NONE")
					} else {
						r.JitterStrategy = s
					}
				default:
					b.add(rp+"/"+escapePtr(k), "unknown field %q in a retrier", k)
				}
			}
			st.Retry = append(st.Retry, r)
		}
	}
	if v, ok := obj["Catch"]; ok {
		arr, ok := v.([]any)
		if !ok {
			b.add(ptr+"/Catch", "Catch must be an array")
		}
		for i, x := range arr {
			cp := fmt.Sprintf("%s/Catch/%d", ptr, i)
			o, ok := x.(map[string]any)
			if !ok {
				b.add(cp, "a catcher must be an object")
				continue
			}
			c := Catcher{ErrorEquals: b.errorEquals(o, cp, i == len(arr)-1)}
			n, ok := o["Next"].(string)
			if !ok || n == "" {
				b.add(cp+"/Next", "Next is required and must be a state name")
			}
			c.Next = n
			c.resultPath = b.optPath(o, "ResultPath", cp, true)
			if ql == JSONata {
				if _, ok := o["ResultPath"]; ok {
					b.add(cp+"/ResultPath", "ResultPath is a JSONPath field; it is not allowed in a JSONata state")
				}
				if out, ok := o["Output"]; ok {
					c.output = b.compileJSONataTemplate(out, cp+"/Output")
				}
			} else if _, ok := o["Output"]; ok {
				b.add(cp+"/Output", "Output is a JSONata field; it is not allowed in a JSONPath state")
			}
			if a, ok := o["Assign"]; ok {
				c.assign = b.compileAssign(a, cp+"/Assign", ql)
			}
			for k := range o {
				switch k {
				case "ErrorEquals", "Next", "ResultPath", "Output", "Assign", "Comment":
				default:
					b.add(cp+"/"+escapePtr(k), "unknown field %q in a catcher", k)
				}
			}
			st.Catch = append(st.Catch, c)
		}
	}
}

func (b *builder) errorEquals(o map[string]any, ptr string, last bool) []string {
	arr, ok := o["ErrorEquals"].([]any)
	if !ok || len(arr) == 0 {
		b.add(ptr+"/ErrorEquals", "ErrorEquals is required and must be a non-empty array of error names")
		return nil
	}
	var out []string
	for i, x := range arr {
		s, ok := x.(string)
		if !ok || s == "" {
			b.add(fmt.Sprintf("%s/ErrorEquals/%d", ptr, i), "an error name must be a non-empty string")
			continue
		}
		out = append(out, s)
	}
	for _, s := range out {
		if s == ErrorAll {
			if len(out) != 1 {
				b.add(ptr+"/ErrorEquals", "States.ALL must appear alone in ErrorEquals")
			} else if !last {
				b.add(ptr+"/ErrorEquals", "a States.ALL handler must be the last one")
			}
		}
	}
	return out
}
