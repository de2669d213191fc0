package asl

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}`,
		`{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.x","NumericEquals":1,"Next":"A"}],"Default":"A"},"A":{"Type":"Succeed"}}}`,
		`{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`,
		`{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% $states.input.a + 1 %}","End":true}}}`,
		"StartAt: A\nStates:\n  A: {Type: Succeed}\n",
		`{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"States.Format('{}', $.a)"},"End":true}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		// A valid machine must run (to any end) without panicking.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		inv := TaskInvokerFunc(func(_ context.Context, _ string, in json.RawMessage) (json.RawMessage, error) { return in, nil })
		if _, err := Run(ctx, m, json.RawMessage(`{"a":1,"x":[1,2]}`), RunOptions{Invoker: inv, Clock: NewInstantClock(epoch)}); err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
}

func FuzzJSONPath(f *testing.F) {
	for _, s := range []string{"$", "$.a.b[0]", "$..x", "$.a[?(@.n > 1 && @.s == 'x')]", "$['a b'][1:3]", "$$.Execution.Id", "$v.a[*]"} {
		f.Add(s)
	}
	doc := map[string]any{"a": map[string]any{"b": []any{intValue(1), "x"}}, "n": intValue(2)}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePath(s)
		if err != nil {
			return
		}
		env := &pathEnv{input: doc, context: doc, vars: func(string) (any, bool) { return doc, true }}
		_, _ = evalPath(p, env)
		if p.isReference() {
			_, _ = setPath(p, doc, "v")
		}
	})
}

func FuzzIntrinsic(f *testing.F) {
	for _, s := range []string{"States.Format('a {} b', $.a)", "States.Array(1, 'x', true, null, States.UUID())", "States.MathAdd($.n, -1.5)", "States.StringSplit('a,b', ',')", "States.Hash('x', 'SHA-1')"} {
		f.Add(s)
	}
	doc := map[string]any{"a": "s", "n": intValue(2)}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseIntrinsic(s)
		if err != nil {
			return
		}
		env := &pathEnv{input: doc, context: doc, vars: func(string) (any, bool) { return nil, false }}
		_, _ = evalIntrinsic(c, env)
	})
}

func FuzzJSONata(f *testing.F) {
	for _, s := range []string{"$states.input.a + 1", "$sum([1,2]) & 'x'", "($x := 1; $x ? 'a' : 'b')", "$map([1,2], function($v){$v*2})", "$states.input.xs[x > 1]", "[1..3]", "{'k': /re/i}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseJSONata(s)
		if err != nil {
			return
		}
		env := &pathEnv{states: map[string]any{"input": map[string]any{"a": intValue(1), "xs": []any{intValue(1), intValue(2)}}}}
		_, _, _ = evalJSONata(e, env)
	})
}
