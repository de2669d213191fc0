package asl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// Values inside the interpreter are plain decoded JSON: nil, bool, string,
// json.Number, []any and map[string]any. Numbers stay json.Number so that
// what passes through a state keeps its exact text (0.0 stays 0.0).

// decodeJSON parses one JSON value, keeping numbers as json.Number.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	// Reject trailing garbage that is not another value.
	rest := bytes.TrimSpace(data[dec.InputOffset():])
	if len(rest) > 0 {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return v, nil
}

// rawToValue decodes a stored json.RawMessage; empty means null.
func rawToValue(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil
	}
	return v
}

// valueToRaw encodes a value without HTML escaping.
func valueToRaw(v any) json.RawMessage {
	return json.RawMessage(encodeJSON(v))
}

// encodeJSON renders v compactly, without HTML escaping, keys sorted.
func encodeJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "null"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// deepCopy copies maps and slices so that the copy can be mutated.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = deepCopy(x)
		}
		return s
	default:
		return v
	}
}

// jsonEqual compares two values as JSON: numbers by value, objects
// regardless of key order.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case json.Number, float64, int, int64:
		if !isNumber(b) {
			return false
		}
		return compareNumbers(a, b) == 0
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !jsonEqual(xv, yv) {
				return false
			}
		}
		return true
	}
	return false
}

func isNumber(v any) bool {
	switch v.(type) {
	case json.Number, float64, int, int64:
		return true
	}
	return false
}

// toFloat converts a numeric value to float64.
func toFloat(v any) (float64, bool) {
	switch t := v.(type) {
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			// Out of range numbers still compare sensibly.
			bf, _, err2 := big.ParseFloat(string(t), 10, 64, big.ToNearestEven)
			if err2 != nil {
				return 0, false
			}
			f, _ = bf.Float64()
		}
		return f, true
	case float64:
		return t, true
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	}
	return 0, false
}

// toInt converts a numeric value holding an integer to int64.
func toInt(v any) (int64, bool) {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i, true
		}
		f, err := t.Float64()
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return int64(f), true
	case float64:
		if t != math.Trunc(t) || math.IsInf(t, 0) || math.Abs(t) > 1<<53 {
			return 0, false
		}
		return int64(t), true
	case int:
		return int64(t), true
	case int64:
		return t, true
	}
	return 0, false
}

// compareNumbers returns -1, 0 or 1; both arguments must be numeric.
func compareNumbers(a, b any) int {
	ra, oka := toRat(a)
	rb, okb := toRat(b)
	if oka && okb {
		return ra.Cmp(rb)
	}
	fa, _ := toFloat(a)
	fb, _ := toFloat(b)
	switch {
	case fa < fb:
		return -1
	case fa > fb:
		return 1
	}
	return 0
}

func toRat(v any) (*big.Rat, bool) {
	switch t := v.(type) {
	case json.Number:
		r, ok := new(big.Rat).SetString(string(t))
		return r, ok
	case float64:
		if math.IsInf(t, 0) || math.IsNaN(t) {
			return nil, false
		}
		return new(big.Rat).SetFloat64(t), true
	case int:
		return new(big.Rat).SetInt64(int64(t)), true
	case int64:
		return new(big.Rat).SetInt64(t), true
	}
	return nil, false
}

// numberValue turns a float64 into a json.Number, integral values without
// a fraction.
func numberValue(f float64) any {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return json.Number(strconv.FormatFloat(f, 'f', -1, 64))
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
}

func intValue(i int64) any { return json.Number(strconv.FormatInt(i, 10)) }

// typeName names a value's JSON type as AWS messages do.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number, float64, int, int64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// normalizeValue converts values produced by other decoders (YAML,
// float64 from encoding/json without UseNumber) into interpreter values.
func normalizeValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = normalizeValue(x)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = normalizeValue(x)
		}
		return m
	case []any:
		for i, x := range t {
			t[i] = normalizeValue(x)
		}
		return t
	case float64:
		return numberValue(t)
	case float32:
		return numberValue(float64(t))
	case int:
		return intValue(int64(t))
	case int64:
		return intValue(t)
	case uint64:
		return json.Number(strconv.FormatUint(t, 10))
	case int32:
		return intValue(int64(t))
	}
	return v
}
