package asl

import (
	"errors"
	"strings"
	"testing"
)

func TestParseValidDefinitions(t *testing.T) {
	tests := []struct {
		name string
		def  string
	}{
		{"minimal", `{"StartAt":"A","States":{"A":{"Type":"Succeed"}}}`},
		{"yaml", "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Result: {x: 1}\n    End: true\n"},
		{"choice and catch", `{"StartAt":"C","States":{
			"C":{"Type":"Choice","Choices":[{"Variable":"$.x","NumericGreaterThan":1,"Next":"T"}],"Default":"F"},
			"T":{"Type":"Task","Resource":"fn:work","Retry":[{"ErrorEquals":["States.Timeout"],"MaxAttempts":2},{"ErrorEquals":["States.ALL"]}],"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"F"}],"End":true},
			"F":{"Type":"Fail","Error":"E"}}}`},
		{"nested map and parallel", `{"StartAt":"M","States":{
			"M":{"Type":"Map","ItemsPath":"$.items","ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"P","States":{
				"P":{"Type":"Parallel","Branches":[{"StartAt":"X","States":{"X":{"Type":"Pass","End":true}}}],"End":true}}},"End":true}}}`},
		{"jsonata", `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% $states.input.a + 1 %}","Assign":{"v":"{% $states.input %}"},"End":true}}}`},
		{"intrinsic", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"s.$":"States.Format('{} and {}', $.a, States.ArrayLength($.b))"},"End":true}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.def)); err != nil {
				t.Fatalf("Parse: %v", err)
			}
		})
	}
}

func TestParseReportsProblemsWithPaths(t *testing.T) {
	tests := []struct {
		name string
		def  string
		want []string // "path: message fragment"
	}{
		{"not json", `{"StartAt":`, []string{"parsing JSON: unexpected EOF"}},
		{"missing StartAt", `{"States":{"A":{"Type":"Succeed"}}}`, []string{"/StartAt: StartAt is required"}},
		{"unknown StartAt", `{"StartAt":"Strat","States":{"Start":{"Type":"Succeed"}}}`, []string{`/StartAt: no state named "Strat" (did you mean "Start"?)`}},
		{"next target", `{"StartAt":"Check","States":{"Check":{"Type":"Pass","Next":"Fnish"},"Finish":{"Type":"Succeed"}}}`,
			[]string{`/States/Check/Next: no state named "Fnish" (did you mean "Finish"?)`, `/States/Finish: state "Finish" is not reachable`}},
		{"bad type", `{"StartAt":"A","States":{"A":{"Type":"Lambda","End":true}}}`, []string{`/States/A/Type: unknown state type "Lambda"`}},
		{"next and end", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B","End":true},"B":{"Type":"Succeed"}}}`, []string{"/States/A: a state must have either Next or End, not both"}},
		{"neither next nor end", `{"StartAt":"A","States":{"A":{"Type":"Pass"}}}`, []string{`/States/A: a Pass state must have Next or "End": true`}},
		{"unknown field", `{"StartAt":"A","States":{"A":{"Type":"Pass","Resuls":1,"End":true}}}`, []string{`/States/A/Resuls: field "Resuls" is not allowed in a Pass state`}},
		{"choice without choices", `{"StartAt":"C","States":{"C":{"Type":"Choice","Default":"D"},"D":{"Type":"Succeed"}}}`, []string{"/States/C/Choices: Choices is required"}},
		{"choice two operators", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","StringEquals":"x","NumericEquals":1,"Next":"D"}]},"D":{"Type":"Succeed"}}}`,
			[]string{"/States/C/Choices/0: a choice rule must have exactly one operator, found NumericEquals, StringEquals"}},
		{"choice value type", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","NumericEquals":"1","Next":"D"}]},"D":{"Type":"Succeed"}}}`,
			[]string{"/States/C/Choices/0/NumericEquals: NumericEquals takes a number, got string"}},
		{"nested rule with next", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Not":{"Variable":"$.a","IsNull":true,"Next":"D"},"Next":"D"}]},"D":{"Type":"Succeed"}}}`,
			[]string{"/States/C/Choices/0/Not/Next: a nested choice rule must not have Next"}},
		{"bad timestamp", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","TimestampEquals":"yesterday","Next":"D"}]},"D":{"Type":"Succeed"}}}`,
			[]string{`/States/C/Choices/0/TimestampEquals: "yesterday" is not an RFC 3339 timestamp`}},
		{"retry fields", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:x","Retry":[{"ErrorEquals":["States.ALL"],"BackoffRate":0.5,"MaxAttempts":-1,"JitterStrategy":"SOME"},{"ErrorEquals":["X"]}],"End":true}}}`,
			[]string{"/States/T/Retry/0/BackoffRate", "/States/T/Retry/0/MaxAttempts", "/States/T/Retry/0/JitterStrategy", "/States/T/Retry/0/ErrorEquals: a States.ALL handler must be the last one"}},
		{"catch next", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:x","Catch":[{"ErrorEquals":["States.ALL"],"Next":"Nowhere"}],"End":true}}}`,
			[]string{`/States/T/Catch/0/Next: no state named "Nowhere"`}},
		{"catch without ErrorEquals", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:x","Catch":[{"Next":"T"}],"End":true}}}`,
			[]string{"/States/T/Catch/0/ErrorEquals: ErrorEquals is required"}},
		{"task without resource", `{"StartAt":"T","States":{"T":{"Type":"Task","End":true}}}`, []string{"/States/T/Resource: Resource is required"}},
		{"heartbeat >= timeout", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"fn:x","TimeoutSeconds":5,"HeartbeatSeconds":5,"End":true}}}`,
			[]string{"/States/T/HeartbeatSeconds: HeartbeatSeconds must be smaller than TimeoutSeconds"}},
		{"map without processor", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true}}}`, []string{"/States/M/ItemProcessor: a Map state needs ItemProcessor"}},
		{"nested machine problem", `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"X","States":{"X":{"Type":"Pass","Next":"Y"}}}]}}}`,
			[]string{`/States/P/Branches/0/States/X/Next: no state named "Y"`}},
		{"map processor problem", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemProcessor":{"StartAt":"Q","States":{"X":{"Type":"Succeed"}}}}}}`,
			[]string{`/States/M/ItemProcessor/StartAt: no state named "Q"`}},
		{"bad path", `{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"$.a[","End":true}}}`, []string{"/States/A/InputPath: invalid JSONPath"}},
		{"result path not reference", `{"StartAt":"A","States":{"A":{"Type":"Pass","ResultPath":"$.a[*]","End":true}}}`, []string{"/States/A/ResultPath: ResultPath must be a reference path"}},
		{"parameter path", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"a.b"},"End":true}}}`, []string{`/States/A/Parameters/x.$: "a.b" is neither a JSONPath nor an intrinsic function`}},
		{"intrinsic unknown", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"States.Nope(1)"},"End":true}}}`, []string{`/States/A/Parameters/x.$: invalid intrinsic function "States.Nope(1)": unknown function "States.Nope"`}},
		{"intrinsic arity", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"States.ArrayLength($.a, 2)"},"End":true}}}`, []string{"States.ArrayLength takes 1 arguments, got 2"}},
		{"jsonata field in jsonpath", `{"StartAt":"A","States":{"A":{"Type":"Pass","Output":{},"End":true}}}`, []string{"/States/A/Output: Output is a JSONata field"}},
		{"jsonpath field in jsonata", `{"StartAt":"A","States":{"A":{"Type":"Pass","QueryLanguage":"JSONata","InputPath":"$","End":true}}}`, []string{"/States/A/InputPath: InputPath is a JSONPath field"}},
		{"bad jsonata", `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% 1 + %}","End":true}}}`, []string{"/States/A/Output: invalid JSONata expression"}},
		{"wait two fields", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"SecondsPath":"$.s","End":true}}}`, []string{"/States/W: a Wait state needs exactly one of"}},
		{"fail exclusive", `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"x","ErrorPath":"$.e"}}}`, []string{"/States/F: Error and ErrorPath are mutually exclusive"}},
		{"assign name", `{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"1x":1,"states":2},"End":true}}}`, []string{`/States/A/Assign/1x: "1x" is not a valid variable name`, `/States/A/Assign/states: "states" is a reserved variable name`}},
		{"query language", `{"QueryLanguage":"XPath","StartAt":"A","States":{"A":{"Type":"Succeed"}}}`, []string{"/QueryLanguage: QueryLanguage must be"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.def))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse error = %v, want *ValidationError", err)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range ve.Problems {
					if strings.Contains(p.String(), w) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem containing %q in:\n%v", w, err)
				}
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse([]byte(`{"StartAt":"A","States":{
		"A":{"Type":"Pass","Next":"B1"},
		"B":{"Type":"Wait","End":true},
		"C":{"Type":"Task","End":true}}}`))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	if len(ve.Problems) < 5 {
		t.Fatalf("want at least 5 problems (bad Next, Wait without time, Task without Resource, two unreachable), got:\n%v", err)
	}
	if !strings.HasPrefix(err.Error(), "invalid state machine definition (") {
		t.Fatalf("error text = %q", err.Error())
	}
}
