package sdk

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseMeta(t *testing.T) {
	// The example of docs/abi.md, with an unknown field of every kind.
	const doc = `{"method":"POST","path":"/","query":"a=1",
 "headers":{"content-type":["application/json"],"X-Multi":["a","b"]},
 "event":{"id":"e1","source":"http","type":"baton.http.request","subject":"/fn/hello","time":"2026-11-21T10:00:00.123456789Z","extra":{"x":[1,2]}},
 "function":"hello","version":3,"invocation_id":"inv1",
 "future":[{"a":null,"b":true,"c":false,"d":-1.5e3,"e":"\u00e9\ud83d\ude00"}]}`
	var got Event
	if err := parseMeta([]byte(doc), &got); err != nil {
		t.Fatal(err)
	}
	want := Event{
		Method: "POST", Path: "/", Query: "a=1",
		Header: Header{"content-type": {"application/json"}, "x-multi": {"a", "b"}},
		ID:     "e1", Source: "http", Type: "baton.http.request", Subject: "/fn/hello",
		Time:     time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.UTC),
		Function: "hello", Version: 3, InvocationID: "inv1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseMeta:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseMetaEdges(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Event
		wantErr bool
	}{
		{name: "empty object", in: `{}`},
		{name: "white space", in: " \n{ \"method\" : \"GET\" } \t", want: Event{Method: "GET"}},
		{name: "wrong types skipped", in: `{"method":1,"path":null,"version":"3","headers":[],"event":"x"}`},
		{name: "header as string", in: `{"headers":{"a":"1"}}`, want: Event{Header: Header{"a": {"1"}}}},
		{name: "empty headers", in: `{"headers":{}}`},
		{name: "bad time ignored", in: `{"event":{"time":"yesterday"}}`},
		{name: "float version", in: `{"version":2.0}`, want: Event{Version: 2}},
		{name: "escapes", in: `{"path":"/a\"b\\c\/d\n\t\u0041"}`, want: Event{Path: "/a\"b\\c/d\n\tA"}},
		{name: "lone surrogate", in: `{"path":"\ud800x"}`, want: Event{Path: "\uFFFDx"}},
		{name: "invalid utf8", in: "{\"path\":\"a\xffb\"}", want: Event{Path: "a\uFFFDb"}},
		{name: "keeps what came before an error", in: `{"method":"GET","path":`, want: Event{Method: "GET"}, wantErr: true},
		{name: "empty input", in: ``, wantErr: true},
		{name: "trailing data", in: `{}x`, wantErr: true},
		{name: "missing colon", in: `{"method" "GET"}`, wantErr: true},
		{name: "trailing comma", in: `{"method":"GET",}`, want: Event{Method: "GET"}, wantErr: true},
		{name: "bad literal", in: `{"x":tru}`, wantErr: true},
		{name: "bad number", in: `{"x":-}`, wantErr: true},
		{name: "control char", in: "{\"path\":\"a\x01\"}", wantErr: true},
		{name: "deep nesting", in: `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Event
			err := parseMeta([]byte(tt.in), &got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseMeta(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseMeta(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// refMeta is the metadata JSON decoded by encoding/json, the reference
// parseMeta is checked against.
type refMeta struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   string              `json:"query"`
	Headers map[string][]string `json:"headers"`
	Event   struct {
		ID      string `json:"id"`
		Source  string `json:"source"`
		Type    string `json:"type"`
		Subject string `json:"subject"`
		Time    string `json:"time"`
	} `json:"event"`
	Function     string `json:"function"`
	Version      int    `json:"version"`
	InvocationID string `json:"invocation_id"`
}

// FuzzParseMeta checks parseMeta never panics, and that on documents the
// host could send it agrees with encoding/json.
func FuzzParseMeta(f *testing.F) {
	f.Add("POST", "/a b", "q=\u00e9", "Content-Type", "text/plain\x00\xff", "id", 7)
	f.Add("", "", "", "", "", "", 0)
	f.Fuzz(func(t *testing.T, method, path, query, hk, hv, id string, version int) {
		var ref refMeta
		ref.Method, ref.Path, ref.Query = method, path, query
		ref.Headers = map[string][]string{strings.ToLower(hk): {hv, id}}
		ref.Event.ID = id
		ref.Function = hk
		ref.Version = version
		ref.InvocationID = hv
		doc, err := json.Marshal(ref)
		if err != nil {
			t.Skip()
		}
		// Round-trip through encoding/json: that fixes invalid UTF-8 the
		// same way for both readers.
		var want refMeta
		if err := json.Unmarshal(doc, &want); err != nil {
			t.Fatal(err)
		}
		var got Event
		if err := parseMeta(doc, &got); err != nil {
			t.Fatalf("parseMeta(%s): %v", doc, err)
		}
		if got.Method != want.Method || got.Path != want.Path || got.Query != want.Query ||
			got.ID != want.Event.ID || got.Function != want.Function ||
			got.Version != want.Version || got.InvocationID != want.InvocationID {
			t.Fatalf("parseMeta(%s) = %+v, want %+v", doc, got, want)
		}
		for k, v := range want.Headers {
			if !reflect.DeepEqual(got.Header[lowerKey(k)], v) {
				t.Fatalf("parseMeta(%s) header %q = %q, want %q", doc, k, got.Header[lowerKey(k)], v)
			}
		}
		// Arbitrary bytes must not panic.
		_ = parseMeta([]byte(method+path), &Event{})
		_ = parseMeta([]byte(`{"x":"`+hv+`"}`), &Event{})
	})
}

func BenchmarkParseMeta(b *testing.B) {
	doc := []byte(`{"method":"POST","path":"/","query":"a=1","headers":{"content-type":["application/json"],"user-agent":["curl/8.5.0"],"accept":["*/*"]},"event":{"id":"01JD3","source":"http","type":"baton.http.request","subject":"/fn/hello","time":"2026-11-21T10:00:00.123456789Z"},"function":"hello","version":3,"invocation_id":"01JD3X"}`)
	b.Run("parseMeta", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var e Event
			if err := parseMeta(doc, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m refMeta
			if err := json.Unmarshal(doc, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
