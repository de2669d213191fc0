package asl_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/baton-run/baton/scheduler/asl"
)

func ExampleRun() {
	m, err := asl.Parse([]byte(`{
	  "StartAt": "Greet",
	  "States": {
	    "Greet": {"Type": "Task", "Resource": "fn:greet", "ResultPath": "$.greeting", "Next": "Done"},
	    "Done": {"Type": "Succeed"}
	  }
	}`))
	if err != nil {
		panic(err)
	}
	greet := asl.TaskInvokerFunc(func(_ context.Context, target string, in json.RawMessage) (json.RawMessage, error) {
		var p struct{ Name string }
		_ = json.Unmarshal(in, &p)
		return json.Marshal(target + " says hello to " + p.Name)
	})
	res, err := asl.Run(context.Background(), m, json.RawMessage(`{"Name":"Ada"}`), asl.RunOptions{Invoker: greet})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Status, string(res.Output))
	fmt.Println(strings.Join(res.StatesEntered, " -> "))
	// Output:
	// SUCCEEDED {"Name":"Ada","greeting":"fn:greet says hello to Ada"}
	// Greet -> Done
}

func ExampleParse_validation() {
	_, err := asl.Parse([]byte(`{"StartAt":"Check","States":{
	  "Check":{"Type":"Pass","Next":"Fnish"},
	  "Finish":{"Type":"Succeed"}}}`))
	fmt.Println(err)
	// Output:
	// invalid state machine definition (2 problems)
	//   /States/Check/Next: no state named "Fnish" (did you mean "Finish"?)
	//   /States/Finish: state "Finish" is not reachable from StartAt "Check"
}

func ExampleMachine_Step() {
	m := asl.MustParse([]byte(`{"StartAt":"Nap","States":{"Nap":{"Type":"Wait","Seconds":30,"End":true}}}`))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ex := asl.NewExecution(asl.ExecutionInfo{Name: "demo", StartTime: start}, json.RawMessage(`{"n":1}`))

	d, _ := m.Step(ex, asl.Event{Kind: asl.EventStart, Time: start})
	fmt.Println(d.Kind, d.Until.Sub(start))
	// An executor would persist ex here and arm a timer.
	d, _ = m.Step(ex, asl.Event{Kind: asl.EventTimerFired, Time: d.Until})
	fmt.Println(d.Kind, string(d.Output))
	// Output:
	// Wait 30s
	// Succeed {"n":1}
}
