package asl

import (
	"strings"
	"testing"
)

func mustValue(t testing.TB, s string) any {
	t.Helper()
	v, err := decodeJSON([]byte(s))
	if err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return v
}

func TestJSONPathEval(t *testing.T) {
	doc := `{"a":{"b":[{"n":1,"s":"x"},{"n":2,"s":"y"},{"n":3}]},"k y":5,"arr":[10,20,30,40],"z":null}`
	ctx := `{"Execution":{"Id":"e1"},"Map":{"Item":{"Index":2}}}`
	tests := []struct {
		path string
		want string // JSON; "!" prefix: error containing the rest
	}{
		{"$", doc},
		{"$.a.b[0].n", `1`},
		{"$.a.b[-1]", `{"n":3}`},
		{"$['k y']", `5`},
		{`$["k y"]`, `5`},
		{"$.z", `null`},
		{"$.arr[1:3]", `[20,30]`},
		{"$.arr[::2]", `[10,30]`},
		{"$.arr[:-1]", `[10,20,30]`},
		{"$.arr[0,3]", `[10,40]`},
		{"$.a.b[*].n", `[1,2,3]`},
		{"$.a.b[*].s", `["x","y"]`},
		{"$..n", `[1,2,3]`},
		{"$.a.*", `[[{"n":1,"s":"x"},{"n":2,"s":"y"},{"n":3}]]`},
		{"$.a.b[?(@.n > 1)].n", `[2,3]`},
		{"$.a.b[?(@.n >= 2 && @.s == 'y')]", `[{"n":2,"s":"y"}]`},
		{"$.a.b[?(@.s)]", `[{"n":1,"s":"x"},{"n":2,"s":"y"}]`},
		{"$.a.b[?(@.n == 1 || @.n == 3)].n", `[1,3]`},
		{"$.a.b[?(!(@.n < 3))].n", `[3]`},
		{"$.missing[*]", `[]`},
		{"$$.Execution.Id", `"e1"`},
		{"$$.Map.Item.Index", `2`},
		{"$v.x", `7`},
		{"$v", `{"x":7}`},
		{"$.missing", "!Missing property in path $['missing']"},
		{"$.a.c.d", "!Missing property in path $['a']['c']"},
		{"$.arr[9]", "!Index out of bounds in path $['arr'][9]"},
		{"$nope", "!Variable 'nope' is not defined"},
	}
	env := &pathEnv{input: mustValue(t, doc), context: mustValue(t, ctx), vars: func(n string) (any, bool) {
		if n == "v" {
			return mustValue(t, `{"x":7}`), true
		}
		return nil, false
	}}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p, err := parsePath(tt.path)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got, err := evalPath(p, env)
			if strings.HasPrefix(tt.want, "!") {
				if err == nil || !strings.Contains(err.Error(), tt.want[1:]) {
					t.Fatalf("err = %v, want %q", err, tt.want[1:])
				}
				return
			}
			if err != nil {
				t.Fatalf("eval: %v", err)
			}
			if !jsonEqual(got, mustValue(t, tt.want)) {
				t.Fatalf("got %s, want %s", encodeJSON(got), tt.want)
			}
		})
	}
}

func TestJSONPathParseErrors(t *testing.T) {
	for _, s := range []string{"", "a.b", "$.", "$[", "$['a'", "$[?(@.a ==)]", "$.a[1:2:3:4]", "$..", "$[x]"} {
		if _, err := parsePath(s); err == nil {
			t.Errorf("parsePath(%q) succeeded, want an error", s)
		}
	}
}

func TestResultPath(t *testing.T) {
	tests := []struct {
		name, path, input, result, want string
	}{
		{"replace", "$", `{"a":1}`, `2`, `2`},
		{"merge new field", "$.r", `{"a":1}`, `{"x":true}`, `{"a":1,"r":{"x":true}}`},
		{"overwrite field", "$.a", `{"a":1}`, `2`, `{"a":2}`},
		{"create intermediate", "$.x.y.z", `{"a":1}`, `3`, `{"a":1,"x":{"y":{"z":3}}}`},
		{"array element", "$.a[1]", `{"a":[1,2,3]}`, `"b"`, `{"a":[1,"b",3]}`},
		{"into non object", "$.a.b", `{"a":1}`, `2`, "!"},
		{"input not object", "$.a", `[1]`, `2`, "!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parsePath(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			in := mustValue(t, tt.input)
			got, err := setPath(p, in, mustValue(t, tt.result))
			if tt.want == "!" {
				if err == nil {
					t.Fatalf("want an error, got %s", encodeJSON(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(got, mustValue(t, tt.want)) {
				t.Fatalf("got %s, want %s", encodeJSON(got), tt.want)
			}
			if encodeJSON(in) != encodeJSON(mustValue(t, tt.input)) {
				t.Fatalf("input was modified: %s", encodeJSON(in))
			}
		})
	}
}
