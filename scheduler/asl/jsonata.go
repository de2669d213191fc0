package asl

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A subset of JSONata (https://docs.jsonata.org), enough for the
// expressions Step Functions users write in "{% … %}" fields: paths with
// predicates and indexes, arithmetic, comparison, boolean logic, string
// concatenation (&), conditionals (?:), ranges, array and object
// constructors, blocks with variable binding (:=), lambdas, function
// application (~>), regex literals and the common built-in functions plus
// the Step Functions additions ($partition, $range, $hash, $random,
// $uuid, $parse). Not supported: group-by object transforms on paths,
// order-by (^), positional (#) and context (@) bindings, parent (%),
// $formatNumber/$formatInteger and date picture strings.

type jexpr struct {
	src  string
	root jnode
}

type jnode interface{}

type (
	jNum    struct{ v float64 }
	jStr    struct{ v string }
	jLit    struct{ v any } // true, false, null
	jRegex  struct{ re *regexp.Regexp }
	jVar    struct{ name string } // "" is $, "$" is $$
	jName   struct{ name string }
	jWild   struct{}
	jPath   struct{ steps []jnode }
	jFilter struct {
		expr jnode
		pred jnode
	}
	jBinary struct {
		op   string
		l, r jnode
	}
	jNeg  struct{ x jnode }
	jCond struct{ c, t, f jnode }
	jBind struct {
		name string
		x    jnode
	}
	jBlock struct{ body []jnode }
	jCall  struct {
		fn   jnode
		args []jnode
	}
	jLambda struct {
		params []string
		body   jnode
	}
	jArray  struct{ items []jnode }
	jObject struct{ keys, vals []jnode }
	jRange  struct{ lo, hi jnode }
)

// undefinedT is JSONata's "no value".
type undefinedT struct{}

var undefined = undefinedT{}

func isUndef(v any) bool { _, ok := v.(undefinedT); return ok }

// jseq is a sequence produced by a path; singletons collapse to their item.
type jseq []any

// jfunc is a callable value.
type jfunc struct {
	name    string
	builtin func(ev *jeval, args []any) (any, error)
	lambda  *jLambda
	scope   *jscope
}

// ---- lexer ----

type jtok struct {
	kind string // num, str, name, var, op, regex, eof
	s    string
	n    float64
	pos  int
}

type jlexer struct {
	src  string
	i    int
	prev *jtok
}

var jops3 = []string{"..."}
var jops2 = []string{":=", "!=", "<=", ">=", "~>", "..", "**"}

func (l *jlexer) next() (jtok, error) {
	for l.i < len(l.src) {
		c := l.src[l.i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			l.i++
			continue
		}
		if strings.HasPrefix(l.src[l.i:], "/*") {
			end := strings.Index(l.src[l.i+2:], "*/")
			if end < 0 {
				return jtok{}, fmt.Errorf("unterminated comment")
			}
			l.i += end + 4
			continue
		}
		break
	}
	if l.i >= len(l.src) {
		return jtok{kind: "eof", pos: l.i}, nil
	}
	start := l.i
	c := l.src[l.i]
	operandExpected := l.prev == nil || (l.prev.kind == "op" && l.prev.s != ")" && l.prev.s != "]" && l.prev.s != "}")
	switch {
	case c == '/' && operandExpected:
		j := l.i + 1
		for j < len(l.src) && l.src[j] != '/' {
			if l.src[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(l.src) {
			return jtok{}, fmt.Errorf("unterminated regular expression")
		}
		pat := l.src[l.i+1 : j]
		j++
		flags := ""
		for j < len(l.src) && (l.src[j] == 'i' || l.src[j] == 'm') {
			flags += string(l.src[j])
			j++
		}
		l.i = j
		goPat := translateRegex(pat)
		if flags != "" {
			goPat = "(?" + flags + ")" + goPat
		}
		return jtok{kind: "regex", s: goPat, pos: start}, nil
	case c == '"' || c == '\'':
		s, err := l.str(c)
		return jtok{kind: "str", s: s, pos: start}, err
	case c == '`':
		end := strings.IndexByte(l.src[l.i+1:], '`')
		if end < 0 {
			return jtok{}, fmt.Errorf("unterminated backtick name")
		}
		l.i += end + 2
		return jtok{kind: "name", s: l.src[start+1 : start+1+end], pos: start}, nil
	case c >= '0' && c <= '9' || (c == '.' && l.i+1 < len(l.src) && l.src[l.i+1] >= '0' && l.src[l.i+1] <= '9' && operandExpected):
		j := l.i
		for j < len(l.src) && (l.src[j] >= '0' && l.src[j] <= '9') {
			j++
		}
		if j+1 < len(l.src) && l.src[j] == '.' && l.src[j+1] >= '0' && l.src[j+1] <= '9' {
			j++
			for j < len(l.src) && l.src[j] >= '0' && l.src[j] <= '9' {
				j++
			}
		}
		if j < len(l.src) && (l.src[j] == 'e' || l.src[j] == 'E') {
			k := j + 1
			if k < len(l.src) && (l.src[k] == '+' || l.src[k] == '-') {
				k++
			}
			if k < len(l.src) && l.src[k] >= '0' && l.src[k] <= '9' {
				for k < len(l.src) && l.src[k] >= '0' && l.src[k] <= '9' {
					k++
				}
				j = k
			}
		}
		f, err := strconv.ParseFloat(l.src[l.i:j], 64)
		if err != nil {
			return jtok{}, fmt.Errorf("bad number %q", l.src[l.i:j])
		}
		l.i = j
		return jtok{kind: "num", n: f, s: l.src[start:j], pos: start}, nil
	case c == '$':
		j := l.i + 1
		if j < len(l.src) && l.src[j] == '$' {
			l.i = j + 1
			return jtok{kind: "var", s: "$", pos: start}, nil
		}
		for j < len(l.src) && isJNameChar(l.src[j]) {
			j++
		}
		l.i = j
		return jtok{kind: "var", s: l.src[start+1 : j], pos: start}, nil
	case isJNameChar(c):
		j := l.i
		for j < len(l.src) && isJNameChar(l.src[j]) {
			j++
		}
		l.i = j
		w := l.src[start:j]
		switch w {
		case "and", "or", "in":
			if !operandExpected {
				return jtok{kind: "op", s: w, pos: start}, nil
			}
		}
		return jtok{kind: "name", s: w, pos: start}, nil
	}
	for _, op := range append(jops3, jops2...) {
		if strings.HasPrefix(l.src[l.i:], op) {
			l.i += len(op)
			return jtok{kind: "op", s: op, pos: start}, nil
		}
	}
	if strings.ContainsRune("()[]{},.;:?+-*/%&=<>!~^|#@", rune(c)) {
		l.i++
		return jtok{kind: "op", s: string(c), pos: start}, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.i:])
	return jtok{}, fmt.Errorf("unexpected character %q at %d", r, l.i)
}

func isJNameChar(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80
}

func (l *jlexer) str(q byte) (string, error) {
	l.i++
	var b strings.Builder
	for l.i < len(l.src) {
		c := l.src[l.i]
		if c == q {
			l.i++
			return b.String(), nil
		}
		if c == '\\' && l.i+1 < len(l.src) {
			e := l.src[l.i+1]
			l.i += 2
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'u':
				if l.i+4 > len(l.src) {
					return "", fmt.Errorf("bad unicode escape")
				}
				n, err := strconv.ParseUint(l.src[l.i:l.i+4], 16, 32)
				if err != nil {
					return "", fmt.Errorf("bad unicode escape")
				}
				b.WriteRune(rune(n))
				l.i += 4
			default:
				b.WriteByte(e)
			}
			continue
		}
		b.WriteByte(c)
		l.i++
	}
	return "", fmt.Errorf("unterminated string")
}

// translateRegex turns a JavaScript regex body into RE2 syntax: escaped
// characters RE2 does not know as escapes are quoted literally.
func translateRegex(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '\\' && i+1 < len(p) {
			n := p[i+1]
			i++
			if (n >= 'a' && n <= 'z') || (n >= 'A' && n <= 'Z') || (n >= '0' && n <= '9') {
				b.WriteByte('\\')
				b.WriteByte(n)
			} else {
				b.WriteString(regexp.QuoteMeta(string(n)))
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// ---- parser (Pratt) ----

type jparser struct {
	lex *jlexer
	tok jtok
}

func parseJSONata(src string) (*jexpr, error) {
	p := &jparser{lex: &jlexer{src: src}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != "eof" {
		return nil, fmt.Errorf("unexpected %q at %d", p.tok.s, p.tok.pos)
	}
	return &jexpr{src: src, root: n}, nil
}

func (p *jparser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	p.lex.prev = &t
	return nil
}

func (p *jparser) isOp(s string) bool { return p.tok.kind == "op" && p.tok.s == s }

func (p *jparser) expect(s string) error {
	if !p.isOp(s) {
		if p.tok.kind == "eof" {
			return fmt.Errorf("expected %q before the end of the expression", s)
		}
		return fmt.Errorf("expected %q at %d, found %q", s, p.tok.pos, p.tok.s)
	}
	return p.advance()
}

var jbp = map[string]int{
	".": 75, "[": 80, "(": 80, "*": 60, "/": 60, "%": 60, "+": 50, "-": 50, "&": 50,
	"=": 40, "!=": 40, "<": 40, "<=": 40, ">": 40, ">=": 40, "in": 40, "~>": 40,
	"and": 30, "or": 25, "?": 20, "..": 20, ":=": 10,
}

func (p *jparser) expr(rbp int) (jnode, error) {
	left, err := p.nud()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == "op" {
		op := p.tok.s
		bp, ok := jbp[op]
		if !ok || bp <= rbp {
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		left, err = p.led(op, left, bp)
		if err != nil {
			return nil, err
		}
	}
	return left, nil
}

func (p *jparser) nud() (jnode, error) {
	t := p.tok
	if t.kind == "eof" {
		return nil, fmt.Errorf("unexpected end of expression")
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	switch t.kind {
	case "num":
		return jNum{t.n}, nil
	case "str":
		return jStr{t.s}, nil
	case "regex":
		re, err := regexp.Compile(t.s)
		if err != nil {
			return nil, fmt.Errorf("bad regular expression: %v", err)
		}
		return jRegex{re}, nil
	case "var":
		return jVar{t.s}, nil
	case "name":
		switch t.s {
		case "true":
			return jLit{true}, nil
		case "false":
			return jLit{false}, nil
		case "null":
			return jLit{nil}, nil
		case "function", "λ":
			return p.lambda()
		}
		return jName{t.s}, nil
	}
	switch t.s {
	case "-":
		x, err := p.expr(70)
		if err != nil {
			return nil, err
		}
		return jNeg{x}, nil
	case "*":
		return jWild{}, nil
	case "(":
		var body []jnode
		for !p.isOp(")") {
			x, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			body = append(body, x)
			if p.isOp(";") {
				if err := p.advance(); err != nil {
					return nil, err
				}
				continue
			}
			if !p.isOp(")") {
				return nil, fmt.Errorf("expected ';' or ')' at %d", p.tok.pos)
			}
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		return jBlock{body}, nil
	case "[":
		var items []jnode
		for !p.isOp("]") {
			x, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			items = append(items, x)
			if p.isOp(",") {
				if err := p.advance(); err != nil {
					return nil, err
				}
				continue
			}
			if !p.isOp("]") {
				return nil, fmt.Errorf("expected ',' or ']' at %d", p.tok.pos)
			}
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		return jArray{items}, nil
	case "{":
		var o jObject
		for !p.isOp("}") {
			k, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if err := p.expect(":"); err != nil {
				return nil, err
			}
			v, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			o.keys = append(o.keys, k)
			o.vals = append(o.vals, v)
			if p.isOp(",") {
				if err := p.advance(); err != nil {
					return nil, err
				}
				continue
			}
			if !p.isOp("}") {
				return nil, fmt.Errorf("expected ',' or '}' at %d", p.tok.pos)
			}
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		return o, nil
	}
	return nil, fmt.Errorf("unexpected %q at %d", t.s, t.pos)
}

func (p *jparser) lambda() (jnode, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var params []string
	for !p.isOp(")") {
		if p.tok.kind != "var" {
			return nil, fmt.Errorf("expected a $parameter at %d", p.tok.pos)
		}
		params = append(params, p.tok.s)
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.isOp(",") {
			if err := p.advance(); err != nil {
				return nil, err
			}
		}
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	body, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if err := p.expect("}"); err != nil {
		return nil, err
	}
	return &jLambda{params: params, body: body}, nil
}

func (p *jparser) led(op string, left jnode, bp int) (jnode, error) {
	switch op {
	case ".":
		right, err := p.expr(bp)
		if err != nil {
			return nil, err
		}
		steps := []jnode{left}
		if lp, ok := left.(jPath); ok {
			steps = append([]jnode(nil), lp.steps...)
		}
		if rp, ok := right.(jPath); ok {
			steps = append(steps, rp.steps...)
		} else {
			steps = append(steps, right)
		}
		return jPath{steps}, nil
	case "[":
		if p.isOp("]") { // a[] keeps the array
			if err := p.advance(); err != nil {
				return nil, err
			}
			return left, nil
		}
		pred, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		if err := p.expect("]"); err != nil {
			return nil, err
		}
		// Attach the predicate to the last path step.
		if lp, ok := left.(jPath); ok {
			steps := append([]jnode(nil), lp.steps...)
			steps[len(steps)-1] = jFilter{steps[len(steps)-1], pred}
			return jPath{steps}, nil
		}
		return jFilter{left, pred}, nil
	case "(":
		var args []jnode
		for !p.isOp(")") {
			a, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			if p.isOp(",") {
				if err := p.advance(); err != nil {
					return nil, err
				}
				continue
			}
			if !p.isOp(")") {
				return nil, fmt.Errorf("expected ',' or ')' at %d", p.tok.pos)
			}
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		return jCall{left, args}, nil
	case "?":
		t, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		var f jnode
		if p.isOp(":") {
			if err := p.advance(); err != nil {
				return nil, err
			}
			f, err = p.expr(0)
			if err != nil {
				return nil, err
			}
		}
		return jCond{left, t, f}, nil
	case ":=":
		v, ok := left.(jVar)
		if !ok || v.name == "" || v.name == "$" {
			return nil, fmt.Errorf("the left side of := must be a $variable")
		}
		x, err := p.expr(bp - 1)
		if err != nil {
			return nil, err
		}
		return jBind{v.name, x}, nil
	}
	right, err := p.expr(bp)
	if err != nil {
		return nil, err
	}
	if op == ".." {
		return jRange{left, right}, nil
	}
	return jBinary{op, left, right}, nil
}

// ---- evaluation ----

type jscope struct {
	vars   map[string]any
	parent *jscope
}

func (s *jscope) lookup(name string) (any, bool) {
	for c := s; c != nil; c = c.parent {
		if v, ok := c.vars[name]; ok {
			return v, true
		}
	}
	return nil, false
}

type jeval struct {
	env   *pathEnv
	root  any
	depth int
}

// evalJSONata evaluates e; defined=false means the result is undefined.
func evalJSONata(e *jexpr, env *pathEnv) (v any, defined bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	input := env.input
	if env.states != nil {
		input = env.states["input"]
	}
	ev := &jeval{env: env, root: input}
	out, err := ev.eval(e.root, input, &jscope{vars: map[string]any{}})
	if err != nil {
		return nil, false, err
	}
	out = collapse(out)
	if isUndef(out) {
		return nil, false, nil
	}
	if _, ok := out.(*jfunc); ok {
		return nil, false, fmt.Errorf("the expression evaluates to a function")
	}
	return toJSONValue(out), true, nil
}

// toJSONValue converts evaluation values (float64, sequences) into
// interpreter values.
func toJSONValue(v any) any {
	switch t := v.(type) {
	case float64:
		return numberValue(t)
	case jseq:
		return toJSONValue(collapse(t))
	case []any:
		out := make([]any, 0, len(t))
		for _, x := range t {
			if isUndef(x) {
				continue
			}
			out = append(out, toJSONValue(x))
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if isUndef(x) {
				continue
			}
			out[k] = toJSONValue(x)
		}
		return out
	}
	return v
}

func collapse(v any) any {
	s, ok := v.(jseq)
	if !ok {
		return v
	}
	switch len(s) {
	case 0:
		return undefined
	case 1:
		return s[0]
	}
	return []any(s)
}

func (ev *jeval) eval(n jnode, ctx any, sc *jscope) (any, error) {
	ev.depth++
	defer func() { ev.depth-- }()
	if ev.depth > 500 {
		return nil, fmt.Errorf("expression nests too deeply")
	}
	switch t := n.(type) {
	case jNum:
		return t.v, nil
	case jStr:
		return t.v, nil
	case jLit:
		return t.v, nil
	case jRegex:
		return t.re, nil
	case jVar:
		return ev.variable(t.name, ctx, sc)
	case jName:
		return ev.step(t, ctx, sc)
	case jWild:
		return ev.step(t, ctx, sc)
	case jPath:
		return ev.path(t, ctx, sc)
	case jFilter:
		return ev.step(t, ctx, sc)
	case jNeg:
		x, err := ev.eval(t.x, ctx, sc)
		if err != nil {
			return nil, err
		}
		x = collapse(x)
		if isUndef(x) {
			return undefined, nil
		}
		f, ok := num(x)
		if !ok {
			return nil, fmt.Errorf("cannot negate a %s", typeName(toJSONValue(x)))
		}
		return -f, nil
	case jBinary:
		return ev.binary(t, ctx, sc)
	case jCond:
		c, err := ev.eval(t.c, ctx, sc)
		if err != nil {
			return nil, err
		}
		if jtruthy(collapse(c)) {
			return ev.eval(t.t, ctx, sc)
		}
		if t.f == nil {
			return undefined, nil
		}
		return ev.eval(t.f, ctx, sc)
	case jBind:
		v, err := ev.eval(t.x, ctx, sc)
		if err != nil {
			return nil, err
		}
		v = collapse(v)
		sc.vars[t.name] = v
		return v, nil
	case jBlock:
		inner := &jscope{vars: map[string]any{}, parent: sc}
		var out any = undefined
		for _, x := range t.body {
			v, err := ev.eval(x, ctx, inner)
			if err != nil {
				return nil, err
			}
			out = v
		}
		return out, nil
	case *jLambda:
		return &jfunc{name: "lambda", lambda: t, scope: sc}, nil
	case jCall:
		return ev.call(t, ctx, sc)
	case jArray:
		out := []any{}
		for _, it := range t.items {
			if r, ok := it.(jRange); ok {
				lo, err := ev.eval(r.lo, ctx, sc)
				if err != nil {
					return nil, err
				}
				hi, err := ev.eval(r.hi, ctx, sc)
				if err != nil {
					return nil, err
				}
				a, ok1 := num(collapse(lo))
				b, ok2 := num(collapse(hi))
				if !ok1 || !ok2 || a != float64(int64(a)) || b != float64(int64(b)) {
					return nil, fmt.Errorf("the bounds of a range must be integers")
				}
				if b-a > 1e6 {
					return nil, fmt.Errorf("the range is too large")
				}
				for x := a; x <= b; x++ {
					out = append(out, x)
				}
				continue
			}
			v, err := ev.eval(it, ctx, sc)
			if err != nil {
				return nil, err
			}
			switch vt := v.(type) {
			case undefinedT:
			case jseq:
				out = append(out, []any(vt)...)
			default:
				out = append(out, v)
			}
		}
		return out, nil
	case jObject:
		out := map[string]any{}
		for i := range t.keys {
			k, err := ev.eval(t.keys[i], ctx, sc)
			if err != nil {
				return nil, err
			}
			ks, ok := collapse(k).(string)
			if !ok {
				return nil, fmt.Errorf("object keys must be strings")
			}
			v, err := ev.eval(t.vals[i], ctx, sc)
			if err != nil {
				return nil, err
			}
			v = collapse(v)
			if !isUndef(v) {
				out[ks] = v
			}
		}
		return out, nil
	case jRange:
		return nil, fmt.Errorf("a range is only allowed inside [ ]")
	}
	return nil, fmt.Errorf("unsupported expression node %T", n)
}

func (ev *jeval) variable(name string, ctx any, sc *jscope) (any, error) {
	switch name {
	case "":
		return ctx, nil
	case "$":
		return ev.root, nil
	}
	if v, ok := sc.lookup(name); ok {
		return v, nil
	}
	if name == "states" && ev.env.states != nil {
		return ev.env.statesObject(), nil
	}
	if ev.env.vars != nil {
		if v, ok := ev.env.vars(name); ok {
			return v, nil
		}
	}
	if f, ok := jbuiltins[name]; ok {
		return &jfunc{name: name, builtin: f}, nil
	}
	return undefined, nil
}

// path evaluates a.b.c with JSONata's mapping over sequences: each step
// maps over the items of the previous one and flattens, except that a
// step yielding exactly one array keeps it as an array.
func (ev *jeval) path(p jPath, ctx any, sc *jscope) (any, error) {
	cur, err := ev.eval(p.steps[0], ctx, sc)
	if err != nil {
		return nil, err
	}
	if _, isArr := cur.([]any); !isArr {
		cur = toSeq(cur)
	}
	for _, st := range p.steps[1:] {
		var res []any
		for _, item := range toSeq(cur) {
			v, err := ev.eval(st, item, sc)
			if err != nil {
				return nil, err
			}
			switch vt := v.(type) {
			case undefinedT:
			case jseq:
				if len(vt) > 0 {
					res = append(res, vt)
				}
			default:
				res = append(res, v)
			}
		}
		if len(res) == 1 {
			if a, ok := res[0].([]any); ok {
				cur = a
				continue
			}
		}
		var next jseq
		for _, r := range res {
			switch rt := r.(type) {
			case jseq:
				next = append(next, rt...)
			case []any:
				if _, isCons := st.(jArray); isCons {
					next = append(next, rt)
				} else {
					next = append(next, rt...)
				}
			default:
				next = append(next, r)
			}
		}
		cur = next
	}
	return cur, nil
}

// toSeq turns a value into the sequence a path step maps over.
func toSeq(v any) jseq {
	switch t := v.(type) {
	case undefinedT:
		return nil
	case jseq:
		return t
	case []any:
		return jseq(t)
	}
	return jseq{v}
}

// step evaluates a name, wildcard or filter against one context item.
func (ev *jeval) step(n jnode, ctx any, sc *jscope) (any, error) {
	switch t := n.(type) {
	case jName:
		switch c := ctx.(type) {
		case map[string]any:
			if v, ok := c[t.name]; ok {
				return v, nil
			}
			return undefined, nil
		case []any:
			var out jseq
			for _, x := range c {
				v, err := ev.step(n, x, sc)
				if err != nil {
					return nil, err
				}
				out = append(out, toSeq(v)...)
			}
			return out, nil
		case jseq:
			return ev.step(n, []any(c), sc)
		}
		return undefined, nil
	case jWild:
		switch c := ctx.(type) {
		case map[string]any:
			var out jseq
			for _, k := range sortedKeys(c) {
				out = append(out, toSeq(c[k])...)
			}
			return out, nil
		case []any:
			return jseq(c), nil
		}
		return undefined, nil
	case jFilter:
		base, err := ev.eval(t.expr, ctx, sc)
		if err != nil {
			return nil, err
		}
		items := toSeq(base)
		// A numeric predicate indexes.
		if lit, ok := t.pred.(jNum); ok {
			return indexSeq(items, lit.v), nil
		}
		var out jseq
		for i, item := range items {
			pv, err := ev.eval(t.pred, item, sc)
			if err != nil {
				return nil, err
			}
			pv = collapse(pv)
			if f, ok := num(pv); ok {
				idx := int(f)
				if idx < 0 {
					idx += len(items)
				}
				if idx == i {
					out = append(out, item)
				}
				continue
			}
			if jtruthy(pv) {
				out = append(out, item)
			}
		}
		return out, nil
	}
	return ev.eval(n, ctx, sc)
}

func indexSeq(items jseq, f float64) any {
	i := int(f)
	if i < 0 {
		i += len(items)
	}
	if i < 0 || i >= len(items) {
		return undefined
	}
	return items[i]
}

func num(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case bool:
		return 0, false
	}
	if isNumber(v) {
		return toFloat(v)
	}
	return 0, false
}

// jtruthy is JSONata's boolean cast.
func jtruthy(v any) bool {
	switch t := v.(type) {
	case undefinedT, nil:
		return false
	case bool:
		return t
	case string:
		return t != ""
	case []any:
		for _, x := range t {
			if jtruthy(x) {
				return true
			}
		}
		return false
	case jseq:
		return jtruthy([]any(t))
	case map[string]any:
		return len(t) > 0
	case *jfunc:
		return false
	}
	if f, ok := num(v); ok {
		return f != 0
	}
	return true
}

func (ev *jeval) binary(b jBinary, ctx any, sc *jscope) (any, error) {
	if b.op == "~>" {
		l, err := ev.eval(b.l, ctx, sc)
		if err != nil {
			return nil, err
		}
		if c, ok := b.r.(jCall); ok {
			fn, err := ev.eval(c.fn, ctx, sc)
			if err != nil {
				return nil, err
			}
			args := []any{collapse(l)}
			for _, a := range c.args {
				v, err := ev.eval(a, ctx, sc)
				if err != nil {
					return nil, err
				}
				args = append(args, collapse(v))
			}
			return ev.apply(fn, args)
		}
		fn, err := ev.eval(b.r, ctx, sc)
		if err != nil {
			return nil, err
		}
		return ev.apply(fn, []any{collapse(l)})
	}
	l, err := ev.eval(b.l, ctx, sc)
	if err != nil {
		return nil, err
	}
	l = collapse(l)
	switch b.op {
	case "and":
		if !jtruthy(l) {
			return false, nil
		}
		r, err := ev.eval(b.r, ctx, sc)
		if err != nil {
			return nil, err
		}
		return jtruthy(collapse(r)), nil
	case "or":
		if jtruthy(l) {
			return true, nil
		}
		r, err := ev.eval(b.r, ctx, sc)
		if err != nil {
			return nil, err
		}
		return jtruthy(collapse(r)), nil
	}
	r, err := ev.eval(b.r, ctx, sc)
	if err != nil {
		return nil, err
	}
	r = collapse(r)
	switch b.op {
	case "&":
		ls, err := jstring(l)
		if err != nil {
			return nil, err
		}
		rs, err := jstring(r)
		if err != nil {
			return nil, err
		}
		return ls + rs, nil
	case "=", "!=":
		if isUndef(l) || isUndef(r) {
			return false, nil
		}
		eq := jsonEqual(toJSONValue(l), toJSONValue(r))
		if b.op == "=" {
			return eq, nil
		}
		return !eq, nil
	case "in":
		if isUndef(l) || isUndef(r) {
			return false, nil
		}
		for _, x := range toSeq(r) {
			if jsonEqual(toJSONValue(l), toJSONValue(x)) {
				return true, nil
			}
		}
		return false, nil
	case "<", "<=", ">", ">=":
		if isUndef(l) || isUndef(r) {
			return undefined, nil
		}
		var c int
		lf, ok1 := num(l)
		rf, ok2 := num(r)
		ls, ok3 := l.(string)
		rs, ok4 := r.(string)
		switch {
		case ok1 && ok2:
			switch {
			case lf < rf:
				c = -1
			case lf > rf:
				c = 1
			}
		case ok3 && ok4:
			c = strings.Compare(ls, rs)
		default:
			return nil, fmt.Errorf("cannot compare %s with %s", typeName(toJSONValue(l)), typeName(toJSONValue(r)))
		}
		switch b.op {
		case "<":
			return c < 0, nil
		case "<=":
			return c <= 0, nil
		case ">":
			return c > 0, nil
		}
		return c >= 0, nil
	case "+", "-", "*", "/", "%":
		if isUndef(l) || isUndef(r) {
			return undefined, nil
		}
		lf, ok1 := num(l)
		rf, ok2 := num(r)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("the operands of %s must be numbers, got %s and %s", b.op, typeName(toJSONValue(l)), typeName(toJSONValue(r)))
		}
		switch b.op {
		case "+":
			return lf + rf, nil
		case "-":
			return lf - rf, nil
		case "*":
			return lf * rf, nil
		case "/":
			if rf == 0 {
				return nil, fmt.Errorf("division by zero")
			}
			return lf / rf, nil
		}
		if rf == 0 {
			return nil, fmt.Errorf("division by zero")
		}
		m := lf - rf*float64(int64(lf/rf))
		return m, nil
	}
	return nil, fmt.Errorf("unsupported operator %q", b.op)
}

func (ev *jeval) call(c jCall, ctx any, sc *jscope) (any, error) {
	fn, err := ev.eval(c.fn, ctx, sc)
	if err != nil {
		return nil, err
	}
	args := make([]any, len(c.args))
	for i, a := range c.args {
		v, err := ev.eval(a, ctx, sc)
		if err != nil {
			return nil, err
		}
		args[i] = collapse(v)
	}
	if f, ok := fn.(*jfunc); ok && f.builtin != nil && len(args) == 0 && contextDefaulted[f.name] && !isUndef(ctx) {
		args = []any{ctx}
	}
	return ev.apply(fn, args)
}

// contextDefaulted functions take the context item when called with no
// arguments, as in JSONata.
var contextDefaulted = map[string]bool{"string": true, "number": true, "boolean": true, "length": true, "uppercase": true, "lowercase": true, "trim": true, "keys": true, "exists": false}

func (ev *jeval) apply(fn any, args []any) (any, error) {
	f, ok := fn.(*jfunc)
	if !ok {
		return nil, fmt.Errorf("attempted to call something that is not a function")
	}
	if f.builtin != nil {
		out, err := f.builtin(ev, args)
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", f.name, err)
		}
		return out, nil
	}
	sc := &jscope{vars: map[string]any{}, parent: f.scope}
	for i, p := range f.lambda.params {
		if i < len(args) {
			sc.vars[p] = args[i]
		} else {
			sc.vars[p] = undefined
		}
	}
	return ev.eval(f.lambda.body, ev.root, sc)
}
