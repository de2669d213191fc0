package runtime_test

import (
	"context"
	"strings"
	"testing"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/runtime"
)

// TestMetaAttempt checks the attempt metadata key and JSON field
// (docs/abi.md): the event's Attempt, and 1 for calls never retried.
func TestMetaAttempt(t *testing.T) {
	f := load(t, newEngine(t, nil), "testdata/meta", runtime.Limits{})
	tests := []struct {
		name    string
		attempt int
		input   string
		want    string
	}{
		{"meta_get first call", 0, "attempt", "1"},
		{"meta_get retry", 3, "attempt", "3"},
		{"meta_json retry", 2, "", `"attempt":2`},
		{"meta_json first call", 0, "", `"attempt":1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp event.Response
			ev := event.Event{ID: "e1", Source: "test", Data: []byte(tt.input), InvocationID: "inv-1", Attempt: tt.attempt}
			if err := f.Invoke(context.Background(), &ev, &resp); err != nil {
				t.Fatal(err)
			}
			if got := string(resp.Body); !strings.Contains(got, tt.want) || (tt.input != "" && got != tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
