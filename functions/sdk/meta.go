package sdk

import (
	"errors"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// parseMeta fills e's metadata from the JSON object the meta_json import
// returns (docs/abi.md, "Metadata JSON"). Unknown fields, and known fields
// of an unexpected type, are skipped. It is a hand-written reader, not
// encoding/json, to keep encoding/json out of functions that do not use it.
// On a syntax error, e keeps what was read before it.
func parseMeta(b []byte, e *Event) error {
	r := jsonReader{b: b}
	r.object(func(key []byte) {
		switch string(key) {
		case "method":
			e.Method = r.optString()
		case "path":
			e.Path = r.optString()
		case "query":
			e.Query = r.optString()
		case "headers":
			r.headers(e)
		case "event":
			r.event(e)
		case "function":
			e.Function = r.optString()
		case "version":
			e.Version = r.optInt()
		case "invocation_id":
			e.InvocationID = r.optString()
		default:
			r.skip(0)
		}
	})
	r.ws()
	if r.err == nil && r.i != len(r.b) {
		r.fail("trailing data")
	}
	return r.err
}

func (r *jsonReader) headers(e *Event) {
	if r.peek() != '{' {
		r.skip(0)
		return
	}
	r.object(func(key []byte) {
		switch r.peek() {
		case '[':
			var vals []string
			r.array(func() {
				if r.peek() == '"' {
					vals = append(vals, r.str())
				} else {
					r.skip(1)
				}
			})
			if r.err == nil {
				if e.Header == nil {
					e.Header = make(Header)
				}
				k := lowerKey(string(key))
				e.Header[k] = append(e.Header[k], vals...)
			}
		case '"':
			v := r.str()
			if r.err == nil {
				if e.Header == nil {
					e.Header = make(Header)
				}
				e.Header.Add(string(key), v)
			}
		default:
			r.skip(1)
		}
	})
}

func (r *jsonReader) event(e *Event) {
	if r.peek() != '{' {
		r.skip(0)
		return
	}
	r.object(func(key []byte) {
		switch string(key) {
		case "id":
			e.ID = r.optString()
		case "source":
			e.Source = r.optString()
		case "type":
			e.Type = r.optString()
		case "subject":
			e.Subject = r.optString()
		case "time":
			if s := r.optString(); s != "" {
				if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
					e.Time = t
				}
			}
		default:
			r.skip(1)
		}
	})
}

// jsonReader reads JSON from b. The first error sticks in err and makes
// every later read a no-op.
type jsonReader struct {
	b   []byte
	i   int
	err error
}

// maxNesting bounds the depth skip recurses to.
const maxNesting = 64

var errSyntax = errors.New("sdk: invalid metadata JSON")

func (r *jsonReader) fail(why string) {
	if r.err == nil {
		r.err = errors.New(errSyntax.Error() + " at offset " + strconv.Itoa(r.i) + ": " + why)
	}
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, or 0 at the end or
// after an error.
func (r *jsonReader) peek() byte {
	if r.err != nil {
		return 0
	}
	r.ws()
	if r.i >= len(r.b) {
		return 0
	}
	return r.b[r.i]
}

func (r *jsonReader) expect(c byte) bool {
	if r.peek() != c {
		r.fail("expected " + strconv.QuoteRune(rune(c)))
		return false
	}
	r.i++
	return true
}

// object reads an object, calling member with each key; member must read
// the value. key is only valid during the call.
func (r *jsonReader) object(member func(key []byte)) {
	if !r.expect('{') {
		return
	}
	if r.peek() == '}' {
		r.i++
		return
	}
	for r.err == nil {
		if r.peek() != '"' {
			r.fail("expected a key")
			return
		}
		key := r.strBytes()
		if !r.expect(':') {
			return
		}
		member(key)
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return
		default:
			r.fail("expected ',' or '}'")
		}
	}
}

// array reads an array, calling elem for each element; elem must read it.
func (r *jsonReader) array(elem func()) {
	if !r.expect('[') {
		return
	}
	if r.peek() == ']' {
		r.i++
		return
	}
	for r.err == nil {
		elem()
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return
		default:
			r.fail("expected ',' or ']'")
		}
	}
}

// optString reads a string, or skips a value of another type and
// returns "".
func (r *jsonReader) optString() string {
	if r.peek() == '"' {
		return r.str()
	}
	r.skip(1)
	return ""
}

// optInt reads a number as an int, or skips a value of another type and
// returns 0.
func (r *jsonReader) optInt() int {
	c := r.peek()
	if c != '-' && (c < '0' || c > '9') {
		r.skip(1)
		return 0
	}
	tok := r.number()
	if n, err := strconv.ParseInt(tok, 10, 0); err == nil {
		return int(n)
	}
	if f, err := strconv.ParseFloat(tok, 64); err == nil {
		return int(f)
	}
	return 0
}

// number reads a number token.
func (r *jsonReader) number() string {
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	digits := func() int {
		n := 0
		for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
			r.i++
			n++
		}
		return n
	}
	if r.i < len(r.b) && r.b[r.i] == '0' {
		r.i++
	} else if digits() == 0 {
		r.fail("invalid number")
		return ""
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if digits() == 0 {
			r.fail("invalid number")
			return ""
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if digits() == 0 {
			r.fail("invalid number")
			return ""
		}
	}
	return string(r.b[start:r.i])
}

// skip reads and discards one value.
func (r *jsonReader) skip(depth int) {
	if depth > maxNesting {
		r.fail("nested too deeply")
		return
	}
	switch c := r.peek(); {
	case r.err != nil:
	case c == '"':
		r.str()
	case c == '{':
		r.object(func([]byte) { r.skip(depth + 1) })
	case c == '[':
		r.array(func() { r.skip(depth + 1) })
	case c == '-' || '0' <= c && c <= '9':
		r.number()
	case c == 't':
		r.literal("true")
	case c == 'f':
		r.literal("false")
	case c == 'n':
		r.literal("null")
	default:
		r.fail("expected a value")
	}
}

func (r *jsonReader) literal(s string) {
	if len(r.b)-r.i < len(s) || string(r.b[r.i:r.i+len(s)]) != s {
		r.fail("expected " + s)
		return
	}
	r.i += len(s)
}

// str reads a string; the reader is at its opening quote. Escapes and
// invalid UTF-8 are decoded as encoding/json decodes them.
func (r *jsonReader) str() string {
	return string(r.strBytes())
}

// strBytes is str without the copy when the string needs no decoding: the
// result may alias the input.
func (r *jsonReader) strBytes() []byte {
	r.i++ // the opening quote
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			s := r.b[start:r.i]
			r.i++
			return s
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return r.strSlow(start)
		}
		r.i++
	}
	r.fail("unterminated string")
	return nil
}

func (r *jsonReader) strSlow(start int) []byte {
	out := make([]byte, 0, r.i-start+16)
	out = append(out, r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return out
		case c < 0x20:
			r.fail("control character in string")
			return nil
		case c >= utf8.RuneSelf:
			ru, size := utf8.DecodeRune(r.b[r.i:])
			r.i += size
			out = utf8.AppendRune(out, ru) // RuneError for invalid bytes
		case c != '\\':
			out = append(out, c)
			r.i++
		default:
			r.i++
			if r.i >= len(r.b) {
				r.fail("unterminated string")
				return nil
			}
			e := r.b[r.i]
			r.i++
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				ru := r.hex4()
				if r.err != nil {
					return nil
				}
				if utf16.IsSurrogate(ru) {
					// A high surrogate followed by \u and a low one
					// makes one rune; anything else is U+FFFD.
					if r.i+1 < len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
						save := r.i
						r.i += 2
						lo := r.hex4()
						if r.err != nil {
							return nil
						}
						if dec := utf16.DecodeRune(ru, lo); dec != utf8.RuneError {
							ru = dec
						} else {
							r.i = save
							ru = utf8.RuneError
						}
					} else {
						ru = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, ru)
			default:
				r.fail("invalid escape")
				return nil
			}
		}
	}
	r.fail("unterminated string")
	return nil
}

func (r *jsonReader) hex4() rune {
	if len(r.b)-r.i < 4 {
		r.fail("invalid \\u escape")
		return 0
	}
	var v rune
	for _, c := range r.b[r.i : r.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			r.fail("invalid \\u escape")
			return 0
		}
		v = v<<4 | rune(c)
	}
	r.i += 4
	return v
}
