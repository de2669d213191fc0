package asl

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// persistingDriver drives Step the way a durable executor would: one
// event at a time, with every Execution round-tripped through JSON between
// steps, children kept in a table keyed by parent and index, and no
// goroutines. It proves the state really is all in the Execution.
type persistingDriver struct {
	t        *testing.T
	m        *Machine
	store    map[string][]byte // key -> marshalled Execution
	now      time.Time
	tasks    func(call *TaskCall) Event
	entered  []string
	decision []DecisionKind
}

func (d *persistingDriver) save(key string, ex *Execution) {
	b, err := json.Marshal(ex)
	if err != nil {
		d.t.Fatalf("marshalling execution: %v", err)
	}
	d.store[key] = b
}

func (d *persistingDriver) load(key string) *Execution {
	var ex Execution
	if err := json.Unmarshal(d.store[key], &ex); err != nil {
		d.t.Fatalf("unmarshalling execution: %v", err)
	}
	return &ex
}

// drive runs the execution stored at key to its end and returns it.
func (d *persistingDriver) drive(key string, ev Event) *Execution {
	for {
		ex := d.load(key)
		ev.Time = d.now
		dec, err := d.m.Step(ex, ev)
		if err != nil {
			d.t.Fatalf("Step: %v", err)
		}
		if _, err := json.Marshal(dec); err != nil {
			d.t.Fatalf("marshalling decision: %v", err)
		}
		d.save(key, ex)
		d.decision = append(d.decision, dec.Kind)
		for _, e := range dec.Events {
			if len(e.Type) > 12 && e.Type[len(e.Type)-12:] == "StateEntered" {
				d.entered = append(d.entered, e.Name)
			}
		}
		switch dec.Kind {
		case DecideSucceed, DecideFail:
			return ex
		case DecideContinue:
			ev = Event{Kind: EventContinue}
		case DecideRunTask:
			ev = d.tasks(dec.Task)
		case DecideWait:
			if dec.Until.After(d.now) {
				d.now = dec.Until
			}
			ev = Event{Kind: EventTimerFired}
		case DecideStartChildren:
			// Run the first new child to completion (sequentially) and
			// report it; the others stay pending in the store.
			for _, c := range dec.Children {
				d.save(fmt.Sprintf("%s/%d", key, c.Index), c)
			}
			ev = d.finishOne(key, ex)
		case DecideAwaitChildren:
			ev = d.finishOne(key, ex)
		}
	}
}

// finishOne runs the lowest-numbered unfinished child of parent.
func (d *persistingDriver) finishOne(key string, parent *Execution) Event {
	for i := range parent.Fanout.Done {
		ck := fmt.Sprintf("%s/%d", key, i)
		if parent.Fanout.Done[i] {
			continue
		}
		if _, ok := d.store[ck]; !ok {
			continue
		}
		child := d.drive(ck, Event{Kind: EventStart})
		delete(d.store, ck)
		if child.Status == StatusSucceeded {
			return Event{Kind: EventChildSucceeded, Child: i, Output: child.Output}
		}
		return Event{Kind: EventChildFailed, Child: i, Error: child.Error, Cause: child.Cause}
	}
	d.t.Fatalf("no child to finish")
	return Event{}
}

func TestStepIsResumableFromJSON(t *testing.T) {
	m := MustParse([]byte(`{"StartAt":"Init","States":{
		"Init":{"Type":"Pass","Assign":{"factor":10},"Next":"Fan"},
		"Fan":{"Type":"Map","MaxConcurrency":2,"ItemsPath":"$.xs","ItemProcessor":{"StartAt":"Mul","States":{
			"Mul":{"Type":"Task","Resource":"fn:mul","Parameters":{"x.$":"$","f.$":"$factor"},"Retry":[{"ErrorEquals":["Flaky"],"IntervalSeconds":5}],"Next":"Nap"},
			"Nap":{"Type":"Wait","Seconds":60,"End":true}}},"ResultPath":"$.out","Next":"Both"},
		"Both":{"Type":"Parallel","Branches":[
			{"StartAt":"L","States":{"L":{"Type":"Pass","InputPath":"$.out[0]","End":true}}},
			{"StartAt":"R","States":{"R":{"Type":"Pass","InputPath":"$.out[2]","End":true}}}],"End":true}}}`))
	attempts := map[string]int{}
	d := &persistingDriver{t: t, m: m, store: map[string][]byte{}, now: epoch, tasks: func(call *TaskCall) Event {
		var in struct{ X, F float64 }
		if err := json.Unmarshal(call.Input, &in); err != nil {
			t.Fatalf("task input %s: %v", call.Input, err)
		}
		k := string(call.Input)
		attempts[k]++
		if in.X == 2 && attempts[k] == 1 {
			return Event{Kind: EventTaskFailed, Error: "Flaky", Cause: "first try"}
		}
		return Event{Kind: EventTaskSucceeded, Output: valueToRaw(in.X * in.F)}
	}}
	d.save("root", NewExecution(ExecutionInfo{Name: "e1", StartTime: epoch}, json.RawMessage(`{"xs":[1,2,3]}`)))
	ex := d.drive("root", Event{Kind: EventStart})
	if ex.Status != StatusSucceeded {
		t.Fatalf("status %s: %s %s", ex.Status, ex.Error, ex.Cause)
	}
	if want := `[10,30]`; !jsonEqual(rawToValue(ex.Output), mustValue(t, want)) {
		t.Fatalf("output %s, want %s", ex.Output, want)
	}
	if got := d.now.Sub(epoch); got != 185*time.Second { // 3 × 60 s waits run one after another here, + 5 s retry
		t.Fatalf("virtual time %v, want 185s", got)
	}
	if len(d.entered) != 11 { // Init Fan 3×(Mul Nap) Both L R
		t.Fatalf("entered %v", d.entered)
	}
}

func TestStepRejectsUnexpectedEvents(t *testing.T) {
	m := MustParse([]byte(`{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"End":true}}}`))
	ex := NewExecution(ExecutionInfo{}, nil)
	if _, err := m.Step(ex, Event{Kind: EventTaskSucceeded}); err == nil {
		t.Fatalf("a task result before Start was accepted")
	}
	d, err := m.Step(ex, Event{Kind: EventStart, Time: epoch})
	if err != nil || d.Kind != DecideWait || !d.Until.Equal(epoch.Add(time.Second)) {
		t.Fatalf("decision %+v, %v", d, err)
	}
	if _, err := m.Step(ex, Event{Kind: EventTaskSucceeded, Time: epoch}); err == nil {
		t.Fatalf("a task result while waiting was accepted")
	}
	if _, err := m.Step(ex, Event{Kind: EventStart, Time: epoch}); err == nil {
		t.Fatalf("a second Start was accepted")
	}
	d, err = m.Step(ex, Event{Kind: EventTimerFired, Time: epoch.Add(time.Second)})
	if err != nil || d.Kind != DecideSucceed {
		t.Fatalf("decision %+v, %v", d, err)
	}
	types := []string{}
	for _, e := range d.Events {
		types = append(types, e.Type)
	}
	if fmt.Sprint(types) != "[WaitStateExited ExecutionSucceeded]" {
		t.Fatalf("events %v", types)
	}
}

func TestLongPassChainsContinue(t *testing.T) {
	m := MustParse([]byte(`{"StartAt":"A","States":{
		"A":{"Type":"Pass","Result":0,"ResultPath":"$.n","Next":"Inc"},
		"Inc":{"Type":"Pass","Parameters":{"n.$":"States.MathAdd($.n, 1)"},"Next":"Check"},
		"Check":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericGreaterThanEquals":1000,"Next":"Done"}],"Default":"Inc"},
		"Done":{"Type":"Succeed"}}}`))
	ex := NewExecution(ExecutionInfo{}, json.RawMessage(`{}`))
	ev := Event{Kind: EventStart, Time: epoch}
	continues := 0
	for {
		d, err := m.Step(ex, ev)
		if err != nil {
			t.Fatal(err)
		}
		if d.Kind == DecideSucceed {
			break
		}
		if d.Kind != DecideContinue {
			t.Fatalf("decision %s", d.Kind)
		}
		continues++
		ev = Event{Kind: EventContinue, Time: epoch}
	}
	if continues < 5 {
		t.Fatalf("only %d Continue decisions for 2000 transitions", continues)
	}
	if !jsonEqual(rawToValue(ex.Output), mustValue(t, `{"n":1000}`)) {
		t.Fatalf("output %s", ex.Output)
	}
}

// A Task with no data-flow fields passes its input to the function and
// its result on as encoded; a result that is not canonical JSON is
// decoded and encoded again like any other value.
func TestPassthroughTaskKeepsEncodings(t *testing.T) {
	m, err := Parse([]byte(`{"StartAt":"A","States":{
		"A":{"Type":"Task","Resource":"fn:a","Next":"B"},
		"B":{"Type":"Task","Resource":"fn:b","End":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ result, want string }{
		{`{"a":1,"b":[true,null]}`, `{"a":1,"b":[true,null]}`},
		{`{"b": 1, "a": 2}`, `{"a":2,"b":1}`},
		{`"x"`, `"x"`},
	} {
		now := time.Unix(1700000000, 0).UTC()
		ex := NewExecution(ExecutionInfo{ID: "x", Name: "x", StartTime: now}, json.RawMessage(`{"in":1}`))
		d, err := m.Step(ex, Event{Kind: EventStart, Time: now})
		if err != nil || d.Kind != DecideRunTask || string(d.Task.Input) != `{"in":1}` {
			t.Fatalf("start: %v %+v", err, d)
		}
		d, err = m.Step(ex, Event{Kind: EventTaskSucceeded, Time: now, Output: json.RawMessage(tc.result)})
		if err != nil || d.Kind != DecideRunTask {
			t.Fatalf("A succeeded: %v %+v", err, d)
		}
		if got := string(d.Task.Input); got != tc.want {
			t.Errorf("result %s: B's task input = %s, want %s", tc.result, got, tc.want)
		}
		if got := string(ex.Input); got != tc.want {
			t.Errorf("result %s: B's input = %s, want %s", tc.result, got, tc.want)
		}
		d, err = m.Step(ex, Event{Kind: EventTaskSucceeded, Time: now, Output: json.RawMessage(tc.result)})
		if err != nil || d.Kind != DecideSucceed || string(d.Output) != tc.want {
			t.Fatalf("B succeeded: %v %+v", err, d)
		}
		var types []string
		for _, e := range d.Events {
			types = append(types, e.Type)
			if e.Type == "TaskStateExited" && string(e.Output) != tc.want {
				t.Errorf("result %s: %s output = %s", tc.result, e.Type, e.Output)
			}
		}
		if fmt.Sprint(types) != "[TaskSucceeded TaskStateExited ExecutionSucceeded]" {
			t.Errorf("events = %v", types)
		}
	}
}
