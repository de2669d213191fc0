package asl

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// JSONPath as the Amazon States Language uses it.
//
// A path starts with "$" (the current data), "$$" (the context object) or
// "$name" (a variable set by Assign). Segments: .name, ['name'], ["name"],
// [n] (negative counts from the end), [*], .*, ..name (recursive descent),
// [a,b] unions, [start:end:step] slices and [?(expr)] filters, where expr
// compares @-relative paths with literals using == != < <= > >= and
// combines them with && || ! and parentheses.
//
// A path is "definite" when it can select at most one node (no wildcard,
// descent, slice, union or filter); a definite path that selects nothing is
// an error, an indefinite one yields a (possibly empty) array, as Jayway
// JSONPath — which AWS uses — does.

type pathRoot int

const (
	rootInput pathRoot = iota
	rootContext
	rootVar
)

type segKind int

const (
	segField segKind = iota
	segIndex
	segWildcard
	segSlice
	segUnion
	segFilter
)

type pathSeg struct {
	kind      segKind
	recursive bool
	name      string
	idx       int
	union     []pathSeg // each a segField or segIndex
	slice     [3]*int
	filter    filterExpr
}

// jsonPath is a parsed path.
type jsonPath struct {
	src     string
	root    pathRoot
	varName string
	segs    []pathSeg
}

func (p *jsonPath) definite() bool {
	for _, s := range p.segs {
		if s.recursive || (s.kind != segField && s.kind != segIndex) {
			return false
		}
	}
	return true
}

// isReference reports whether p is a Reference Path: $-rooted, definite.
func (p *jsonPath) isReference() bool {
	return p.root == rootInput && p.definite()
}

type pathParser struct {
	s        string
	i        int
	inFilter bool
}

// parsePath parses a full JSONPath string.
func parsePath(s string) (*jsonPath, error) {
	p := &pathParser{s: s}
	jp, err := p.parse()
	if err != nil {
		return nil, err
	}
	if p.i != len(s) {
		return nil, fmt.Errorf("invalid JSONPath %q: unexpected %q at offset %d", s, s[p.i:], p.i)
	}
	return jp, nil
}

func (p *pathParser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSONPath %q: %s", p.s, fmt.Sprintf(format, args...))
}

func isVarStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isVarChar(c byte) bool {
	return isVarStart(c) || (c >= '0' && c <= '9')
}

func (p *pathParser) parse() (*jsonPath, error) {
	jp := &jsonPath{}
	start := p.i
	if p.i >= len(p.s) || (p.s[p.i] != '$' && p.s[p.i] != '@') {
		return nil, p.errorf("must start with $")
	}
	p.i++
	switch {
	case p.s[start] == '@':
		jp.root = rootInput
	case p.i < len(p.s) && p.s[p.i] == '$':
		p.i++
		jp.root = rootContext
	case p.i < len(p.s) && isVarStart(p.s[p.i]):
		j := p.i
		for j < len(p.s) && isVarChar(p.s[j]) {
			j++
		}
		jp.root = rootVar
		jp.varName = p.s[p.i:j]
		p.i = j
	}
	segs, err := p.segments()
	if err != nil {
		return nil, err
	}
	jp.segs = segs
	jp.src = p.s[start:p.i]
	return jp, nil
}

func (p *pathParser) nameEnd(c byte) bool {
	if c == '.' || c == '[' {
		return true
	}
	if p.inFilter {
		return c == ' ' || c == ')' || c == '=' || c == '!' || c == '<' || c == '>' || c == '&' || c == '|' || c == ',' || c == '\t'
	}
	return false
}

func (p *pathParser) segments() ([]pathSeg, error) {
	var segs []pathSeg
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '.':
			p.i++
			rec := false
			if p.i < len(p.s) && p.s[p.i] == '.' {
				rec = true
				p.i++
			}
			if p.i >= len(p.s) {
				return nil, p.errorf("path ends after '.'")
			}
			if p.s[p.i] == '*' {
				p.i++
				segs = append(segs, pathSeg{kind: segWildcard, recursive: rec})
				continue
			}
			if p.s[p.i] == '[' {
				if !rec {
					return nil, p.errorf("unexpected '[' after '.'")
				}
				seg, err := p.bracket()
				if err != nil {
					return nil, err
				}
				seg.recursive = true
				segs = append(segs, seg)
				continue
			}
			j := p.i
			for j < len(p.s) && !p.nameEnd(p.s[j]) {
				j++
			}
			if j == p.i {
				return nil, p.errorf("empty name at offset %d", p.i)
			}
			segs = append(segs, pathSeg{kind: segField, name: p.s[p.i:j], recursive: rec})
			p.i = j
		case '[':
			seg, err := p.bracket()
			if err != nil {
				return nil, err
			}
			segs = append(segs, seg)
		default:
			if p.inFilter {
				return segs, nil
			}
			return nil, p.errorf("unexpected %q at offset %d", string(c), p.i)
		}
	}
	return segs, nil
}

func (p *pathParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// bracket parses [...] starting at '['.
func (p *pathParser) bracket() (pathSeg, error) {
	p.i++ // '['
	p.skipSpace()
	if p.i >= len(p.s) {
		return pathSeg{}, p.errorf("unterminated '['")
	}
	switch {
	case p.s[p.i] == '*':
		p.i++
		p.skipSpace()
		if err := p.expect(']'); err != nil {
			return pathSeg{}, err
		}
		return pathSeg{kind: segWildcard}, nil
	case p.s[p.i] == '?':
		p.i++
		p.skipSpace()
		if err := p.expect('('); err != nil {
			return pathSeg{}, err
		}
		fp := &filterParser{p: p}
		expr, err := fp.parseOr()
		if err != nil {
			return pathSeg{}, err
		}
		p.skipSpace()
		if err := p.expect(')'); err != nil {
			return pathSeg{}, err
		}
		p.skipSpace()
		if err := p.expect(']'); err != nil {
			return pathSeg{}, err
		}
		return pathSeg{kind: segFilter, filter: expr}, nil
	}
	var items []pathSeg
	for {
		p.skipSpace()
		if p.i >= len(p.s) {
			return pathSeg{}, p.errorf("unterminated '['")
		}
		c := p.s[p.i]
		if c == '\'' || c == '"' {
			str, err := p.quoted(c)
			if err != nil {
				return pathSeg{}, err
			}
			items = append(items, pathSeg{kind: segField, name: str})
		} else {
			// number or slice
			j := p.i
			for j < len(p.s) && (p.s[j] == '-' || p.s[j] == ':' || (p.s[j] >= '0' && p.s[j] <= '9') || p.s[j] == ' ') {
				j++
			}
			tok := strings.TrimSpace(p.s[p.i:j])
			if tok == "" {
				return pathSeg{}, p.errorf("unexpected %q in brackets", string(c))
			}
			p.i = j
			if strings.Contains(tok, ":") {
				parts := strings.Split(tok, ":")
				if len(parts) > 3 {
					return pathSeg{}, p.errorf("bad slice %q", tok)
				}
				var sl [3]*int
				for k, part := range parts {
					part = strings.TrimSpace(part)
					if part == "" {
						continue
					}
					n, err := strconv.Atoi(part)
					if err != nil {
						return pathSeg{}, p.errorf("bad slice %q", tok)
					}
					sl[k] = &n
				}
				items = append(items, pathSeg{kind: segSlice, slice: sl})
			} else {
				n, err := strconv.Atoi(tok)
				if err != nil {
					return pathSeg{}, p.errorf("bad index %q", tok)
				}
				items = append(items, pathSeg{kind: segIndex, idx: n})
			}
		}
		p.skipSpace()
		if p.i >= len(p.s) {
			return pathSeg{}, p.errorf("unterminated '['")
		}
		if p.s[p.i] == ',' {
			p.i++
			continue
		}
		if p.s[p.i] == ']' {
			p.i++
			break
		}
		return pathSeg{}, p.errorf("unexpected %q in brackets", string(p.s[p.i]))
	}
	if len(items) == 1 {
		return items[0], nil
	}
	for _, it := range items {
		if it.kind == segSlice {
			return pathSeg{}, p.errorf("slice inside a union")
		}
	}
	return pathSeg{kind: segUnion, union: items}, nil
}

func (p *pathParser) expect(c byte) error {
	if p.i >= len(p.s) || p.s[p.i] != c {
		return p.errorf("expected %q at offset %d", string(c), p.i)
	}
	p.i++
	return nil
}

func (p *pathParser) quoted(q byte) (string, error) {
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '\\' && p.i+1 < len(p.s) {
			b.WriteByte(p.s[p.i+1])
			p.i += 2
			continue
		}
		if c == q {
			p.i++
			return b.String(), nil
		}
		b.WriteByte(c)
		p.i++
	}
	return "", p.errorf("unterminated string")
}

// ---- filter expressions ----

type filterExpr interface {
	eval(cur any, root any) any
}

type filterOr struct{ l, r filterExpr }
type filterAnd struct{ l, r filterExpr }
type filterNot struct{ x filterExpr }
type filterCmp struct {
	op   string
	l, r filterExpr
}
type filterLit struct{ v any }
type filterPath struct {
	relative bool
	path     *jsonPath
}

// missing marks an absent value in filters.
type missingT struct{}

var missing = missingT{}

func truthy(v any) bool {
	switch t := v.(type) {
	case missingT, nil:
		return false
	case bool:
		return t
	}
	return true
}

func (f filterOr) eval(cur, root any) any {
	return truthy(f.l.eval(cur, root)) || truthy(f.r.eval(cur, root))
}
func (f filterAnd) eval(cur, root any) any {
	return truthy(f.l.eval(cur, root)) && truthy(f.r.eval(cur, root))
}
func (f filterNot) eval(cur, root any) any { return !truthy(f.x.eval(cur, root)) }
func (f filterLit) eval(_, _ any) any      { return f.v }
func (f filterPath) eval(cur, root any) any {
	base := root
	if f.relative {
		base = cur
	}
	res, err := selectPath(f.path, base)
	if err != nil {
		return missing
	}
	if f.path.definite() {
		if len(res) == 0 {
			return missing
		}
		return res[0]
	}
	return res
}
func (f filterCmp) eval(cur, root any) any {
	a := f.l.eval(cur, root)
	b := f.r.eval(cur, root)
	if _, ok := a.(missingT); ok {
		return false
	}
	if _, ok := b.(missingT); ok {
		return false
	}
	switch f.op {
	case "==":
		return jsonEqual(a, b)
	case "!=":
		return !jsonEqual(a, b)
	}
	var c int
	switch {
	case isNumber(a) && isNumber(b):
		c = compareNumbers(a, b)
	default:
		sa, ok1 := a.(string)
		sb, ok2 := b.(string)
		if !ok1 || !ok2 {
			return false
		}
		c = strings.Compare(sa, sb)
	}
	switch f.op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

type filterParser struct{ p *pathParser }

func (fp *filterParser) parseOr() (filterExpr, error) {
	l, err := fp.parseAnd()
	if err != nil {
		return nil, err
	}
	for {
		fp.p.skipSpace()
		if strings.HasPrefix(fp.p.s[fp.p.i:], "||") {
			fp.p.i += 2
			r, err := fp.parseAnd()
			if err != nil {
				return nil, err
			}
			l = filterOr{l, r}
			continue
		}
		return l, nil
	}
}

func (fp *filterParser) parseAnd() (filterExpr, error) {
	l, err := fp.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		fp.p.skipSpace()
		if strings.HasPrefix(fp.p.s[fp.p.i:], "&&") {
			fp.p.i += 2
			r, err := fp.parseUnary()
			if err != nil {
				return nil, err
			}
			l = filterAnd{l, r}
			continue
		}
		return l, nil
	}
}

func (fp *filterParser) parseUnary() (filterExpr, error) {
	p := fp.p
	p.skipSpace()
	if p.i >= len(p.s) {
		return nil, p.errorf("unterminated filter")
	}
	if p.s[p.i] == '!' && !strings.HasPrefix(p.s[p.i:], "!=") {
		p.i++
		x, err := fp.parseUnary()
		if err != nil {
			return nil, err
		}
		return filterNot{x}, nil
	}
	if p.s[p.i] == '(' {
		p.i++
		x, err := fp.parseOr()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if err := p.expect(')'); err != nil {
			return nil, err
		}
		return x, nil
	}
	l, err := fp.parseOperand()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	for _, op := range []string{"==", "!=", "<=", ">=", "<", ">"} {
		if strings.HasPrefix(p.s[p.i:], op) {
			p.i += len(op)
			r, err := fp.parseOperand()
			if err != nil {
				return nil, err
			}
			return filterCmp{op: op, l: l, r: r}, nil
		}
	}
	return l, nil
}

func (fp *filterParser) parseOperand() (filterExpr, error) {
	p := fp.p
	p.skipSpace()
	if p.i >= len(p.s) {
		return nil, p.errorf("unterminated filter")
	}
	c := p.s[p.i]
	switch {
	case c == '@' || c == '$':
		sub := &pathParser{s: p.s, i: p.i, inFilter: true}
		jp, err := sub.parse()
		if err != nil {
			return nil, err
		}
		p.i = sub.i
		return filterPath{relative: c == '@', path: jp}, nil
	case c == '\'' || c == '"':
		s, err := p.quoted(c)
		if err != nil {
			return nil, err
		}
		return filterLit{s}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		j := p.i + 1
		for j < len(p.s) && (unicode.IsDigit(rune(p.s[j])) || p.s[j] == '.' || p.s[j] == 'e' || p.s[j] == 'E' || p.s[j] == '+' || p.s[j] == '-') {
			j++
		}
		tok := p.s[p.i:j]
		if _, err := strconv.ParseFloat(tok, 64); err != nil {
			return nil, p.errorf("bad number %q", tok)
		}
		p.i = j
		return filterLit{normalizeValue(mustFloat(tok))}, nil
	case strings.HasPrefix(p.s[p.i:], "true"):
		p.i += 4
		return filterLit{true}, nil
	case strings.HasPrefix(p.s[p.i:], "false"):
		p.i += 5
		return filterLit{false}, nil
	case strings.HasPrefix(p.s[p.i:], "null"):
		p.i += 4
		return filterLit{nil}, nil
	}
	return nil, p.errorf("unexpected %q in filter", string(c))
}

func mustFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// ---- evaluation ----

// pathMissError says a definite path selected nothing.
type pathMissError struct {
	path string // the prefix that failed, in bracket notation
	msg  string
}

func (e *pathMissError) Error() string { return e.msg }

// selectPath applies the segments of p to root and returns the selected
// nodes. For definite paths a miss is an error naming where it failed.
func selectPath(p *jsonPath, root any) ([]any, error) {
	nodes := []any{root}
	definite := p.definite()
	where := "$"
	for _, seg := range p.segs {
		var next []any
		for _, n := range nodes {
			if seg.recursive {
				walkAll(n, func(x any) { next = append(next, applySeg(seg, x, root)...) })
			} else {
				next = append(next, applySeg(seg, n, root)...)
			}
		}
		if definite {
			switch seg.kind {
			case segField:
				where += "['" + seg.name + "']"
				if len(next) == 0 {
					return nil, &pathMissError{path: where, msg: "Missing property in path " + where}
				}
			case segIndex:
				where += "[" + strconv.Itoa(seg.idx) + "]"
				if len(next) == 0 {
					return nil, &pathMissError{path: where, msg: "Index out of bounds in path " + where}
				}
			}
		}
		nodes = next
	}
	return nodes, nil
}

func walkAll(v any, f func(any)) {
	f(v)
	switch t := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(t) {
			walkAll(t[k], f)
		}
	case []any:
		for _, x := range t {
			walkAll(x, f)
		}
	}
}

func applySeg(seg pathSeg, n any, root any) []any {
	switch seg.kind {
	case segField:
		if m, ok := n.(map[string]any); ok {
			if v, ok := m[seg.name]; ok {
				return []any{v}
			}
		}
		return nil
	case segIndex:
		if a, ok := n.([]any); ok {
			i := seg.idx
			if i < 0 {
				i += len(a)
			}
			if i >= 0 && i < len(a) {
				return []any{a[i]}
			}
		}
		return nil
	case segWildcard:
		switch t := n.(type) {
		case map[string]any:
			out := make([]any, 0, len(t))
			for _, k := range sortedKeys(t) {
				out = append(out, t[k])
			}
			return out
		case []any:
			return append([]any(nil), t...)
		}
		return nil
	case segUnion:
		var out []any
		for _, u := range seg.union {
			out = append(out, applySeg(u, n, root)...)
		}
		return out
	case segSlice:
		a, ok := n.([]any)
		if !ok {
			return nil
		}
		step := 1
		if seg.slice[2] != nil {
			step = *seg.slice[2]
		}
		if step == 0 {
			return nil
		}
		l := len(a)
		norm := func(p *int, def int) int {
			if p == nil {
				return def
			}
			i := *p
			if i < 0 {
				i += l
			}
			if i < 0 {
				i = 0
			}
			if i > l {
				i = l
			}
			return i
		}
		var out []any
		if step > 0 {
			for i := norm(seg.slice[0], 0); i < norm(seg.slice[1], l); i += step {
				out = append(out, a[i])
			}
		} else {
			start := l - 1
			if seg.slice[0] != nil {
				start = norm(seg.slice[0], l-1)
				if start >= l {
					start = l - 1
				}
			}
			end := -1
			if seg.slice[1] != nil {
				end = norm(seg.slice[1], -1)
			}
			for i := start; i > end; i += step {
				out = append(out, a[i])
			}
		}
		return out
	case segFilter:
		var out []any
		switch t := n.(type) {
		case []any:
			for _, x := range t {
				if truthy(seg.filter.eval(x, root)) {
					out = append(out, x)
				}
			}
		case map[string]any:
			for _, k := range sortedKeys(t) {
				if truthy(seg.filter.eval(t[k], root)) {
					out = append(out, t[k])
				}
			}
		}
		return out
	}
	return nil
}

// pathEnv is what a path can be evaluated against.
type pathEnv struct {
	input   any
	context any
	// ctxFn, when set, builds the context object on first use (most
	// states never read $$, and building it decodes the execution input).
	ctxFn func() any
	vars  func(name string) (any, bool)
	// states is JSONata's $states (input, result, errorOutput, context).
	states map[string]any
}

// contextObject returns $$, building it on first use.
func (env *pathEnv) contextObject() any {
	if env.ctxFn != nil {
		env.context, env.ctxFn = env.ctxFn(), nil
		if env.states != nil {
			env.states["context"] = env.context
		}
	}
	return env.context
}

// statesObject returns JSONata's $states with its context filled in.
func (env *pathEnv) statesObject() map[string]any {
	env.contextObject()
	return env.states
}

// evalPath evaluates p: a definite path yields its single value, an
// indefinite one an array of matches.
func evalPath(p *jsonPath, env *pathEnv) (any, error) {
	var root any
	switch p.root {
	case rootInput:
		root = env.input
	case rootContext:
		root = env.contextObject()
	case rootVar:
		v, ok := env.vars(p.varName)
		if !ok {
			return nil, &pathMissError{path: "$" + p.varName, msg: fmt.Sprintf("Variable '%s' is not defined", p.varName)}
		}
		root = v
	}
	res, err := selectPath(p, root)
	if err != nil {
		return nil, err
	}
	if p.definite() {
		return res[0], nil
	}
	if res == nil {
		res = []any{}
	}
	return res, nil
}

// setPath writes value at reference path p inside a copy of input and
// returns the result. It creates missing objects on the way.
func setPath(p *jsonPath, input, value any) (any, error) {
	if len(p.segs) == 0 {
		return value, nil
	}
	root := deepCopy(input)
	if root == nil {
		root = map[string]any{}
	}
	var set func(cur any, i int) (any, error)
	set = func(cur any, i int) (any, error) {
		seg := p.segs[i]
		last := i == len(p.segs)-1
		switch seg.kind {
		case segField:
			m, ok := cur.(map[string]any)
			if !ok {
				if cur == nil {
					m = map[string]any{}
				} else {
					return nil, fmt.Errorf("cannot set field %q on a %s", seg.name, typeName(cur))
				}
			}
			if last {
				m[seg.name] = value
				return m, nil
			}
			child, err := set(m[seg.name], i+1)
			if err != nil {
				return nil, err
			}
			m[seg.name] = child
			return m, nil
		case segIndex:
			a, ok := cur.([]any)
			if !ok {
				return nil, fmt.Errorf("cannot index a %s", typeName(cur))
			}
			idx := seg.idx
			if idx < 0 {
				idx += len(a)
			}
			if idx < 0 || idx >= len(a) {
				return nil, fmt.Errorf("index %d out of bounds", seg.idx)
			}
			if last {
				a[idx] = value
				return a, nil
			}
			child, err := set(a[idx], i+1)
			if err != nil {
				return nil, err
			}
			a[idx] = child
			return a, nil
		}
		return nil, fmt.Errorf("not a reference path")
	}
	return set(root, 0)
}
