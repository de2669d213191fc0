package chain

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/baton-run/baton/scheduler/asl"
)

// TestEncodeEventIsEncodingJSON checks the hand-written event encoder
// against encoding/json.
func TestEncodeEventIsEncodingJSON(t *testing.T) {
	now := time.Date(2026, 11, 22, 1, 2, 3, 456789000, time.UTC)
	for _, ev := range []asl.HistoryEvent{
		{ID: 1, Time: now, Type: "ExecutionStarted", Input: json.RawMessage(` { "a" : [1, 2] } `)},
		{ID: 2, Time: now.In(time.FixedZone("x", 3600)), Type: "TaskScheduled", Name: "S1", Resource: "fn:noop", Attempt: 2, Input: json.RawMessage(`"<&>"`)},
		{ID: 3, Time: now, Type: "TaskFailed", Error: "E\"rr", Cause: "line\nbreak <b> é \u2028", Path: "/States/P/Branches/0", Index: 3},
		{ID: 4, Time: now, Type: "WaitStateEntered", Until: now.Add(time.Hour), Output: json.RawMessage(`null`)},
		{ID: 5, Time: now, Type: "PassStateExited", AssignedVariables: map[string]json.RawMessage{"x": json.RawMessage(`1`)}},
	} {
		want, err := json.Marshal(&ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeEvent(nil, &ev)
		if err != nil {
			t.Fatal(err)
		}
		// The same value; raw JSON is compacted but not HTML-escaped.
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("event %d: %v: %s", ev.ID, err, got)
		}
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("event %d:\n got %s\nwant %s", ev.ID, got, want)
		}
	}
	if _, err := encodeEvent(nil, &asl.HistoryEvent{ID: 1, Input: json.RawMessage(`{`)}); err == nil {
		t.Error("invalid raw JSON was encoded")
	}
}

// TestEncodeExecutionRoundTrips checks that the stored form (the task
// call stored once, the spliced outbox) decodes to what was encoded.
func TestEncodeExecutionRoundTrips(t *testing.T) {
	call := &asl.TaskCall{Resource: "fn:f", Input: json.RawMessage(`{"a":1}`), Attempt: 1}
	x := &Execution{ID: "c.x", Chain: "c", Version: 1, Status: asl.StatusRunning, Input: json.RawMessage(`{}`),
		State:  &asl.Execution{State: "S1", Awaiting: asl.AwaitTask, Task: call, Seq: 3},
		Next:   &asl.Decision{Kind: asl.DecideRunTask, Task: call},
		Outbox: []asl.HistoryEvent{{ID: 2, Type: "TaskStateEntered", Name: "S1"}, {ID: 3, Type: "TaskScheduled", Name: "S1"}},
	}
	c := eventCache{}
	data, err := encodeExecution(x, c)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(data, []byte(`"fn:f"`)) != 1 {
		t.Errorf("the task call is stored more than once: %s", data)
	}
	y, err := decodeExecution(data)
	if err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	a, _ := json.Marshal(x)
	b, _ := json.Marshal(y)
	if !bytes.Equal(a, b) {
		t.Errorf("round trip:\n got %s\nwant %s", b, a)
	}
	if !stillRunning(data) {
		t.Errorf("stillRunning(%s) = false", data)
	}
	x.Status = asl.StatusSucceeded
	if data, _ = encodeExecution(x, c); stillRunning(data) {
		t.Errorf("stillRunning(%s) = true", data)
	}
}
