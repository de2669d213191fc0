package asl

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"math"
	"math/big"
	mrand "math/rand/v2"
	"strconv"
	"strings"
)

// Intrinsic functions: States.Format(...) and friends, used as the value of
// a ".$" field in JSONPath states.

type argKind int

const (
	argLiteral argKind = iota
	argPath
	argCall
)

type intrinsicArg struct {
	kind argKind
	lit  any    // literal value (strings unescaped)
	raw  string // string literal as written, escapes kept (for Format)
	path *jsonPath
	call *intrinsicCall
}

type intrinsicCall struct {
	name string // "States.Format"
	args []intrinsicArg
	src  string
}

// intrinsicArity gives the accepted argument counts: min, max (-1 = any).
var intrinsicArity = map[string][2]int{
	"States.Format":         {1, -1},
	"States.StringToJson":   {1, 1},
	"States.JsonToString":   {1, 1},
	"States.Array":          {0, -1},
	"States.ArrayPartition": {2, 2},
	"States.ArrayContains":  {2, 2},
	"States.ArrayRange":     {3, 3},
	"States.ArrayGetItem":   {2, 2},
	"States.ArrayLength":    {1, 1},
	"States.ArrayUnique":    {1, 1},
	"States.Base64Encode":   {1, 1},
	"States.Base64Decode":   {1, 1},
	"States.Hash":           {2, 2},
	"States.JsonMerge":      {3, 3},
	"States.MathRandom":     {2, 3},
	"States.MathAdd":        {2, 2},
	"States.StringSplit":    {2, 2},
	"States.UUID":           {0, 0},
}

// isIntrinsic reports whether s looks like an intrinsic function call.
func isIntrinsic(s string) bool {
	return strings.HasPrefix(strings.TrimSpace(s), "States.")
}

type intrinsicParser struct {
	s string
	i int
}

// parseIntrinsic parses a complete intrinsic function call.
func parseIntrinsic(s string) (*intrinsicCall, error) {
	p := &intrinsicParser{s: s}
	p.space()
	c, err := p.call()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(s) {
		return nil, fmt.Errorf("invalid intrinsic function %q: unexpected %q after the call", s, s[p.i:])
	}
	return c, nil
}

func (p *intrinsicParser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid intrinsic function %q: %s", p.s, fmt.Sprintf(format, args...))
}

func (p *intrinsicParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *intrinsicParser) call() (*intrinsicCall, error) {
	start := p.i
	j := p.i
	for j < len(p.s) && (isVarChar(p.s[j]) || p.s[j] == '.') {
		j++
	}
	name := p.s[p.i:j]
	if _, ok := intrinsicArity[name]; !ok {
		return nil, p.errorf("unknown function %q", name)
	}
	p.i = j
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != '(' {
		return nil, p.errorf("expected '(' after %s", name)
	}
	p.i++
	c := &intrinsicCall{name: name}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ')' {
		p.i++
	} else {
		for {
			p.space()
			a, err := p.arg()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			p.space()
			if p.i >= len(p.s) {
				return nil, p.errorf("missing ')'")
			}
			if p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.s[p.i] == ')' {
				p.i++
				break
			}
			return nil, p.errorf("unexpected %q in arguments", string(p.s[p.i]))
		}
	}
	ar := intrinsicArity[name]
	if len(c.args) < ar[0] || (ar[1] >= 0 && len(c.args) > ar[1]) {
		want := strconv.Itoa(ar[0])
		if ar[1] < 0 {
			want = "at least " + want
		} else if ar[1] != ar[0] {
			want = fmt.Sprintf("%d to %d", ar[0], ar[1])
		}
		return nil, p.errorf("%s takes %s arguments, got %d", name, want, len(c.args))
	}
	c.src = p.s[start:p.i]
	return c, nil
}

func (p *intrinsicParser) arg() (intrinsicArg, error) {
	if p.i >= len(p.s) {
		return intrinsicArg{}, p.errorf("missing argument")
	}
	c := p.s[p.i]
	switch {
	case c == '\'':
		p.i++
		var raw, lit strings.Builder
		for {
			if p.i >= len(p.s) {
				return intrinsicArg{}, p.errorf("unterminated string literal")
			}
			ch := p.s[p.i]
			if ch == '\\' {
				if p.i+1 >= len(p.s) {
					return intrinsicArg{}, p.errorf("unterminated escape")
				}
				nx := p.s[p.i+1]
				raw.WriteByte('\\')
				raw.WriteByte(nx)
				lit.WriteByte(nx)
				p.i += 2
				continue
			}
			if ch == '\'' {
				p.i++
				break
			}
			raw.WriteByte(ch)
			lit.WriteByte(ch)
			p.i++
		}
		return intrinsicArg{kind: argLiteral, lit: lit.String(), raw: raw.String()}, nil
	case c == '$':
		// A path runs to the next top-level ',' or ')'.
		j := p.i
		depth := 0
		var quote byte
		for j < len(p.s) {
			ch := p.s[j]
			if quote != 0 {
				if ch == '\\' {
					j += 2
					continue
				}
				if ch == quote {
					quote = 0
				}
				j++
				continue
			}
			if ch == '\'' || ch == '"' {
				quote = ch
			} else if ch == '[' || ch == '(' {
				depth++
			} else if ch == ']' || (ch == ')' && depth > 0) {
				depth--
			} else if depth == 0 && (ch == ',' || ch == ')') {
				break
			}
			j++
		}
		src := strings.TrimSpace(p.s[p.i:j])
		jp, err := parsePath(src)
		if err != nil {
			return intrinsicArg{}, err
		}
		p.i = j
		return intrinsicArg{kind: argPath, path: jp}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		j := p.i + 1
		for j < len(p.s) && (p.s[j] == '.' || p.s[j] == 'e' || p.s[j] == 'E' || p.s[j] == '+' || p.s[j] == '-' || (p.s[j] >= '0' && p.s[j] <= '9')) {
			j++
		}
		tok := p.s[p.i:j]
		if _, err := strconv.ParseFloat(tok, 64); err != nil {
			return intrinsicArg{}, p.errorf("bad number %q", tok)
		}
		p.i = j
		return intrinsicArg{kind: argLiteral, lit: json.Number(tok)}, nil
	case strings.HasPrefix(p.s[p.i:], "States."):
		sub, err := p.call()
		if err != nil {
			return intrinsicArg{}, err
		}
		return intrinsicArg{kind: argCall, call: sub}, nil
	}
	for _, kw := range []struct {
		s string
		v any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if strings.HasPrefix(p.s[p.i:], kw.s) {
			end := p.i + len(kw.s)
			if end == len(p.s) || !isVarChar(p.s[end]) {
				p.i = end
				return intrinsicArg{kind: argLiteral, lit: kw.v}, nil
			}
		}
	}
	return intrinsicArg{}, p.errorf("unexpected %q at offset %d", string(c), p.i)
}

func intrinsicErr(name, format string, args ...any) *stateError {
	return &stateError{name: ErrorIntrinsicFailure, cause: fmt.Sprintf("Function %s: %s", name, fmt.Sprintf(format, args...))}
}

// evalIntrinsic evaluates a parsed call.
func evalIntrinsic(c *intrinsicCall, env *pathEnv) (any, *stateError) {
	args := make([]any, len(c.args))
	for i, a := range c.args {
		switch a.kind {
		case argLiteral:
			args[i] = a.lit
		case argPath:
			v, err := evalPath(a.path, env)
			if err != nil {
				return nil, runtimeErr("The JSONPath '%s' specified as an argument of %s could not be found: %s", a.path.src, c.name, err.Error())
			}
			args[i] = v
		case argCall:
			v, serr := evalIntrinsic(a.call, env)
			if serr != nil {
				return nil, serr
			}
			args[i] = v
		}
	}
	return callIntrinsic(c, args)
}

func argString(fn string, args []any, i int) (string, *stateError) {
	s, ok := args[i].(string)
	if !ok {
		return "", intrinsicErr(fn, "argument %d must be a string, got %s", i+1, typeName(args[i]))
	}
	return s, nil
}

func argArray(fn string, args []any, i int) ([]any, *stateError) {
	a, ok := args[i].([]any)
	if !ok {
		return nil, intrinsicErr(fn, "argument %d must be an array, got %s", i+1, typeName(args[i]))
	}
	return a, nil
}

func argInt(fn string, args []any, i int) (int64, *stateError) {
	n, ok := toInt(args[i])
	if !ok {
		return 0, intrinsicErr(fn, "argument %d must be an integer, got %s", i+1, encodeJSON(args[i]))
	}
	return n, nil
}

// javaRound rounds half up, as Java's Math.round does.
func javaRound(f float64) int64 { return int64(math.Floor(f + 0.5)) }

func formatArg(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(t)
	case json.Number:
		return string(t)
	}
	return encodeJSON(v)
}

func callIntrinsic(c *intrinsicCall, args []any) (any, *stateError) {
	fn := c.name
	switch fn {
	case "States.Format":
		tmpl, serr := argString(fn, args, 0)
		if serr != nil {
			return nil, serr
		}
		escapes := c.args[0].kind == argLiteral
		if escapes {
			tmpl = c.args[0].raw
		}
		var b strings.Builder
		n := 1
		for i := 0; i < len(tmpl); i++ {
			ch := tmpl[i]
			if escapes && ch == '\\' && i+1 < len(tmpl) {
				b.WriteByte(tmpl[i+1])
				i++
				continue
			}
			if ch == '{' && i+1 < len(tmpl) && tmpl[i+1] == '}' {
				if n >= len(args) {
					return nil, intrinsicErr(fn, "the template has more placeholders than arguments")
				}
				b.WriteString(formatArg(args[n]))
				n++
				i++
				continue
			}
			b.WriteByte(ch)
		}
		if n != len(args) {
			return nil, intrinsicErr(fn, "the template has %d placeholders but %d arguments were given", n-1, len(args)-1)
		}
		return b.String(), nil
	case "States.StringToJson":
		s, serr := argString(fn, args, 0)
		if serr != nil {
			return nil, serr
		}
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		v, err := decodeJSON([]byte(s))
		if err != nil {
			return nil, intrinsicErr(fn, "the argument is not valid JSON: %v", err)
		}
		return v, nil
	case "States.JsonToString":
		return encodeJSON(args[0]), nil
	case "States.Array":
		out := make([]any, len(args))
		copy(out, args)
		return out, nil
	case "States.ArrayPartition":
		a, serr := argArray(fn, args, 0)
		if serr != nil {
			return nil, serr
		}
		size, serr := argInt(fn, args, 1)
		if serr != nil {
			return nil, serr
		}
		if size <= 0 {
			return nil, intrinsicErr(fn, "the chunk size must be a positive integer, got %d", size)
		}
		out := []any{}
		for i := 0; i < len(a); i += int(size) {
			end := min(i+int(size), len(a))
			out = append(out, append([]any{}, a[i:end]...))
		}
		return out, nil
	case "States.ArrayContains":
		a, serr := argArray(fn, args, 0)
		if serr != nil {
			return nil, serr
		}
		for _, x := range a {
			if jsonEqual(x, args[1]) {
				return true, nil
			}
		}
		return false, nil
	case "States.ArrayRange":
		var n [3]int64
		for i := range 3 {
			v, serr := argInt(fn, args, i)
			if serr != nil {
				return nil, serr
			}
			n[i] = v
		}
		if n[2] == 0 {
			return nil, intrinsicErr(fn, "the step must not be 0")
		}
		out := []any{}
		for x := n[0]; (n[2] > 0 && x <= n[1]) || (n[2] < 0 && x >= n[1]); x += n[2] {
			out = append(out, intValue(x))
			if len(out) > 1000 {
				return nil, intrinsicErr(fn, "the range has more than 1000 items")
			}
		}
		return out, nil
	case "States.ArrayGetItem":
		a, serr := argArray(fn, args, 0)
		if serr != nil {
			return nil, serr
		}
		i, serr := argInt(fn, args, 1)
		if serr != nil {
			return nil, serr
		}
		if i < 0 || i >= int64(len(a)) {
			return nil, intrinsicErr(fn, "index %d is out of bounds for an array of length %d", i, len(a))
		}
		return a[i], nil
	case "States.ArrayLength":
		a, serr := argArray(fn, args, 0)
		if serr != nil {
			return nil, serr
		}
		return intValue(int64(len(a))), nil
	case "States.ArrayUnique":
		a, serr := argArray(fn, args, 0)
		if serr != nil {
			return nil, serr
		}
		out := []any{}
	next:
		for _, x := range a {
			for _, y := range out {
				if jsonEqual(x, y) {
					continue next
				}
			}
			out = append(out, x)
		}
		return out, nil
	case "States.Base64Encode":
		s, serr := argString(fn, args, 0)
		if serr != nil {
			return nil, serr
		}
		if len(s) > 10000 {
			return nil, intrinsicErr(fn, "the input is longer than 10000 characters")
		}
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	case "States.Base64Decode":
		s, serr := argString(fn, args, 0)
		if serr != nil {
			return nil, serr
		}
		if len(s) > 10000 {
			return nil, intrinsicErr(fn, "the input is longer than 10000 characters")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, intrinsicErr(fn, "the input is not valid base64: %v", err)
		}
		return string(b), nil
	case "States.Hash":
		data := formatArg(args[0])
		if args[0] == nil {
			return nil, intrinsicErr(fn, "the data to hash must not be null")
		}
		alg, serr := argString(fn, args, 1)
		if serr != nil {
			return nil, serr
		}
		var h hash.Hash
		switch alg {
		case "MD5":
			h = md5.New()
		case "SHA-1":
			h = sha1.New()
		case "SHA-256":
			h = sha256.New()
		case "SHA-384":
			h = sha512.New384()
		case "SHA-512":
			h = sha512.New()
		default:
			return nil, intrinsicErr(fn, "unsupported algorithm %q; use MD5, SHA-1, SHA-256, SHA-384 or SHA-512", alg)
		}
		if len(data) > 10000 {
			return nil, intrinsicErr(fn, "the input is longer than 10000 characters")
		}
		h.Write([]byte(data))
		return hex.EncodeToString(h.Sum(nil)), nil
	case "States.JsonMerge":
		a, ok1 := args[0].(map[string]any)
		b, ok2 := args[1].(map[string]any)
		if !ok1 || !ok2 {
			return nil, intrinsicErr(fn, "both values to merge must be objects, got %s and %s", typeName(args[0]), typeName(args[1]))
		}
		deep, ok := args[2].(bool)
		if !ok {
			return nil, intrinsicErr(fn, "the third argument must be a boolean")
		}
		if deep {
			return nil, intrinsicErr(fn, "deep merging is not supported; the third argument must be false")
		}
		out := make(map[string]any, len(a)+len(b))
		for k, v := range a {
			out[k] = deepCopy(v)
		}
		for k, v := range b {
			out[k] = deepCopy(v)
		}
		return out, nil
	case "States.MathRandom":
		lo, serr := argInt(fn, args, 0)
		if serr != nil {
			return nil, serr
		}
		hi, serr := argInt(fn, args, 1)
		if serr != nil {
			return nil, serr
		}
		if hi <= lo {
			return nil, intrinsicErr(fn, "the end (%d) must be greater than the start (%d)", hi, lo)
		}
		var r *mrand.Rand
		if len(args) == 3 {
			seed, serr := argInt(fn, args, 2)
			if serr != nil {
				return nil, serr
			}
			r = mrand.New(mrand.NewPCG(uint64(seed), uint64(seed)))
		} else {
			r = mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64()))
		}
		return intValue(lo + r.Int64N(hi-lo)), nil
	case "States.MathAdd":
		var sum int64
		for i := range 2 {
			f, ok := toFloat(args[i])
			if !ok {
				return nil, intrinsicErr(fn, "argument %d must be a number, got %s", i+1, typeName(args[i]))
			}
			sum += javaRound(f)
		}
		return intValue(sum), nil
	case "States.StringSplit":
		s, serr := argString(fn, args, 0)
		if serr != nil {
			return nil, serr
		}
		d, serr := argString(fn, args, 1)
		if serr != nil {
			return nil, serr
		}
		parts := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(d, r) })
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, nil
	case "States.UUID":
		return newUUID(), nil
	}
	return nil, intrinsicErr(fn, "unknown function")
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		n := new(big.Int).SetUint64(mrand.Uint64())
		copy(b[:], n.Bytes())
	}
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
