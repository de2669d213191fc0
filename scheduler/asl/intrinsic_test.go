package asl

import (
	"regexp"
	"strings"
	"testing"
)

func TestIntrinsics(t *testing.T) {
	input := `{"s":"a,b;;c","n":3,"arr":[1,2,2,3,1],"o1":{"a":1,"b":{"x":1}},"o2":{"b":{"y":2},"c":3},"json":"{\"k\":[1,2]}","str":"hello world","f":1.5}`
	tests := []struct {
		expr string
		want string // JSON, "!" prefix: error containing the rest, "~" prefix: regexp on the JSON
	}{
		{`States.Format('x={}, y={}', $.n, $.s)`, `"x=3, y=a,b;;c"`},
		{`States.Format('{} {} {} {}', true, null, 1.50, $.o2.b)`, `"true null 1.50 {\"y\":2}"`},
		{`States.Format('braces \{\} and \'quote\' {}', 'ok')`, `"braces {} and 'quote' ok"`},
		{`States.Format('{}', 1, 2)`, "!placeholders"},
		{`States.StringToJson($.json)`, `{"k":[1,2]}`},
		{`States.StringToJson('nope')`, "!not valid JSON"},
		{`States.JsonToString($.o2)`, `"{\"b\":{\"y\":2},\"c\":3}"`},
		{`States.Array(1, 'two', $.n, States.Array())`, `[1,"two",3,[]]`},
		{`States.ArrayPartition($.arr, 2)`, `[[1,2],[2,3],[1]]`},
		{`States.ArrayPartition($.arr, 0)`, "!positive"},
		{`States.ArrayContains($.arr, 3)`, `true`},
		{`States.ArrayContains($.arr, 9)`, `false`},
		{`States.ArrayRange(1, 9, 2)`, `[1,3,5,7,9]`},
		{`States.ArrayRange(5, 1, -2)`, `[5,3,1]`},
		{`States.ArrayRange(1, 2, 0)`, "!step"},
		{`States.ArrayRange(0, 2000, 1)`, "!1000"},
		{`States.ArrayGetItem($.arr, 3)`, `3`},
		{`States.ArrayGetItem($.arr, 5)`, "!out of bounds"},
		{`States.ArrayLength($.arr)`, `5`},
		{`States.ArrayLength($.n)`, "!must be an array"},
		{`States.ArrayUnique($.arr)`, `[1,2,3]`},
		{`States.Base64Encode($.str)`, `"aGVsbG8gd29ybGQ="`},
		{`States.Base64Decode('aGVsbG8gd29ybGQ=')`, `"hello world"`},
		{`States.Base64Decode('***')`, "!base64"},
		{`States.Hash($.str, 'SHA-256')`, `"b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"`},
		{`States.Hash($.str, 'MD5')`, `"5eb63bbbe01eeed093cb22bb8f5acdc3"`},
		{`States.Hash($.str, 'SHA-1')`, `"2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"`},
		{`States.Hash($.str, 'CRC32')`, "!unsupported algorithm"},
		{`States.JsonMerge($.o1, $.o2, false)`, `{"a":1,"b":{"y":2},"c":3}`},
		{`States.JsonMerge($.o1, $.o2, true)`, "!deep"},
		{`States.MathAdd($.n, -1)`, `2`},
		{`States.MathAdd($.f, 1)`, `3`},
		{`States.MathAdd($.s, 1)`, "!must be a number"},
		{`States.MathRandom(1, 10, 7)`, `~^[1-9]$`},
		{`States.MathRandom(5, 5)`, "!greater"},
		{`States.StringSplit($.s, ',;')`, `["a","b","c"]`},
		{`States.UUID()`, `~^"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"$`},
		{`States.ArrayLength(States.StringSplit($.s, ','))`, `2`},
		{`States.Format('{}', $.missing)`, "!could not be found"},
	}
	env := &pathEnv{input: mustValue(t, input), context: map[string]any{}, vars: func(string) (any, bool) { return nil, false }}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			c, err := parseIntrinsic(tt.expr)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got, serr := evalIntrinsic(c, env)
			switch {
			case strings.HasPrefix(tt.want, "!"):
				if serr == nil || !strings.Contains(serr.cause, tt.want[1:]) {
					t.Fatalf("err = %v, want one containing %q", serr, tt.want[1:])
				}
				if !strings.Contains(tt.want, "could not be found") && serr.name != ErrorIntrinsicFailure {
					t.Fatalf("error name = %s", serr.name)
				}
			case serr != nil:
				t.Fatalf("eval: %v", serr)
			case strings.HasPrefix(tt.want, "~"):
				if !regexp.MustCompile(tt.want[1:]).MatchString(encodeJSON(got)) {
					t.Fatalf("got %s, want match %s", encodeJSON(got), tt.want[1:])
				}
			default:
				if !jsonEqual(got, mustValue(t, tt.want)) {
					t.Fatalf("got %s, want %s", encodeJSON(got), tt.want)
				}
			}
		})
	}
}

func TestIntrinsicParseErrors(t *testing.T) {
	for _, s := range []string{"States.Format(", "States.Format('a'", "States.Array(1,)", "States.UUID(1)", "States.Format('x') tail", "States.Format('unterminated)", "Foo.Bar()"} {
		if _, err := parseIntrinsic(s); err == nil {
			t.Errorf("parseIntrinsic(%q) succeeded, want an error", s)
		}
	}
}
