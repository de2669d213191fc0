package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/baton-run/baton/functions/sdk/sdktest"
)

func TestCount(t *testing.T) {
	tests := []struct {
		name string
		text string
		want Result
	}{
		{"empty", "", Result{Top: []WordCount{}}},
		{"one line, no newline", "the cat", Result{Words: 2, Lines: 1, Bytes: 7,
			Top: []WordCount{{"cat", 1}, {"the", 1}}}},
		{"newline ended", "a\nb\n", Result{Words: 2, Lines: 2, Bytes: 4,
			Top: []WordCount{{"a", 1}, {"b", 1}}}},
		{"blank lines", "\n\n", Result{Lines: 2, Bytes: 2, Top: []WordCount{}}},
		{"case and punctuation", "The cat, the hat; THE end. Don't 'quote' it's", Result{Words: 9, Lines: 1, Bytes: 45,
			Top: []WordCount{{"the", 3}, {"cat", 1}, {"don't", 1}, {"end", 1}, {"hat", 1}, {"it's", 1}, {"quote", 1}}}},
		{"unicode", "Élan élan naïve 42\tv2", Result{Words: 5, Lines: 1, Bytes: 24,
			Top: []WordCount{{"élan", 2}, {"42", 1}, {"naïve", 1}, {"v2", 1}}}},
		{"invalid utf8 separates", "a\xffb", Result{Words: 2, Lines: 1, Bytes: 3,
			Top: []WordCount{{"a", 1}, {"b", 1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := count([]byte(tt.text)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("count(%q)\n got %+v\nwant %+v", tt.text, got, tt.want)
			}
		})
	}
}

func TestTopIsTenWithAlphabeticalTies(t *testing.T) {
	// 12 words once each, "zz" three times.
	text := "l k j i h g f e d c b a zz zz zz"
	got := count([]byte(text)).Top
	want := []WordCount{{"zz", 3}, {"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}, {"e", 1}, {"f", 1}, {"g", 1}, {"h", 1}, {"i", 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("top = %v, want %v", got, want)
	}
}

func TestHandler(t *testing.T) {
	resp, err := sdktest.Invoke(nil, sdktest.NewEvent("POST", "/", []byte(strings.Repeat("go ", 3))))
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("content-type"); ct != "application/json" {
		t.Errorf("content-type = %q", ct)
	}
	const want = `{"words":3,"lines":1,"bytes":9,"top":[{"word":"go","count":3}]}`
	if string(resp.Body) != want {
		t.Errorf("body = %s, want %s", resp.Body, want)
	}
	var r Result
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkCount(b *testing.B) {
	text := []byte(strings.Repeat("The quick brown fox jumps over the lazy dog.\n", 1000))
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		count(text)
	}
}
