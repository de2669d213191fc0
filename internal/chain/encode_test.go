package chain

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
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

// TestAppendStoredIsEncodingJSON checks the hand-written snapshot encoder
// against encoding/json, every field set and none.
func TestAppendStoredIsEncodingJSON(t *testing.T) {
	now := time.Date(2026, 11, 22, 1, 2, 3, 456789000, time.UTC)
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	full := &Execution{ID: "c.x", Chain: "c", Version: 2, Parent: "c.p", Fanout: "3-0", Index: 4,
		Status: asl.StatusFailed, Input: raw(` {"a": 1} `), Output: raw(`[1]`), Error: "E<", Cause: "c\n", Started: now, Stopped: now.Add(time.Second), Redrives: 1,
		State: &asl.Execution{Path: "/States/P", Index: 4, Detached: true,
			Info:   asl.ExecutionInfo{ID: "i", Name: "n", StateMachineID: "s", StateMachineName: "m", RoleArn: "r", StartTime: now, Input: raw(`{"b":2}`)},
			Status: asl.StatusRunning, State: "S", Input: raw(`{"c":3}`), EnteredTime: now, EnteredEventID: 7,
			Vars: map[string]json.RawMessage{"v": raw(`1`)}, Outer: map[string]json.RawMessage{"o": raw(`"x"`)},
			Attempts: []int{1, 2}, RetryCount: 3, Awaiting: asl.AwaitTask,
			Task:    &asl.TaskCall{Resource: "fn:f", Target: "fn:f", Function: "f", Qualifier: "1", Integration: "lambda:invoke", Input: raw(`{}`), TimeoutSeconds: 4, HeartbeatSeconds: 5, Attempt: 6},
			Pending: &asl.Pending{Next: "N", Output: raw(`1`)}, Fanout: &asl.Fanout{Inputs: []json.RawMessage{raw(`1`)}, Results: []json.RawMessage{nil}, Done: []bool{false}},
			Output: raw(`2`), Error: "e", Cause: "c", Seq: 9, Transitions: 10, MapItem: &asl.MapItem{Index: 1, Value: raw(`3`)}},
		Next: &asl.Decision{Kind: asl.DecideWait, Until: now},
	}
	for i, w := range []storedExecution{
		{Execution: full, InfoInputIsInput: true, TaskInputIsInput: true},
		{Execution: &Execution{}},
		{Execution: &Execution{State: &asl.Execution{Task: &asl.TaskCall{}}, Next: &asl.Decision{Kind: asl.DecideRunTask}}},
	} {
		want, err := json.Marshal(&w)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendStored(nil, &w)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, '}')
		var g, wa any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%d: %v: %s", i, err, got)
		}
		_ = json.Unmarshal(want, &wa)
		if !reflect.DeepEqual(g, wa) {
			t.Errorf("%d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// TestEncodeExecutionStoresPayloadOnce checks that the copies of the input
// (root and context input, state and task input) are stored once each and
// come back.
func TestEncodeExecutionStoresPayloadOnce(t *testing.T) {
	in, st := json.RawMessage(`{"root":1}`), json.RawMessage(`{"state":2}`)
	call := &asl.TaskCall{Resource: "fn:f", Input: st}
	x := &Execution{ID: "c.x", Chain: "c", Status: asl.StatusRunning, Input: in,
		State: &asl.Execution{Info: asl.ExecutionInfo{Input: in}, State: "S1", Input: st, Awaiting: asl.AwaitTask, Task: call},
		Next:  &asl.Decision{Kind: asl.DecideRunTask, Task: call},
	}
	data, err := encodeExecution(x, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(data, in) != 1 || bytes.Count(data, st) != 1 {
		t.Errorf("a payload is stored more than once: %s", data)
	}
	y, err := decodeExecution(data)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(x)
	b, _ := json.Marshal(y)
	if !bytes.Equal(a, b) {
		t.Errorf("round trip:\n got %s\nwant %s", b, a)
	}
	if x.State.Info.Input == nil || x.State.Task.Input == nil {
		t.Error("encoding changed the execution")
	}
}

// A root execution's context info is left out of its snapshot and
// rebuilt from its id, chain and start.
func TestEncodeExecutionLeavesOutRootInfo(t *testing.T) {
	now := time.Date(2026, 11, 22, 1, 2, 3, 456789000, time.UTC)
	in := json.RawMessage(`{"a":1}`)
	x := &Execution{ID: "shop.abc", Chain: "shop", Version: 1, Status: asl.StatusRunning, Input: in, Started: now,
		State: asl.NewExecution(rootInfo("shop", "abc", now), in)}
	data, err := encodeExecution(x, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("arn:")) || !bytes.Contains(data, []byte(`"infoIsRoot":true`)) {
		t.Fatalf("the root info is stored: %s", data)
	}
	y, err := decodeExecution(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(y.State.Info, x.State.Info) {
		t.Fatalf("info %+v, want %+v", y.State.Info, x.State.Info)
	}
	// Anything else is stored as it is.
	x.State.Info.RoleArn = "arn:aws:iam::1:role/other"
	data, _ = encodeExecution(x, nil)
	if y, _ = decodeExecution(data); bytes.Contains(data, []byte("infoIsRoot")) || y.State.Info.RoleArn != x.State.Info.RoleArn {
		t.Fatalf("a changed info: %s", data)
	}
}

// A snapshot of compressMin bytes or more is stored compressed, and reads
// back (also for stillRunning); a small one stays JSON.
func TestEncodeExecutionCompresses(t *testing.T) {
	now := time.Date(2026, 11, 22, 1, 2, 3, 0, time.UTC)
	small := json.RawMessage(`{"a":1}`)
	big := json.RawMessage(`{"text":"` + strings.Repeat("lorem ipsum ", 200) + `"}`)
	for _, tc := range []struct {
		input      json.RawMessage
		compressed bool
	}{{small, false}, {big, true}} {
		x := &Execution{ID: "c.x", Chain: "c", Version: 1, Status: asl.StatusRunning, Input: tc.input, Started: now,
			State: asl.NewExecution(rootInfo("c", "x", now), tc.input)}
		data, err := encodeExecution(x, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := data[0] == compressedMark; got != tc.compressed {
			t.Fatalf("%d-byte input: compressed %v, want %v", len(tc.input), got, tc.compressed)
		}
		if tc.compressed && len(data) > len(tc.input)/2 {
			t.Errorf("compressed to %d bytes from an input of %d", len(data), len(tc.input))
		}
		y, err := decodeExecution(data)
		if err != nil || !bytes.Equal(y.Input, tc.input) || !stillRunning(data) {
			t.Fatalf("round trip: %v %s running=%v", err, y.Input, stillRunning(data))
		}
		x.Status = asl.StatusSucceeded
		if data, _ = encodeExecution(x, nil); stillRunning(data) {
			t.Fatal("a succeeded execution reads as running")
		}
	}
	if _, err := decodeExecution([]byte{compressedMark, 0xff, 0xff}); err == nil {
		t.Fatal("a corrupt compressed snapshot decoded")
	}
}
