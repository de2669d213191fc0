package sdk

import (
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// A small JSON encoder for log fields. encoding/json would add about
// 0.9 MB to every function's wasm, whether or not it uses JSON itself.

// maxDepth bounds nesting, so a cyclic value cannot recurse forever.
const maxDepth = 16

type stringer interface{ String() string }

type jsonMarshaler interface{ MarshalJSON() ([]byte, error) }

// appendFields appends kv, alternating keys and values, as a JSON object.
func appendFields(b []byte, kv []any) []byte {
	b = append(b, '{')
	for i := 0; i < len(kv); i++ {
		if i > 0 {
			b = append(b, ',')
		}
		key, ok := kv[i].(string)
		if !ok || i+1 == len(kv) {
			key = "!BADKEY"
		} else {
			i++
		}
		b = appendString(b, key)
		b = append(b, ':')
		b = appendValue(b, kv[i], 0)
	}
	return append(b, '}')
}

// appendValue appends v as a JSON value.
func appendValue(b []byte, v any, depth int) []byte {
	if depth > maxDepth {
		return appendString(b, "!DEPTH")
	}
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, v)
	case []byte:
		return appendString(b, string(v))
	case bool:
		return strconv.AppendBool(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case int32:
		return strconv.AppendInt(b, int64(v), 10)
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case uint:
		return strconv.AppendUint(b, uint64(v), 10)
	case float64:
		return appendFloat(b, v, 64)
	case float32:
		return appendFloat(b, float64(v), 32)
	case time.Time:
		return appendString(b, v.Format(time.RFC3339Nano))
	case time.Duration:
		return appendString(b, v.String())
	case jsonMarshaler:
		if isNilPointer(v) {
			return append(b, "null"...)
		}
		j, err := v.MarshalJSON()
		if err != nil {
			return appendString(b, "!ERROR "+err.Error())
		}
		return append(b, j...)
	case error:
		if isNilPointer(v) {
			return append(b, "null"...)
		}
		return appendString(b, v.Error())
	case stringer:
		if isNilPointer(v) {
			return append(b, "null"...)
		}
		return appendString(b, v.String())
	}
	return appendReflect(b, reflect.ValueOf(v), depth)
}

// isNilPointer reports whether v holds a nil pointer, on which calling a
// value-receiver method would panic.
func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

func appendReflect(b []byte, rv reflect.Value, depth int) []byte {
	if depth > maxDepth {
		return appendString(b, "!DEPTH")
	}
	switch rv.Kind() {
	case reflect.Invalid:
		return append(b, "null"...)
	case reflect.Bool:
		return strconv.AppendBool(b, rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(b, rv.Uint(), 10)
	case reflect.Float32:
		return appendFloat(b, rv.Float(), 32)
	case reflect.Float64:
		return appendFloat(b, rv.Float(), 64)
	case reflect.String:
		return appendString(b, rv.String())
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return append(b, "null"...)
		}
		return appendElem(b, rv.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return append(b, "null"...)
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 && rv.Kind() == reflect.Slice {
			return appendString(b, string(rv.Bytes()))
		}
		b = append(b, '[')
		for i := range rv.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendElem(b, rv.Index(i), depth+1)
		}
		return append(b, ']')
	case reflect.Map:
		if rv.IsNil() {
			return append(b, "null"...)
		}
		type entry struct {
			key string
			val reflect.Value
		}
		entries := make([]entry, 0, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			entries = append(entries, entry{mapKey(it.Key()), it.Value()})
		}
		slices.SortFunc(entries, func(x, y entry) int {
			switch {
			case x.key < y.key:
				return -1
			case x.key > y.key:
				return 1
			}
			return 0
		})
		b = append(b, '{')
		for i, e := range entries {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, e.key)
			b = append(b, ':')
			b = appendElem(b, e.val, depth+1)
		}
		return append(b, '}')
	case reflect.Struct:
		t := rv.Type()
		b = append(b, '{')
		n := 0
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := f.Name
			if tag, ok := f.Tag.Lookup("json"); ok {
				if tag == "-" {
					continue
				}
				if j := indexByte(tag, ','); j >= 0 {
					tag = tag[:j]
				}
				if tag != "" {
					name = tag
				}
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = appendString(b, name)
			b = append(b, ':')
			b = appendElem(b, rv.Field(i), depth+1)
		}
		return append(b, '}')
	case reflect.Complex64, reflect.Complex128:
		return appendString(b, strconv.FormatComplex(rv.Complex(), 'g', -1, 128))
	}
	// Channels, functions, unsafe pointers: their type says enough.
	return appendString(b, rv.Type().String())
}

// appendElem appends a value reached through reflection, honouring the
// interfaces appendValue knows when the value can be taken out.
func appendElem(b []byte, rv reflect.Value, depth int) []byte {
	if rv.IsValid() && rv.CanInterface() {
		return appendValue(b, rv.Interface(), depth)
	}
	return appendReflect(b, rv, depth)
}

func mapKey(k reflect.Value) string {
	switch k.Kind() {
	case reflect.String:
		return k.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(k.Uint(), 10)
	}
	if k.CanInterface() {
		if s, ok := k.Interface().(stringer); ok && !isNilPointer(s) {
			return s.String()
		}
	}
	return string(appendReflect(nil, k, maxDepth))
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// appendFloat appends f as encoding/json does; NaN and infinities, which
// JSON cannot hold, become the strings "NaN", "+Inf" and "-Inf".
func appendFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return appendString(b, strconv.FormatFloat(f, 'g', -1, bits))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) ||
		bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// 1e-07 → 1e-7, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// except that <, > and & are kept. Invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
