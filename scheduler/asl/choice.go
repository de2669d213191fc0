package asl

import (
	"fmt"
	"strings"
	"time"
)

// ChoiceRule is one rule of a Choice state: a comparison of Variable with
// a value (or, with a "...Path" operator, with another path), a boolean
// combination of rules (And, Or, Not), or in JSONata a Condition.
type ChoiceRule struct {
	// Next is the state to go to when a top-level rule matches.
	Next string
	// Operator is the comparison operator ("StringEquals", "IsPresent"…),
	// "And", "Or", "Not" or "Condition".
	Operator string

	variable  *jsonPath
	value     any
	valuePath *jsonPath
	rules     []*ChoiceRule
	condition *tmplNode
	assign    *tmplNode
	output    *tmplNode
}

var choiceOperators = map[string]string{
	// operator -> kind of value it takes
	"StringEquals": "string", "StringLessThan": "string", "StringGreaterThan": "string",
	"StringLessThanEquals": "string", "StringGreaterThanEquals": "string", "StringMatches": "string",
	"NumericEquals": "number", "NumericLessThan": "number", "NumericGreaterThan": "number",
	"NumericLessThanEquals": "number", "NumericGreaterThanEquals": "number",
	"BooleanEquals":   "boolean",
	"TimestampEquals": "timestamp", "TimestampLessThan": "timestamp", "TimestampGreaterThan": "timestamp",
	"TimestampLessThanEquals": "timestamp", "TimestampGreaterThanEquals": "timestamp",
	"IsNull": "boolean", "IsPresent": "boolean", "IsNumeric": "boolean", "IsString": "boolean",
	"IsBoolean": "boolean", "IsTimestamp": "boolean",
}

// comparisonOperator returns the base operator and whether it is a
// "...Path" variant, or ok=false.
func comparisonOperator(key string) (base string, isPath bool, ok bool) {
	if _, ok := choiceOperators[key]; ok {
		return key, false, true
	}
	if b, found := strings.CutSuffix(key, "Path"); found {
		if _, ok := choiceOperators[b]; ok && !strings.HasPrefix(b, "Is") && b != "StringMatches" {
			return b, true, true
		}
	}
	return "", false, false
}

// parseTimestamp parses an ASL timestamp: RFC 3339 with an upper-case T
// and a Z or numeric offset, optional fractional seconds.
func parseTimestamp(s string) (time.Time, bool) {
	if len(s) < 20 || s[10] != 'T' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// stringMatches implements StringMatches: '*' matches any run of
// characters, "\*" a literal star and "\\" a backslash.
func stringMatches(s, pattern string) bool {
	type tok struct {
		star bool
		lit  string
	}
	var toks []tok
	var cur strings.Builder
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c == '\\' && i+1 < len(pattern) {
			cur.WriteByte(pattern[i+1])
			i++
			continue
		}
		if c == '*' {
			toks = append(toks, tok{lit: cur.String()}, tok{star: true})
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	toks = append(toks, tok{lit: cur.String()})
	// Greedy match with backtracking over the star positions.
	var match func(ti int, s string) bool
	match = func(ti int, s string) bool {
		if ti == len(toks) {
			return s == ""
		}
		t := toks[ti]
		if !t.star {
			if !strings.HasPrefix(s, t.lit) {
				return false
			}
			return match(ti+1, s[len(t.lit):])
		}
		for i := 0; i <= len(s); i++ {
			if match(ti+1, s[i:]) {
				return true
			}
		}
		return false
	}
	return match(0, s)
}

// evalRule evaluates a JSONPath rule against env.
func evalRule(r *ChoiceRule, env *pathEnv) (bool, *stateError) {
	switch r.Operator {
	case "And":
		for _, x := range r.rules {
			ok, err := evalRule(x, env)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case "Or":
		for _, x := range r.rules {
			ok, err := evalRule(x, env)
			if err != nil {
				return false, err
			}
			if ok {
				return true, nil
			}
		}
		return false, nil
	case "Not":
		ok, err := evalRule(r.rules[0], env)
		return !ok, err
	case "Condition":
		v, err := evalTemplate(r.condition, env, "Condition")
		if err != nil {
			return false, err
		}
		b, ok := v.(bool)
		if !ok {
			return false, newStateError(ErrorQueryEvaluationError, "The JSONata expression '%s' specified for the field 'Condition' returned an unexpected result type. Expected 'boolean', but was '%s' for value: %s", r.condition.src, typeName(v), encodeJSON(v))
		}
		return b, nil
	}
	v, err := evalPath(r.variable, env)
	if err != nil {
		if r.Operator == "IsPresent" {
			return r.value == false, nil
		}
		return false, runtimeErr("Invalid path '%s': %s", r.variable.src, err.Error())
	}
	want := r.value
	if r.valuePath != nil {
		w, err := evalPath(r.valuePath, env)
		if err != nil {
			return false, runtimeErr("Invalid path '%s': %s", r.valuePath.src, err.Error())
		}
		want = w
	}
	return compareRule(r.Operator, v, want), nil
}

func compareRule(op string, v, want any) bool {
	switch op {
	case "IsPresent":
		return want == true
	case "IsNull":
		return (v == nil) == (want == true)
	case "IsNumeric":
		return isNumber(v) == (want == true)
	case "IsString":
		_, ok := v.(string)
		return ok == (want == true)
	case "IsBoolean":
		_, ok := v.(bool)
		return ok == (want == true)
	case "IsTimestamp":
		s, ok := v.(string)
		if ok {
			_, ok = parseTimestamp(s)
		}
		return ok == (want == true)
	case "BooleanEquals":
		a, ok1 := v.(bool)
		b, ok2 := want.(bool)
		return ok1 && ok2 && a == b
	case "StringMatches":
		a, ok1 := v.(string)
		b, ok2 := want.(string)
		return ok1 && ok2 && stringMatches(a, b)
	}
	var c int
	switch {
	case strings.HasPrefix(op, "String"):
		a, ok1 := v.(string)
		b, ok2 := want.(string)
		if !ok1 || !ok2 {
			return false
		}
		c = strings.Compare(a, b)
	case strings.HasPrefix(op, "Numeric"):
		if !isNumber(v) || !isNumber(want) {
			return false
		}
		c = compareNumbers(v, want)
	case strings.HasPrefix(op, "Timestamp"):
		a, ok1 := v.(string)
		b, ok2 := want.(string)
		if !ok1 || !ok2 {
			return false
		}
		ta, ok1 := parseTimestamp(a)
		tb, ok2 := parseTimestamp(b)
		if !ok1 || !ok2 {
			return false
		}
		c = ta.Compare(tb)
	default:
		return false
	}
	switch {
	case strings.HasSuffix(op, "GreaterThanEquals"):
		return c >= 0
	case strings.HasSuffix(op, "LessThanEquals"):
		return c <= 0
	case strings.HasSuffix(op, "GreaterThan"):
		return c > 0
	case strings.HasSuffix(op, "LessThan"):
		return c < 0
	case strings.HasSuffix(op, "Equals"):
		return c == 0
	}
	return false
}

// compileRule builds a rule from its JSON object. top says whether it is
// an element of Choices (which needs Next) or nested (which must not).
func (b *builder) compileRule(v any, ptr, ql string, top bool) *ChoiceRule {
	obj, ok := v.(map[string]any)
	if !ok {
		b.add(ptr, "a choice rule must be an object, got %s", typeName(v))
		return nil
	}
	r := &ChoiceRule{}
	if n, ok := obj["Next"]; ok {
		s, isStr := n.(string)
		if !top {
			b.add(ptr+"/Next", "a nested choice rule must not have Next")
		} else if !isStr || s == "" {
			b.add(ptr+"/Next", "Next must be a non-empty string")
		}
		r.Next = s
	} else if top {
		b.add(ptr, "a choice rule must have Next")
	}
	if top {
		if a, ok := obj["Assign"]; ok {
			r.assign = b.compileAssign(a, ptr+"/Assign", ql)
		}
		if o, ok := obj["Output"]; ok {
			if ql != JSONata {
				b.add(ptr+"/Output", "Output is only allowed in JSONata states")
			} else {
				r.output = b.compileJSONataTemplate(o, ptr+"/Output")
			}
		}
	}
	var ops []string
	for k := range obj {
		switch k {
		case "Next", "Comment", "Assign", "Output", "Variable":
			continue
		case "And", "Or", "Not", "Condition":
			ops = append(ops, k)
			continue
		}
		if _, _, ok := comparisonOperator(k); ok {
			ops = append(ops, k)
			continue
		}
		b.add(ptr+"/"+escapePtr(k), "unknown field %q in a choice rule", k)
	}
	if len(ops) != 1 {
		if len(ops) == 0 {
			b.add(ptr, "a choice rule needs one comparison operator, And, Or, Not or Condition")
		} else {
			b.add(ptr, "a choice rule must have exactly one operator, found %s", strings.Join(sortedStrings(ops), ", "))
		}
		return r
	}
	op := ops[0]
	r.Operator = op
	_, hasVar := obj["Variable"]
	switch op {
	case "Condition":
		if ql != JSONata {
			b.add(ptr+"/Condition", "Condition is only allowed in JSONata states")
			return r
		}
		if hasVar {
			b.add(ptr+"/Variable", "Variable is not allowed in JSONata states")
		}
		c := obj["Condition"]
		switch t := c.(type) {
		case bool:
		case string:
			if !isJSONataString(t) {
				b.add(ptr+"/Condition", "Condition must be a boolean or a {%% JSONata %%} expression")
			}
		default:
			b.add(ptr+"/Condition", "Condition must be a boolean or a {%% JSONata %%} expression")
		}
		r.condition = b.compileJSONataTemplate(c, ptr+"/Condition")
		return r
	case "And", "Or":
		if hasVar {
			b.add(ptr+"/Variable", "%s must not be combined with Variable", op)
		}
		arr, ok := obj[op].([]any)
		if !ok || len(arr) == 0 {
			b.add(ptr+"/"+op, "%s must be a non-empty array of choice rules", op)
			return r
		}
		for i, x := range arr {
			if sub := b.compileRule(x, fmt.Sprintf("%s/%s/%d", ptr, op, i), ql, false); sub != nil {
				r.rules = append(r.rules, sub)
			}
		}
		return r
	case "Not":
		if hasVar {
			b.add(ptr+"/Variable", "Not must not be combined with Variable")
		}
		if sub := b.compileRule(obj["Not"], ptr+"/Not", ql, false); sub != nil {
			r.rules = []*ChoiceRule{sub}
		}
		return r
	}
	if ql == JSONata {
		b.add(ptr+"/"+op, "comparison operators are not allowed in JSONata states; use Condition")
		return r
	}
	base, isPath, _ := comparisonOperator(op)
	r.Operator = base
	vs, ok := obj["Variable"].(string)
	if !ok {
		b.add(ptr, "a comparison needs Variable, a JSONPath string")
	} else if p, err := parsePath(vs); err != nil {
		b.add(ptr+"/Variable", "%v", err)
	} else {
		r.variable = p
	}
	val := obj[op]
	if isPath {
		s, ok := val.(string)
		if !ok {
			b.add(ptr+"/"+op, "%s must be a JSONPath string", op)
			return r
		}
		p, err := parsePath(s)
		if err != nil {
			b.add(ptr+"/"+op, "%v", err)
			return r
		}
		r.valuePath = p
		return r
	}
	switch choiceOperators[base] {
	case "string":
		if _, ok := val.(string); !ok {
			b.add(ptr+"/"+op, "%s takes a string, got %s", op, typeName(val))
		}
	case "number":
		if !isNumber(val) {
			b.add(ptr+"/"+op, "%s takes a number, got %s", op, typeName(val))
		}
	case "boolean":
		if _, ok := val.(bool); !ok {
			b.add(ptr+"/"+op, "%s takes a boolean, got %s", op, typeName(val))
		}
	case "timestamp":
		s, ok := val.(string)
		if !ok {
			b.add(ptr+"/"+op, "%s takes a timestamp string, got %s", op, typeName(val))
		} else if _, ok := parseTimestamp(s); !ok {
			b.add(ptr+"/"+op, "%q is not an RFC 3339 timestamp", s)
		}
	}
	r.value = val
	return r
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
