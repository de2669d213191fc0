package asl

import (
	"encoding/json"
	"reflect"
	"unicode/utf8"
)

// A step passes one value through several places that need its encoding
// (a state's exit, the next state's entry, its task call, the execution's
// Input): rawMemo remembers the encoding of the last few composite values
// (by identity: the interpreter never mutates a value in place, see
// deepCopy) so that each is encoded once, and a decoded input that is
// already in the form valueToRaw writes is not re-encoded at all.
type rawMemo struct {
	v [4]any
	r [4]json.RawMessage
	n int
}

// identity is the address of a map or non-empty slice value (nil: none).
func identity(v any) uintptr {
	switch t := v.(type) {
	case map[string]any:
		if t != nil {
			return reflect.ValueOf(t).Pointer()
		}
	case []any:
		if len(t) > 0 {
			return reflect.ValueOf(t).Pointer()
		}
	}
	return 0
}

func sameValue(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		return ok && identity(x) == identity(y)
	case []any:
		y, ok := b.([]any)
		return ok && len(x) == len(y) && identity(x) == identity(y)
	}
	return false
}

func (m *rawMemo) put(v any, r json.RawMessage) {
	m.v[m.n%len(m.v)], m.r[m.n%len(m.r)] = v, r
	m.n++
}

// toRaw is valueToRaw, remembered.
func (m *rawMemo) toRaw(v any) json.RawMessage {
	if identity(v) == 0 {
		return valueToRaw(v)
	}
	for i := range m.v {
		if m.v[i] != nil && sameValue(m.v[i], v) {
			return m.r[i]
		}
	}
	r := valueToRaw(v)
	m.put(v, r)
	return r
}

// toValue is rawToValue; when raw is already what valueToRaw would write
// for the result, it is remembered as its encoding.
func (m *rawMemo) toValue(raw json.RawMessage) any {
	v := rawToValue(raw)
	if identity(v) != 0 && canonicalJSON(raw) {
		m.put(v, raw)
	}
	return v
}

// canonicalJSON reports whether data is exactly what valueToRaw writes
// for its decoding: compact, object keys strictly increasing, strings
// without escapes or characters the encoder would escape. False is always
// safe (the value is just encoded again).
func canonicalJSON(data []byte) bool {
	n, ok := canonValue(data, 0, 0)
	return ok && n == len(data)
}

const canonMaxDepth = 256

func canonValue(d []byte, i, depth int) (int, bool) {
	if i >= len(d) || depth > canonMaxDepth {
		return i, false
	}
	switch c := d[i]; {
	case c == '{':
		i++
		if i < len(d) && d[i] == '}' {
			return i + 1, true
		}
		var prev []byte
		for first := true; ; first = false {
			start := i
			j, ok := canonString(d, i)
			if !ok {
				return i, false
			}
			key := d[start+1 : j-1]
			if !first && string(key) <= string(prev) {
				return i, false
			}
			prev = key
			if j >= len(d) || d[j] != ':' {
				return j, false
			}
			if i, ok = canonValue(d, j+1, depth+1); !ok {
				return i, false
			}
			if i >= len(d) {
				return i, false
			}
			switch d[i] {
			case ',':
				i++
			case '}':
				return i + 1, true
			default:
				return i, false
			}
		}
	case c == '[':
		i++
		if i < len(d) && d[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = canonValue(d, i, depth+1); !ok || i >= len(d) {
				return i, false
			}
			switch d[i] {
			case ',':
				i++
			case ']':
				return i + 1, true
			default:
				return i, false
			}
		}
	case c == '"':
		return canonString(d, i)
	case c == 't':
		return canonLit(d, i, "true")
	case c == 'f':
		return canonLit(d, i, "false")
	case c == 'n':
		return canonLit(d, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return canonNumber(d, i)
	}
	return i, false
}

func canonLit(d []byte, i int, lit string) (int, bool) {
	if len(d)-i >= len(lit) && string(d[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return i, false
}

// canonString scans a string at d[i] with nothing the encoder escapes.
func canonString(d []byte, i int) (int, bool) {
	if i >= len(d) || d[i] != '"' {
		return i, false
	}
	for i++; i < len(d); {
		c := d[i]
		switch {
		case c == '"':
			return i + 1, true
		case c < 0x20 || c == '\\':
			return i, false
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
				return i, false
			}
			i += size
		}
	}
	return i, false
}

// canonNumber scans a JSON number (kept verbatim as a json.Number).
func canonNumber(d []byte, i int) (int, bool) {
	digits := func(i int) (int, bool) {
		j := i
		for j < len(d) && d[j] >= '0' && d[j] <= '9' {
			j++
		}
		return j, j > i
	}
	if d[i] == '-' {
		i++
	}
	if i < len(d) && d[i] == '0' {
		i++
	} else {
		var ok bool
		if i, ok = digits(i); !ok {
			return i, false
		}
	}
	if i < len(d) && d[i] == '.' {
		var ok bool
		if i, ok = digits(i + 1); !ok {
			return i, false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		var ok bool
		if i, ok = digits(i); !ok {
			return i, false
		}
	}
	return i, true
}
