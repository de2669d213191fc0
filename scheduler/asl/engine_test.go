package asl

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fnInvoker dispatches "fn:NAME" targets to Go functions.
type fnInvoker map[string]func(ctx context.Context, in any) (any, error)

func (f fnInvoker) Invoke(ctx context.Context, target string, input json.RawMessage) (json.RawMessage, error) {
	name, _, _ := ParseFunctionRef(target)
	h, ok := f[name]
	if !ok {
		return nil, &TaskError{Name: "NoSuchFunction", Cause: target}
	}
	out, err := h(ctx, rawToValue(input))
	if err != nil {
		return nil, err
	}
	return valueToRaw(out), nil
}

func run(t *testing.T, def, input string, inv TaskInvoker) *Result {
	t.Helper()
	m, err := Parse([]byte(def))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	res, err := Run(context.Background(), m, json.RawMessage(input), RunOptions{Invoker: inv, Clock: NewInstantClock(epoch)})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

type outcomeWant struct {
	status  Status
	output  string // JSON when succeeded
	err     string // error name when failed
	cause   string // substring of the cause
	entered string // comma-separated states entered, when set
}

func check(t *testing.T, res *Result, w outcomeWant) {
	t.Helper()
	if w.status == "" {
		w.status = StatusSucceeded
	}
	if res.Status != w.status {
		t.Fatalf("status %s (%s: %s), want %s", res.Status, res.Error, res.Cause, w.status)
	}
	if w.status == StatusSucceeded && w.output != "" {
		if !jsonEqual(rawToValue(res.Output), mustValue(t, w.output)) {
			t.Fatalf("output %s, want %s", res.Output, w.output)
		}
	}
	if w.err != "" && res.Error != w.err {
		t.Fatalf("error %q (cause %q), want %q", res.Error, res.Cause, w.err)
	}
	if w.cause != "" && !strings.Contains(res.Cause, w.cause) {
		t.Fatalf("cause %q, want it to contain %q", res.Cause, w.cause)
	}
	if w.entered != "" && strings.Join(res.StatesEntered, ",") != w.entered {
		t.Fatalf("entered %v, want %s", res.StatesEntered, w.entered)
	}
}

func TestPassDataFlow(t *testing.T) {
	tests := []struct {
		name, state, input string
		want               outcomeWant
	}{
		{"passes input", `{"Type":"Pass","End":true}`, `{"a":1}`, outcomeWant{output: `{"a":1}`}},
		{"result replaces", `{"Type":"Pass","Result":{"x.$":"$.a"},"End":true}`, `{"a":1}`, outcomeWant{output: `{"x.$":"$.a"}`}},
		{"result path merges", `{"Type":"Pass","Result":2,"ResultPath":"$.b","End":true}`, `{"a":1}`, outcomeWant{output: `{"a":1,"b":2}`}},
		{"result path null keeps input", `{"Type":"Pass","Result":2,"ResultPath":null,"End":true}`, `{"a":1}`, outcomeWant{output: `{"a":1}`}},
		{"input path", `{"Type":"Pass","InputPath":"$.a","End":true}`, `{"a":{"b":1}}`, outcomeWant{output: `{"b":1}`}},
		{"input path null", `{"Type":"Pass","InputPath":null,"End":true}`, `{"a":1}`, outcomeWant{output: `{}`}},
		{"output path", `{"Type":"Pass","OutputPath":"$.a.b","End":true}`, `{"a":{"b":[1]}}`, outcomeWant{output: `[1]`}},
		{"output path null", `{"Type":"Pass","OutputPath":null,"End":true}`, `{"a":1}`, outcomeWant{output: `{}`}},
		{"parameters", `{"Type":"Pass","Parameters":{"k":"v","n.$":"$.a","deep":{"c.$":"$$.State.Name","l":[{"x.$":"$.a"}]},"f.$":"States.Format('{}!', $.a)"},"End":true}`, `{"a":1}`,
			outcomeWant{output: `{"k":"v","n":1,"deep":{"c":"S","l":[{"x":1}]},"f":"1!"}`}},
		{"parameters then result path", `{"Type":"Pass","Parameters":{"n.$":"$.a"},"ResultPath":"$.p","End":true}`, `{"a":1}`, outcomeWant{output: `{"a":1,"p":{"n":1}}`}},
		{"missing parameter path", `{"Type":"Pass","Parameters":{"n.$":"$.zz"},"End":true}`, `{"a":1}`,
			outcomeWant{status: StatusFailed, err: ErrorRuntime, cause: `The JSONPath '$.zz' specified for the field 'n.$' could not be found in the input '{"a":1}'`}},
		{"missing input path", `{"Type":"Pass","InputPath":"$.zz","End":true}`, `{}`,
			outcomeWant{status: StatusFailed, err: ErrorRuntime, cause: "An error occurred while executing the state 'S' (entered at the event id #2). Invalid path '$.zz' : Missing property in path $['zz']"}},
		{"result path on scalar", `{"Type":"Pass","Result":1,"ResultPath":"$.x","End":true}`, `"str"`, outcomeWant{status: StatusFailed, err: ErrorResultPathMatchFailure}},
		{"intrinsic failure", `{"Type":"Pass","Parameters":{"x.$":"States.ArrayGetItem($.a, 5)"},"End":true}`, `{"a":[1]}`, outcomeWant{status: StatusFailed, err: ErrorIntrinsicFailure}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, `{"StartAt":"S","States":{"S":`+tt.state+`}}`, tt.input, nil)
			check(t, res, tt.want)
		})
	}
}

func TestChoiceOperators(t *testing.T) {
	input := `{"s":"abc","n":5,"f":1.5,"b":true,"t":"2024-01-02T03:04:05Z","t2":"2024-01-02T03:04:06+00:00","z":null,"o":{},"star":"a*b","other":"abc","five":5}`
	tests := []struct {
		rule string
		want bool
	}{
		{`"Variable":"$.s","StringEquals":"abc"`, true},
		{`"Variable":"$.n","StringEquals":"5"`, false},
		{`"Variable":"$.s","StringEqualsPath":"$.other"`, true},
		{`"Variable":"$.s","StringLessThan":"abd"`, true},
		{`"Variable":"$.s","StringGreaterThan":"abc"`, false},
		{`"Variable":"$.s","StringLessThanEquals":"abc"`, true},
		{`"Variable":"$.s","StringGreaterThanEquals":"abd"`, false},
		{`"Variable":"$.s","StringMatches":"a*"`, true},
		{`"Variable":"$.s","StringMatches":"*c"`, true},
		{`"Variable":"$.s","StringMatches":"a*d"`, false},
		{`"Variable":"$.star","StringMatches":"a\\*b"`, true},
		{`"Variable":"$.s","StringMatches":"a\\*c"`, false},
		{`"Variable":"$.n","NumericEquals":5.0`, true},
		{`"Variable":"$.n","NumericEqualsPath":"$.five"`, true},
		{`"Variable":"$.f","NumericLessThan":2`, true},
		{`"Variable":"$.f","NumericGreaterThan":1.5`, false},
		{`"Variable":"$.f","NumericGreaterThanEquals":1.5`, true},
		{`"Variable":"$.n","NumericLessThanEquals":4`, false},
		{`"Variable":"$.s","NumericEquals":5`, false},
		{`"Variable":"$.b","BooleanEquals":true`, true},
		{`"Variable":"$.b","BooleanEqualsPath":"$.b"`, true},
		{`"Variable":"$.t","TimestampEquals":"2024-01-02T04:04:05+01:00"`, true},
		{`"Variable":"$.t","TimestampLessThan":"2024-01-02T03:04:06Z"`, true},
		{`"Variable":"$.t","TimestampGreaterThanPath":"$.t2"`, false},
		{`"Variable":"$.t","TimestampLessThanEqualsPath":"$.t2"`, true},
		{`"Variable":"$.t","TimestampGreaterThanEquals":"2024-01-02T03:04:05Z"`, true},
		{`"Variable":"$.s","TimestampEquals":"2024-01-02T03:04:05Z"`, false},
		{`"Variable":"$.z","IsNull":true`, true},
		{`"Variable":"$.s","IsNull":true`, false},
		{`"Variable":"$.missing","IsPresent":false`, true},
		{`"Variable":"$.s","IsPresent":true`, true},
		{`"Variable":"$.f","IsNumeric":true`, true},
		{`"Variable":"$.s","IsString":true`, true},
		{`"Variable":"$.o","IsString":false`, true},
		{`"Variable":"$.b","IsBoolean":true`, true},
		{`"Variable":"$.t","IsTimestamp":true`, true},
		{`"Variable":"$.s","IsTimestamp":true`, false},
		{`"And":[{"Variable":"$.n","NumericEquals":5},{"Variable":"$.b","BooleanEquals":true}]`, true},
		{`"And":[{"Variable":"$.n","NumericEquals":5},{"Variable":"$.b","BooleanEquals":false}]`, false},
		{`"Or":[{"Variable":"$.n","NumericEquals":4},{"Variable":"$.b","BooleanEquals":true}]`, true},
		{`"Not":{"Variable":"$.n","NumericEquals":4}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			def := `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{` + tt.rule + `,"Next":"Yes"}],"Default":"No"},
				"Yes":{"Type":"Pass","Result":true,"End":true},"No":{"Type":"Pass","Result":false,"End":true}}}`
			res := run(t, def, input, nil)
			check(t, res, outcomeWant{output: fmt.Sprint(tt.want)})
		})
	}
}

func TestChoiceErrors(t *testing.T) {
	t.Run("no match without default", func(t *testing.T) {
		res := run(t, `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsNull":true,"Next":"D"}]},"D":{"Type":"Succeed"}}}`, `{"a":1}`, nil)
		check(t, res, outcomeWant{status: StatusFailed, err: ErrorNoChoiceMatched})
	})
	t.Run("missing variable", func(t *testing.T) {
		res := run(t, `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.nope","NumericEquals":1,"Next":"D"}],"Default":"D"},"D":{"Type":"Succeed"}}}`, `{}`, nil)
		check(t, res, outcomeWant{status: StatusFailed, err: ErrorRuntime, cause: "Invalid path '$.nope'"})
	})
	t.Run("assign from matched rule or default", func(t *testing.T) {
		def := `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","NumericEquals":1,"Assign":{"which":"rule"},"Next":"D"}],"Default":"D","Assign":{"which":"default"}},
			"D":{"Type":"Pass","Parameters":{"w.$":"$which"},"End":true}}}`
		check(t, run(t, def, `{"a":1}`, nil), outcomeWant{output: `{"w":"rule"}`})
		check(t, run(t, def, `{"a":2}`, nil), outcomeWant{output: `{"w":"default"}`})
	})
}

func TestWait(t *testing.T) {
	tests := []struct {
		name, state, input string
		after              time.Duration
		want               outcomeWant
	}{
		{"seconds", `{"Type":"Wait","Seconds":90,"End":true}`, `{}`, 90 * time.Second, outcomeWant{output: `{}`}},
		{"seconds path", `{"Type":"Wait","SecondsPath":"$.s","End":true}`, `{"s":30}`, 30 * time.Second, outcomeWant{output: `{"s":30}`}},
		{"timestamp", `{"Type":"Wait","Timestamp":"2026-01-02T04:04:05Z","End":true}`, `{}`, time.Hour, outcomeWant{}},
		{"timestamp path in the past", `{"Type":"Wait","TimestampPath":"$.t","End":true}`, `{"t":"2020-01-01T00:00:00Z"}`, 0, outcomeWant{}},
		{"bad timestamp path", `{"Type":"Wait","TimestampPath":"$.t","End":true}`, `{"t":"2020-01-01 00:00"}`, 0,
			outcomeWant{status: StatusFailed, err: ErrorRuntime, cause: "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: $.t == 2020-01-01 00:00"}},
		{"negative seconds path", `{"Type":"Wait","SecondsPath":"$.s","End":true}`, `{"s":-1}`, 0, outcomeWant{status: StatusFailed, err: ErrorRuntime}},
		{"too long", `{"Type":"Wait","Timestamp":"2099-01-01T00:00:00Z","End":true}`, `{}`, 0, outcomeWant{status: StatusFailed, err: ErrorRuntime, cause: "Wait state delay is too long."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := MustParse([]byte(`{"StartAt":"W","States":{"W":` + tt.state + `}}`))
			clock := NewInstantClock(epoch)
			res, err := Run(context.Background(), m, json.RawMessage(tt.input), RunOptions{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			check(t, res, tt.want)
			if got := clock.Now().Sub(epoch); got != tt.after {
				t.Fatalf("clock advanced %v, want %v", got, tt.after)
			}
		})
	}
}

func TestFailAndSucceed(t *testing.T) {
	check(t, run(t, `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Boom","Cause":"because"}}}`, `{}`, nil),
		outcomeWant{status: StatusFailed, err: "Boom", cause: "because"})
	check(t, run(t, `{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.e","CausePath":"States.Format('code {}', $.c)"}}}`, `{"e":"E1","c":7}`, nil),
		outcomeWant{status: StatusFailed, err: "E1", cause: "code 7"})
	check(t, run(t, `{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.e"}}}`, `{"e":1}`, nil),
		outcomeWant{status: StatusFailed, err: ErrorRuntime})
	check(t, run(t, `{"StartAt":"S","States":{"S":{"Type":"Succeed","InputPath":"$.a","OutputPath":"$.b"}}}`, `{"a":{"b":2}}`, nil),
		outcomeWant{output: `2`})
}

func TestTaskResources(t *testing.T) {
	var got []string
	var mu sync.Mutex
	inv := TaskInvokerFunc(func(_ context.Context, target string, input json.RawMessage) (json.RawMessage, error) {
		mu.Lock()
		got = append(got, target+" "+string(input))
		mu.Unlock()
		return json.RawMessage(`{"ok":true}`), nil
	})
	tests := []struct {
		name, state, target, output string
	}{
		{"fn", `{"Type":"Task","Resource":"fn:resize","End":true}`, `fn:resize {"a":1}`, `{"ok":true}`},
		{"fn alias", `{"Type":"Task","Resource":"fn:resize:live","End":true}`, `fn:resize:live {"a":1}`, `{"ok":true}`},
		{"fn version", `{"Type":"Task","Resource":"fn:resize:3","End":true}`, `fn:resize:3 {"a":1}`, `{"ok":true}`},
		{"lambda arn", `{"Type":"Task","Resource":"arn:aws:lambda:eu-west-1:123456789012:function:resize","End":true}`, `fn:resize {"a":1}`, `{"ok":true}`},
		{"lambda arn qualifier", `{"Type":"Task","Resource":"arn:aws:lambda:eu-west-1:123456789012:function:resize:prod","End":true}`, `fn:resize:prod {"a":1}`, `{"ok":true}`},
		{"lambda invoke", `{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"arn:aws:lambda:eu-west-1:1:function:resize:2","Payload":{"in.$":"$.a"}},"End":true}`,
			`fn:resize:2 {"in":1}`, `{"ExecutedVersion":"2","Payload":{"ok":true},"StatusCode":200}`},
		{"lambda invoke payload selector", `{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"resize","Payload.$":"$"},"ResultSelector":{"r.$":"$.Payload.ok"},"End":true}`,
			`fn:resize {"a":1}`, `{"r":true}`},
		{"other resource", `{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","Parameters":{"x":1},"End":true}`, `arn:aws:states:::sqs:sendMessage {"x":1}`, `{"ok":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			res := run(t, `{"StartAt":"T","States":{"T":`+tt.state+`}}`, `{"a":1}`, inv)
			check(t, res, outcomeWant{output: tt.output})
			if len(got) != 1 || got[0] != tt.target {
				t.Fatalf("invoked %v, want [%s]", got, tt.target)
			}
		})
	}
}

func TestParseFunctionRef(t *testing.T) {
	tests := []struct{ ref, name, qual string }{
		{"fn:a", "a", ""},
		{"fn:a:live", "a", "live"},
		{"arn:aws:lambda:us-east-1:1:function:a", "a", ""},
		{"arn:aws:lambda:us-east-1:1:function:a:$LATEST", "a", "$LATEST"},
		{"1:function:a:3", "a", "3"},
		{"a:7", "a", "7"},
		{"a", "a", ""},
	}
	for _, tt := range tests {
		n, q, ok := ParseFunctionRef(tt.ref)
		if !ok || n != tt.name || q != tt.qual {
			t.Errorf("ParseFunctionRef(%q) = %q, %q, %v", tt.ref, n, q, ok)
		}
	}
	if _, _, ok := ParseFunctionRef("arn:aws:s3:::bucket"); ok {
		t.Errorf("an S3 ARN parsed as a function")
	}
}

func TestRetryAndCatch(t *testing.T) {
	var calls atomic.Int32
	flaky := fnInvoker{"flaky": func(_ context.Context, in any) (any, error) {
		if calls.Add(1) < 3 {
			return nil, &TaskError{Name: "Transient", Cause: "try again"}
		}
		return "ok", nil
	}, "broken": func(context.Context, any) (any, error) {
		return nil, &TaskError{Name: "Broken", Cause: "always"}
	}, "plain": func(context.Context, any) (any, error) {
		return nil, fmt.Errorf("plain error")
	}}
	t.Run("retries until success with back-off", func(t *testing.T) {
		calls.Store(0)
		m := MustParse([]byte(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:flaky","Retry":[{"ErrorEquals":["Transient"],"IntervalSeconds":2,"BackoffRate":3,"MaxAttempts":5}],"End":true}}}`))
		clock := NewInstantClock(epoch)
		res, err := Run(context.Background(), m, nil, RunOptions{Invoker: flaky, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		check(t, res, outcomeWant{output: `"ok"`})
		if got := clock.Now().Sub(epoch); got != 8*time.Second { // 2 + 2*3
			t.Fatalf("waited %v, want 8s", got)
		}
	})
	t.Run("max delay caps back-off", func(t *testing.T) {
		calls.Store(0)
		m := MustParse([]byte(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:flaky","Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":10,"BackoffRate":10,"MaxDelaySeconds":15}],"End":true}}}`))
		clock := NewInstantClock(epoch)
		res, _ := Run(context.Background(), m, nil, RunOptions{Invoker: flaky, Clock: clock})
		check(t, res, outcomeWant{})
		if got := clock.Now().Sub(epoch); got != 25*time.Second {
			t.Fatalf("waited %v, want 25s", got)
		}
	})
	t.Run("full jitter never waits longer", func(t *testing.T) {
		calls.Store(0)
		m := MustParse([]byte(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:flaky","Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":10,"JitterStrategy":"FULL"}],"End":true}}}`))
		clock := NewInstantClock(epoch)
		res, _ := Run(context.Background(), m, nil, RunOptions{Invoker: flaky, Clock: clock})
		check(t, res, outcomeWant{})
		if got := clock.Now().Sub(epoch); got > 30*time.Second {
			t.Fatalf("waited %v, want at most 30s", got)
		}
	})
	t.Run("exhausted retries then catch", func(t *testing.T) {
		res := run(t, `{"StartAt":"T","States":{
			"T":{"Type":"Task","Resource":"fn:broken","Retry":[{"ErrorEquals":["Broken"],"MaxAttempts":2,"IntervalSeconds":1}],
				"Catch":[{"ErrorEquals":["Other"],"Next":"Wrong"},{"ErrorEquals":["States.TaskFailed"],"ResultPath":"$.err","Next":"Handled"}],"End":true},
			"Wrong":{"Type":"Fail"},"Handled":{"Type":"Pass","End":true}}}`, `{"in":1}`, flaky)
		check(t, res, outcomeWant{output: `{"in":1,"err":{"Error":"Broken","Cause":"always"}}`, entered: "T,Handled"})
		n := 0
		for _, e := range res.History {
			if e.Type == "TaskScheduled" {
				n++
			}
		}
		if n != 3 {
			t.Fatalf("scheduled %d times, want 3", n)
		}
	})
	t.Run("max attempts zero never retries", func(t *testing.T) {
		res := run(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:broken","Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":0}],"End":true}}}`, `{}`, flaky)
		check(t, res, outcomeWant{status: StatusFailed, err: "Broken", cause: "always"})
	})
	t.Run("first matching retrier only", func(t *testing.T) {
		calls.Store(0)
		res := run(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:flaky","Retry":[{"ErrorEquals":["Transient"],"MaxAttempts":1},{"ErrorEquals":["States.ALL"],"MaxAttempts":5}],"End":true}}}`, `{}`, flaky)
		check(t, res, outcomeWant{status: StatusFailed, err: "Transient"})
	})
	t.Run("plain errors are States.TaskFailed", func(t *testing.T) {
		res := run(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:plain","End":true}}}`, `{}`, flaky)
		check(t, res, outcomeWant{status: StatusFailed, err: ErrorTaskFailed, cause: "plain error"})
	})
	t.Run("runtime errors are not caught", func(t *testing.T) {
		res := run(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:flaky","InputPath":"$.nope","Catch":[{"ErrorEquals":["States.Runtime"],"Next":"H"},{"ErrorEquals":["States.ALL"],"Next":"H"}],"End":true},"H":{"Type":"Succeed"}}}`, `{}`, flaky)
		check(t, res, outcomeWant{status: StatusFailed, err: ErrorRuntime})
	})
	t.Run("catch assign sees the error output", func(t *testing.T) {
		res := run(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:broken","Catch":[{"ErrorEquals":["States.ALL"],"Assign":{"why.$":"$.Cause"},"ResultPath":null,"Next":"H"}],"End":true},
			"H":{"Type":"Pass","Parameters":{"why.$":"$why","in.$":"$"},"End":true}}}`, `{"x":1}`, flaky)
		check(t, res, outcomeWant{output: `{"why":"always","in":{"x":1}}`})
	})
}

func TestTaskTimeout(t *testing.T) {
	slow := fnInvoker{"slow": func(ctx context.Context, _ any) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	res := run(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:slow","TimeoutSeconds":1,"Catch":[{"ErrorEquals":["States.TaskFailed"],"Next":"Wrong"},{"ErrorEquals":["States.Timeout"],"Next":"Timed"}],"End":true},
		"Wrong":{"Type":"Fail"},"Timed":{"Type":"Pass","End":true}}}`, `{}`, slow)
	check(t, res, outcomeWant{output: `{"Error":"States.Timeout","Cause":"the task did not finish within 1 seconds"}`, entered: "T,Timed"})
}

func TestParallel(t *testing.T) {
	t.Run("results in branch order", func(t *testing.T) {
		res := run(t, `{"StartAt":"P","States":{"P":{"Type":"Parallel","ResultPath":"$.r","Branches":[
			{"StartAt":"A","States":{"A":{"Type":"Pass","Result":"a","End":true}}},
			{"StartAt":"B","States":{"B":{"Type":"Wait","Seconds":5,"Next":"B2"},"B2":{"Type":"Pass","InputPath":"$.x","End":true}}}],"End":true}}}`, `{"x":1}`, nil)
		check(t, res, outcomeWant{output: `{"x":1,"r":["a",1]}`})
	})
	t.Run("branch failure fails the state", func(t *testing.T) {
		res := run(t, `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[
			{"StartAt":"A","States":{"A":{"Type":"Wait","Seconds":100,"End":true}}},
			{"StartAt":"B","States":{"B":{"Type":"Fail","Error":"BErr","Cause":"b"}}}],"End":true}}}`, `{}`, nil)
		check(t, res, outcomeWant{status: StatusFailed, err: "BErr", cause: "b"})
	})
	t.Run("branch failure caught", func(t *testing.T) {
		res := run(t, `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[
			{"StartAt":"B","States":{"B":{"Type":"Fail","Error":"BErr","Cause":"b"}}}],
			"Catch":[{"ErrorEquals":["States.ALL"],"Next":"H"}],"End":true},"H":{"Type":"Pass","End":true}}}`, `{}`, nil)
		check(t, res, outcomeWant{output: `{"Error":"BErr","Cause":"b"}`})
	})
	t.Run("parameters and result selector", func(t *testing.T) {
		res := run(t, `{"StartAt":"P","States":{"P":{"Type":"Parallel","Parameters":{"v.$":"$.x"},"ResultSelector":{"first.$":"$[0].v"},"Branches":[
			{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}],"End":true}}}`, `{"x":7}`, nil)
		check(t, res, outcomeWant{output: `{"first":7}`})
	})
}

func TestMap(t *testing.T) {
	double := fnInvoker{"double": func(_ context.Context, in any) (any, error) {
		f, _ := toFloat(in)
		return f * 2, nil
	}, "failOdd": func(_ context.Context, in any) (any, error) {
		n, _ := toInt(in)
		if n%2 == 1 {
			return nil, &TaskError{Name: "Odd", Cause: fmt.Sprint(n)}
		}
		return n, nil
	}}
	t.Run("items path and task", func(t *testing.T) {
		res := run(t, `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","ResultPath":"$.ys","ItemProcessor":{"StartAt":"D","States":{"D":{"Type":"Task","Resource":"fn:double","End":true}}},"End":true}}}`, `{"xs":[1,2,3]}`, double)
		check(t, res, outcomeWant{output: `{"xs":[1,2,3],"ys":[2,4,6]}`})
	})
	t.Run("item selector with context", func(t *testing.T) {
		res := run(t, `{"StartAt":"M","States":{"M":{"Type":"Map","ItemSelector":{"i.$":"$$.Map.Item.Index","v.$":"$$.Map.Item.Value","k.$":"$.k"},"ItemsPath":"$.xs","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`, `{"xs":["a","b"],"k":1}`, nil)
		check(t, res, outcomeWant{output: `[{"i":0,"v":"a","k":1},{"i":1,"v":"b","k":1}]`})
	})
	t.Run("empty items", func(t *testing.T) {
		res := run(t, `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`, `[]`, nil)
		check(t, res, outcomeWant{output: `[]`})
	})
	t.Run("not an array", func(t *testing.T) {
		res := run(t, `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`, `{"a":1}`, nil)
		check(t, res, outcomeWant{status: StatusFailed, err: ErrorRuntime, cause: "Map state input must be an array"})
	})
	t.Run("failure caught", func(t *testing.T) {
		res := run(t, `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"F","States":{"F":{"Type":"Task","Resource":"fn:failOdd","End":true}}},
			"Catch":[{"ErrorEquals":["Odd"],"Next":"H"}],"End":true},"H":{"Type":"Pass","End":true}}}`, `[2,3,4]`, double)
		check(t, res, outcomeWant{output: `{"Error":"Odd","Cause":"3"}`})
	})
	t.Run("tolerated failures", func(t *testing.T) {
		res := run(t, `{"StartAt":"M","States":{"M":{"Type":"Map","ToleratedFailureCount":2,"ItemProcessor":{"StartAt":"F","States":{"F":{"Type":"Task","Resource":"fn:failOdd","End":true}}},"End":true}}}`, `[1,2,3]`, double)
		check(t, res, outcomeWant{output: `[{"Error":"Odd","Cause":"1"},2,{"Error":"Odd","Cause":"3"}]`})
	})
	t.Run("tolerance exceeded", func(t *testing.T) {
		res := run(t, `{"StartAt":"M","States":{"M":{"Type":"Map","ToleratedFailurePercentage":40,"MaxConcurrency":1,"ItemProcessor":{"StartAt":"F","States":{"F":{"Type":"Task","Resource":"fn:failOdd","End":true}}},"End":true}}}`, `[1,2,3,5]`, double)
		check(t, res, outcomeWant{status: StatusFailed, err: ErrorExceedToleratedFailure})
	})
	t.Run("max concurrency bounds parallelism", func(t *testing.T) {
		var cur, peak atomic.Int32
		inv := fnInvoker{"work": func(context.Context, any) (any, error) {
			n := cur.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
			cur.Add(-1)
			return 1, nil
		}}
		res := run(t, `{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":3,"ItemProcessor":{"StartAt":"W","States":{"W":{"Type":"Task","Resource":"fn:work","End":true}}},"End":true}}}`, `[1,2,3,4,5,6,7,8,9,10,11,12]`, inv)
		check(t, res, outcomeWant{output: `[1,1,1,1,1,1,1,1,1,1,1,1]`})
		if p := peak.Load(); p > 3 || p < 1 {
			t.Fatalf("peak concurrency %d, want 1..3", p)
		}
	})
	t.Run("max concurrency path", func(t *testing.T) {
		res := run(t, `{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrencyPath":"$.mc","ItemsPath":"$.xs","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`, `{"mc":"x","xs":[1]}`, nil)
		check(t, res, outcomeWant{status: StatusFailed, err: ErrorRuntime, cause: `The MaxConcurrencyPath field refers to value "x" which is not a valid integer: $.mc`})
	})
}

func TestVariables(t *testing.T) {
	t.Run("assign then read", func(t *testing.T) {
		res := run(t, `{"StartAt":"A","States":{
			"A":{"Type":"Pass","Assign":{"x":1,"y.$":"$.in","z.$":"States.MathAdd($.in, 1)"},"Next":"B"},
			"B":{"Type":"Pass","Parameters":{"x.$":"$x","y.$":"$y","z.$":"$z"},"End":true}}}`, `{"in":5}`, nil)
		check(t, res, outcomeWant{output: `{"x":1,"y":5,"z":6}`})
	})
	t.Run("assignments see old values", func(t *testing.T) {
		res := run(t, `{"StartAt":"A","States":{
			"A":{"Type":"Pass","Assign":{"x":1},"Next":"B"},
			"B":{"Type":"Pass","Assign":{"x":2,"old.$":"$x"},"Next":"C"},
			"C":{"Type":"Pass","Parameters":{"x.$":"$x","old.$":"$old"},"End":true}}}`, `{}`, nil)
		check(t, res, outcomeWant{output: `{"x":2,"old":1}`})
	})
	t.Run("task assign sees the result", func(t *testing.T) {
		inv := fnInvoker{"f": func(context.Context, any) (any, error) { return map[string]any{"r": "res"}, nil }}
		res := run(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:f","Assign":{"got.$":"$.r"},"ResultPath":null,"Next":"P"},
			"P":{"Type":"Pass","Parameters":{"got.$":"$got"},"End":true}}}`, `{}`, inv)
		check(t, res, outcomeWant{output: `{"got":"res"}`})
	})
	t.Run("inner scopes read outer, do not write it", func(t *testing.T) {
		res := run(t, `{"StartAt":"A","States":{
			"A":{"Type":"Pass","Assign":{"outer":"o"},"Next":"M"},
			"M":{"Type":"Map","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","Assign":{"inner.$":"$outer"},"Next":"J"},"J":{"Type":"Pass","Parameters":{"v.$":"$inner"},"End":true}}},"Next":"Z"},
			"Z":{"Type":"Pass","Parameters":{"outer.$":"$outer","r.$":"$"},"End":true}}}`, `[1,2]`, nil)
		check(t, res, outcomeWant{output: `{"outer":"o","r":[{"v":"o"},{"v":"o"}]}`})
		res = run(t, `{"StartAt":"M","States":{
			"M":{"Type":"Map","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","Assign":{"inner":1},"End":true}}},"Next":"Z"},
			"Z":{"Type":"Pass","Parameters":{"x.$":"$inner"},"End":true}}}`, `[1]`, nil)
		check(t, res, outcomeWant{status: StatusFailed, err: ErrorRuntime})
	})
}

func TestJSONataStates(t *testing.T) {
	tests := []struct {
		name, def, input string
		want             outcomeWant
	}{
		{"output expression", `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":{"sum":"{% $sum($states.input.xs) %}","n":"{% $count($states.input.xs) %}","s":"{% 'n=' & $string($states.input.xs[0]) %}"},"End":true}}}`,
			`{"xs":[1,2,3]}`, outcomeWant{output: `{"sum":6,"n":3,"s":"n=1"}`}},
		{"assign and condition", `{"QueryLanguage":"JSONata","StartAt":"A","States":{
			"A":{"Type":"Pass","Assign":{"limit":"{% $states.input.limit %}"},"Next":"C"},
			"C":{"Type":"Choice","Choices":[{"Condition":"{% $states.input.v > $limit %}","Next":"Big","Output":"big"}],"Default":"Small"},
			"Big":{"Type":"Succeed"},"Small":{"Type":"Pass","Output":"small","End":true}}}`, `{"v":5,"limit":3}`, outcomeWant{output: `"big"`}},
		{"task arguments and result", `{"QueryLanguage":"JSONata","StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:echo","Arguments":{"x":"{% $states.input.a * 10 %}"},"Output":"{% $states.result.x + 1 %}","End":true}}}`,
			`{"a":2}`, outcomeWant{output: `21`}},
		{"catch error output", `{"QueryLanguage":"JSONata","StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:missing","Catch":[{"ErrorEquals":["States.ALL"],"Output":"{% $states.errorOutput.Error %}","Next":"H"}],"End":true},"H":{"Type":"Succeed"}}}`,
			`{}`, outcomeWant{output: `"NoSuchFunction"`}},
		{"undefined is an error", `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% $states.input.nope %}","End":true}}}`,
			`{}`, outcomeWant{status: StatusFailed, err: ErrorQueryEvaluationError, cause: "returned nothing (undefined)"}},
		{"map items", `{"QueryLanguage":"JSONata","StartAt":"M","States":{"M":{"Type":"Map","Items":"{% [1..3] %}","ItemSelector":{"v":"{% $states.context.Map.Item.Value * 2 %}"},"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`,
			`{}`, outcomeWant{output: `[{"v":2},{"v":4},{"v":6}]`}},
		{"fail cause", `{"QueryLanguage":"JSONata","StartAt":"F","States":{"F":{"Type":"Fail","Error":"{% 'E' & $states.input.n %}","Cause":"c"}}}`,
			`{"n":1}`, outcomeWant{status: StatusFailed, err: "E1", cause: "c"}},
	}
	echo := fnInvoker{"echo": func(_ context.Context, in any) (any, error) { return in, nil }}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, run(t, tt.def, tt.input, echo), tt.want)
		})
	}
}

func TestJSONataExpressions(t *testing.T) {
	input := `{"xs":[3,1,2],"o":{"a":1,"b":"two"},"people":[{"name":"ann","age":30},{"name":"bob","age":20}],"s":"Hello World"}`
	tests := []struct {
		expr string
		want string // JSON, or "undefined"
	}{
		{`1 + 2 * 3`, `7`},
		{`(1 + 2) * 3`, `9`},
		{`10 % 4`, `2`},
		{`-$states.input.xs[0]`, `-3`},
		{`$states.input.xs[1]`, `1`},
		{`$states.input.xs[-1]`, `2`},
		{`$states.input.people.name`, `["ann","bob"]`},
		{`$states.input.people[age > 25].name`, `"ann"`},
		{`$states.input.people[0]`, `{"name":"ann","age":30}`},
		{`$states.input.o.b & "!"`, `"two!"`},
		{`$states.input.o.a = 1 and $states.input.o.b != "x"`, `true`},
		{`$states.input.o.a > 2 or false`, `false`},
		{`$states.input.nope`, `undefined`},
		{`$exists($states.input.nope)`, `false`},
		{`$states.input.o.a = 1 ? "yes" : "no"`, `"yes"`},
		{`[1..4]`, `[1,2,3,4]`},
		{`{"k": $states.input.o.a, "l": [1, "x"]}`, `{"k":1,"l":[1,"x"]}`},
		{`($x := 5; $y := $x * 2; $y + 1)`, `11`},
		{`"ab" in ["ab", "cd"]`, `true`},
		{`$sum($states.input.xs)`, `6`},
		{`$max($states.input.xs)`, `3`},
		{`$min($states.input.xs)`, `1`},
		{`$average($states.input.xs)`, `2`},
		{`$count($states.input.xs)`, `3`},
		{`$sort($states.input.xs)`, `[1,2,3]`},
		{`$reverse($states.input.xs)`, `[2,1,3]`},
		{`$distinct([1,1,2])`, `[1,2]`},
		{`$append([1], [2, 3])`, `[1,2,3]`},
		{`$string(12.5)`, `"12.5"`},
		{`$string({"a":1})`, `"{\"a\":1}"`},
		{`$number("42")`, `42`},
		{`$boolean("")`, `false`},
		{`$not(true)`, `false`},
		{`$length($states.input.s)`, `11`},
		{`$substring($states.input.s, 6)`, `"World"`},
		{`$substring($states.input.s, 0, 5)`, `"Hello"`},
		{`$uppercase("abc") & $lowercase("DEF")`, `"ABCdef"`},
		{`$join(["a","b"], "-")`, `"a-b"`},
		{`$split("a,b,c", ",")`, `["a","b","c"]`},
		{`$contains($states.input.s, "World")`, `true`},
		{`$contains($states.input.s, /w.rld/i)`, `true`},
		{`$replace("a-b-c", "-", "+")`, `"a+b+c"`},
		{`$keys($states.input.o)`, `["a","b"]`},
		{`$merge([{"a":1},{"b":2}])`, `{"a":1,"b":2}`},
		{`$partition([1,2,3], 2)`, `[[1,2],[3]]`},
		{`$range(0, 4, 2)`, `[0,2,4]`},
		{`$hash("hello world", "MD5")`, `"5eb63bbbe01eeed093cb22bb8f5acdc3"`},
		{`$parse('{"a":[1]}')`, `{"a":[1]}`},
		{`$base64decode($base64encode("hi"))`, `"hi"`},
		{`$map([1,2], function($v){ $v * 10 })`, `[10,20]`},
		{`$filter([1,2,3,4], function($v){ $v % 2 = 0 })`, `[2,4]`},
		{`$reduce([1,2,3], function($a, $b){ $a + $b })`, `6`},
		{`[1,2,3] ~> $sum()`, `6`},
		{`$round(2.5) & "," & $round(3.5)`, `"2,4"`},
		{`$floor(1.7) + $ceil(1.2) + $abs(-1)`, `4`},
		{`$type([]) & $type("") & $type(null)`, `"arraystringnull"`},
		{`$v`, `"var"`},
	}
	env := &pathEnv{input: nil, vars: func(n string) (any, bool) {
		if n == "v" {
			return "var", true
		}
		return nil, false
	}, states: map[string]any{"input": mustValue(t, input)}}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			e, err := parseJSONata(tt.expr)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got, defined, err := evalJSONata(e, env)
			if err != nil {
				t.Fatalf("eval: %v", err)
			}
			if tt.want == "undefined" {
				if defined {
					t.Fatalf("got %s, want undefined", encodeJSON(got))
				}
				return
			}
			if !defined || !jsonEqual(got, mustValue(t, tt.want)) {
				t.Fatalf("got %s (defined=%v), want %s", encodeJSON(got), defined, tt.want)
			}
		})
	}
}

func TestJSONataErrors(t *testing.T) {
	for _, expr := range []string{`1 +`, `(1`, `[1,`, `{"a"}`, `$x :=`, `"unterminated`, `1 ? `} {
		if _, err := parseJSONata(expr); err == nil {
			t.Errorf("parseJSONata(%q) succeeded", expr)
		}
	}
	env := &pathEnv{states: map[string]any{"input": map[string]any{}}}
	for _, expr := range []string{`1 + "a"`, `1 / 0`, `$number("x")`, `"a" < 1`, `$error("boom")`} {
		e, err := parseJSONata(expr)
		if err != nil {
			t.Fatalf("parse %q: %v", expr, err)
		}
		if _, _, err := evalJSONata(e, env); err == nil {
			t.Errorf("evalJSONata(%q) succeeded", expr)
		}
	}
}
