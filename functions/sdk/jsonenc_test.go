package sdk

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
)

type point struct {
	X, Y   int
	Label  string `json:"label,omitempty"`
	Hidden string `json:"-"`
	secret int
}

type celsius float64

func (c celsius) String() string { return "warm" }

type ptrStringer struct{}

func (*ptrStringer) String() string { return "ptr" }

func TestAppendFields(t *testing.T) {
	type loop struct{ Next *loop }
	cyc := &loop{}
	cyc.Next = cyc
	var nilErr *json.SyntaxError
	var nilStringer *ptrStringer
	tests := []struct {
		name string
		kv   []any
		want string
	}{
		{"strings", []any{"k", "v", "q", "a\"b\\c\n\x01<&>"}, `{"k":"v","q":"a\"b\\c\n\u0001<&>"}`},
		{"numbers", []any{"i", -3, "u", uint8(7), "f", 1.5, "big", 1e21, "small", 1e-7, "f32", float32(0.1)}, `{"i":-3,"u":7,"f":1.5,"big":1e+21,"small":1e-7,"f32":0.1}`},
		{"non-finite", []any{"nan", math.NaN(), "inf", math.Inf(-1)}, `{"nan":"NaN","inf":"-Inf"}`},
		{"bool nil bytes", []any{"b", true, "n", nil, "raw", []byte("hi")}, `{"b":true,"n":null,"raw":"hi"}`},
		{"error and stringer", []any{"err", errors.New("boom"), "c", celsius(30)}, `{"err":"boom","c":"warm"}`},
		{"nil pointers", []any{"e", nilErr, "s", nilStringer}, `{"e":null,"s":null}`},
		{"time", []any{"t", time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), "d", 1500 * time.Millisecond}, `{"t":"2026-01-02T03:04:05.000000006Z","d":"1.5s"}`},
		{"marshaler", []any{"j", json.RawMessage(`{"a":[1]}`)}, `{"j":{"a":[1]}}`},
		{"struct", []any{"p", point{X: 1, Y: 2, Label: "l", Hidden: "h", secret: 3}}, `{"p":{"X":1,"Y":2,"label":"l"}}`},
		{"pointer to struct", []any{"p", &point{}}, `{"p":{"X":0,"Y":0,"label":""}}`},
		{"slices and maps", []any{"s", []string{"a", "b"}, "m", map[string]int{"z": 1, "a": 2}, "im", map[int]bool{2: true, 1: false}, "ns", []int(nil)}, `{"s":["a","b"],"m":{"a":2,"z":1},"im":{"1":false,"2":true},"ns":null}`},
		{"bad keys", []any{1, "one", "dangling"}, `{"!BADKEY":1,"one":"dangling"}`},
		{"trailing key", []any{"a", 1, "b"}, `{"a":1,"!BADKEY":"b"}`},
		{"cycle", []any{"c", cyc}, ``},
		{"func", []any{"f", func() {}}, `{"f":"func()"}`},
		{"utf8", []any{"s", "é\xff\u2028"}, `{"s":"é\ufffd\u2028"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := appendFields(nil, tt.kv)
			if !json.Valid(got) {
				t.Fatalf("appendFields(%v) = %s: not valid JSON", tt.kv, got)
			}
			if tt.want != "" && string(got) != tt.want {
				t.Errorf("appendFields(%v)\n got %s\nwant %s", tt.kv, got, tt.want)
			}
		})
	}
}

// FuzzAppendString checks appendString produces JSON that encoding/json
// decodes back to the string (with invalid UTF-8 replaced as it does).
func FuzzAppendString(f *testing.F) {
	f.Add("plain")
	f.Add("\x00\x1f\"\\\u2028\xff\xfe é 😀")
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("appendString(%q) decodes to %q, want %q", s, back, wantBack)
		}
	})
}

func BenchmarkAppendFields(b *testing.B) {
	kv := []any{"user", "ada", "items", 3, "took", 1500 * time.Microsecond, "ok", true}
	b.ReportAllocs()
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = appendFields(buf[:0], kv)
	}
}
