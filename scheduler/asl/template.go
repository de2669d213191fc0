package asl

import (
	"fmt"
	"strings"
)

// Templates are the JSON values of Parameters, ResultSelector,
// ItemSelector and Assign (JSONPath: keys ending in ".$" take a path or an
// intrinsic function) and of Arguments, Output, Assign, Items… (JSONata:
// strings of the form "{% expr %}" are expressions). They are compiled
// once, at Parse time.

type tmplKind int

const (
	tLit tmplKind = iota
	tPath
	tCall
	tObject
	tArray
	tJSONata
)

type tmplNode struct {
	kind  tmplKind
	lit   any
	path  *jsonPath
	call  *intrinsicCall
	expr  *jexpr
	src   string
	keys  []string // output keys
	names []string // keys as written (with ".$"), for messages
	vals  []*tmplNode
	items []*tmplNode
}

// isJSONataString reports whether s is a "{% … %}" expression.
func isJSONataString(s string) bool {
	return len(s) >= 4 && strings.HasPrefix(s, "{%") && strings.HasSuffix(s, "%}")
}

func jsonataBody(s string) string {
	return strings.TrimSpace(s[2 : len(s)-2])
}

// compilePathOrCall compiles the string value of a ".$" field.
func compilePathOrCall(s string) (*tmplNode, error) {
	st := strings.TrimSpace(s)
	if isIntrinsic(st) {
		c, err := parseIntrinsic(st)
		if err != nil {
			return nil, err
		}
		return &tmplNode{kind: tCall, call: c, src: st}, nil
	}
	if strings.HasPrefix(st, "$") {
		p, err := parsePath(st)
		if err != nil {
			return nil, err
		}
		return &tmplNode{kind: tPath, path: p, src: st}, nil
	}
	return nil, fmt.Errorf("%q is neither a JSONPath nor an intrinsic function", s)
}

// compileJSONPathTemplate compiles a Parameters-like value.
func (b *builder) compileJSONPathTemplate(v any, ptr string) *tmplNode {
	switch t := v.(type) {
	case map[string]any:
		n := &tmplNode{kind: tObject}
		for _, k := range sortedKeys(t) {
			kp := ptr + "/" + escapePtr(k)
			if strings.HasSuffix(k, ".$") {
				s, ok := t[k].(string)
				if !ok {
					b.add(kp, "a field ending in \".$\" must hold a JSONPath or intrinsic function string, got %s", typeName(t[k]))
					continue
				}
				c, err := compilePathOrCall(s)
				if err != nil {
					b.add(kp, "%v", err)
					continue
				}
				n.keys = append(n.keys, strings.TrimSuffix(k, ".$"))
				n.names = append(n.names, k)
				n.vals = append(n.vals, c)
				continue
			}
			n.keys = append(n.keys, k)
			n.names = append(n.names, k)
			n.vals = append(n.vals, b.compileJSONPathTemplate(t[k], kp))
		}
		return n
	case []any:
		n := &tmplNode{kind: tArray}
		for i, x := range t {
			n.items = append(n.items, b.compileJSONPathTemplate(x, fmt.Sprintf("%s/%d", ptr, i)))
		}
		return n
	}
	return &tmplNode{kind: tLit, lit: v}
}

// compileJSONataTemplate compiles an Arguments/Output-like value.
func (b *builder) compileJSONataTemplate(v any, ptr string) *tmplNode {
	switch t := v.(type) {
	case string:
		if isJSONataString(t) {
			src := jsonataBody(t)
			e, err := parseJSONata(src)
			if err != nil {
				b.add(ptr, "invalid JSONata expression %q: %v", src, err)
				return &tmplNode{kind: tLit, lit: v}
			}
			return &tmplNode{kind: tJSONata, expr: e, src: src}
		}
		return &tmplNode{kind: tLit, lit: v}
	case map[string]any:
		n := &tmplNode{kind: tObject}
		for _, k := range sortedKeys(t) {
			n.keys = append(n.keys, k)
			n.names = append(n.names, k)
			n.vals = append(n.vals, b.compileJSONataTemplate(t[k], ptr+"/"+escapePtr(k)))
		}
		return n
	case []any:
		n := &tmplNode{kind: tArray}
		for i, x := range t {
			n.items = append(n.items, b.compileJSONataTemplate(x, fmt.Sprintf("%s/%d", ptr, i)))
		}
		return n
	}
	return &tmplNode{kind: tLit, lit: v}
}

// evalTemplate evaluates a compiled template. field names the field for
// error messages ("Output", "Arguments/FunctionName", "Parameters").
func evalTemplate(n *tmplNode, env *pathEnv, field string) (any, *stateError) {
	switch n.kind {
	case tLit:
		return deepCopy(n.lit), nil
	case tPath:
		v, err := evalPath(n.path, env)
		if err != nil {
			return nil, pathFieldError(n.path, env, field, err)
		}
		return deepCopy(v), nil
	case tCall:
		return evalIntrinsic(n.call, env)
	case tJSONata:
		v, defined, err := evalJSONata(n.expr, env)
		if err != nil {
			return nil, newStateError(ErrorQueryEvaluationError, "The JSONata expression '%s' specified for the field '%s' threw an error during evaluation: %v", n.src, field, err)
		}
		if !defined {
			return nil, newStateError(ErrorQueryEvaluationError, "The JSONata expression '%s' specified for the field '%s' returned nothing (undefined).", n.src, field)
		}
		return v, nil
	case tObject:
		out := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			sub := k
			if n.vals[i].kind == tPath || n.vals[i].kind == tCall {
				sub = n.names[i]
			}
			v, err := evalTemplate(n.vals[i], env, joinField(field, sub))
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case tArray:
		out := make([]any, len(n.items))
		for i, it := range n.items {
			v, err := evalTemplate(it, env, fmt.Sprintf("%s[%d]", field, i))
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return nil, runtimeErr("unknown template node")
}

func joinField(parent, k string) string {
	if parent == "" {
		return k
	}
	return parent + "/" + k
}

func pathFieldError(p *jsonPath, env *pathEnv, field string, err error) *stateError {
	leaf := field
	if i := strings.LastIndex(field, "/"); i >= 0 {
		leaf = field[i+1:]
	}
	var in any
	switch p.root {
	case rootContext:
		in = env.contextObject()
	case rootVar:
		return runtimeErr("The JSONPath '%s' specified for the field '%s' could not be found: %s", p.src, leaf, err.Error())
	default:
		in = env.input
	}
	return runtimeErr("The JSONPath '%s' specified for the field '%s' could not be found in the input '%s'", p.src, leaf, encodeJSON(in))
}

func escapePtr(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}
