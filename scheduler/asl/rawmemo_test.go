package asl

import (
	"encoding/json"
	"testing"
)

func TestCanonicalJSON(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{`{}`, true},
		{`[]`, true},
		{`{"a":1,"b":[true,false,null,"x",-0.5e+3]}`, true},
		{`{"a":{"b":{"c":"é<>&"}}}`, true},
		{`{"b":1,"a":2}`, false},      // keys out of order
		{`{"a":1,"a":2}`, false},      // duplicate key
		{`{"a": 1}`, false},           // not compact
		{`{"a":"\u0041"}`, false},     // escape
		{`{"a":"\n"}`, false},         // escape
		{"{\"a\":\"\u2028\"}", false}, // the encoder escapes it
		{"{\"a\":\"\xff\"}", false},   // invalid UTF-8
		{`{"a":01}`, false},
		{`{"a":1.}`, false},
		{`{"a":1}x`, false},
		{`{"a":tru}`, false},
		{`[1,]`, false},
		{``, false},
	} {
		got := canonicalJSON([]byte(c.in))
		if got != c.want {
			t.Errorf("canonicalJSON(%q) = %v, want %v", c.in, got, c.want)
		}
		if got {
			if re := string(valueToRaw(rawToValue(json.RawMessage(c.in)))); re != c.in {
				t.Errorf("canonicalJSON(%q) but valueToRaw writes %q", c.in, re)
			}
		}
	}
}

func TestRawMemo(t *testing.T) {
	var m rawMemo
	raw := json.RawMessage(`{"a":[1,2]}`)
	v := m.toValue(raw)
	if got := m.toRaw(v); &got[0] != &raw[0] {
		t.Errorf("toRaw of a canonical input's value re-encoded it")
	}
	w := map[string]any{"b": "x"}
	r1 := m.toRaw(w)
	if r2 := m.toRaw(w); &r1[0] != &r2[0] || string(r1) != `{"b":"x"}` {
		t.Errorf("toRaw not remembered: %s %s", r1, r2)
	}
	if got := m.toRaw(map[string]any{"b": "y"}); string(got) != `{"b":"y"}` {
		t.Errorf("toRaw of another map = %s", got)
	}
}
