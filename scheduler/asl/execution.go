package asl

import (
	"encoding/json"
	"fmt"
	"time"
)

// Status is the state of an execution.
type Status string

// Execution statuses, as Step Functions names them.
const (
	StatusRunning   Status = "RUNNING"
	StatusSucceeded Status = "SUCCEEDED"
	StatusFailed    Status = "FAILED"
	StatusTimedOut  Status = "TIMED_OUT"
	StatusAborted   Status = "ABORTED"
)

// ExecutionInfo is the fixed part of the context object ($$): who the
// execution is and when it started.
type ExecutionInfo struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	StateMachineID   string          `json:"stateMachineId"`
	StateMachineName string          `json:"stateMachineName"`
	RoleArn          string          `json:"roleArn,omitempty"`
	StartTime        time.Time       `json:"startTime"`
	Input            json.RawMessage `json:"input"`
}

// MapItem is the $$.Map.Item of a Map iteration.
type MapItem struct {
	Index int             `json:"index"`
	Value json.RawMessage `json:"value"`
}

// Awaiting says what an execution waits for between two steps.
type Awaiting string

// What a running execution can be waiting for.
const (
	AwaitNothing  Awaiting = ""
	AwaitTask     Awaiting = "task"
	AwaitTimer    Awaiting = "timer"
	AwaitRetry    Awaiting = "retry"
	AwaitChildren Awaiting = "children"
	AwaitContinue Awaiting = "continue"
)

// Execution is the complete, JSON-serialisable state of one run of a
// machine — the top-level execution, or one Parallel branch or Map
// iteration (a child, with Path naming its sub-machine). An executor
// persists it after every Step; nothing else is needed to resume.
type Execution struct {
	// Path is the sub-machine this execution runs ("" for the root).
	Path string `json:"path,omitempty"`
	// Index is the branch or item index of a child execution.
	Index int `json:"index,omitempty"`
	// Detached marks children of a DISTRIBUTED Map: in Step Functions they
	// are separate executions, so their states are not the parent's.
	Detached bool `json:"detached,omitempty"`
	// Info is the context object's execution and state machine part.
	Info ExecutionInfo `json:"info"`
	// Status is RUNNING until the execution ends.
	Status Status `json:"status,omitempty"`
	// State is the name of the current state.
	State string `json:"state,omitempty"`
	// Input is the raw input of the current state (for a new execution:
	// its input).
	Input json.RawMessage `json:"input,omitempty"`
	// EnteredTime is when the current state was entered.
	EnteredTime time.Time `json:"enteredTime,omitzero"`
	// EnteredEventID is the history id of the current state's entry.
	EnteredEventID int64 `json:"enteredEventId,omitempty"`
	// Vars are the variables assigned in this scope.
	Vars map[string]json.RawMessage `json:"vars,omitempty"`
	// Outer are the variables of enclosing scopes, read-only here.
	Outer map[string]json.RawMessage `json:"outer,omitempty"`
	// Attempts counts retries per retrier of the current state.
	Attempts []int `json:"attempts,omitempty"`
	// RetryCount is the total number of retries of the current state.
	RetryCount int `json:"retryCount,omitempty"`
	// Awaiting says what the execution waits for.
	Awaiting Awaiting `json:"awaiting,omitempty"`
	// Task is the task call in flight when Awaiting is "task".
	Task *TaskCall `json:"task,omitempty"`
	// Pending carries a Wait state's output and variables until the timer
	// fires, or the next state and its input while awaiting "continue".
	Pending *Pending `json:"pending,omitempty"`
	// Fanout tracks the branches or iterations of a Parallel or Map state.
	Fanout *Fanout `json:"fanout,omitempty"`
	// Output, Error and Cause are set when the execution has ended.
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
	Cause  string          `json:"cause,omitempty"`
	// Seq is the id of the last history event this execution emitted.
	Seq int64 `json:"seq"`
	// Transitions counts the states entered so far.
	Transitions int64 `json:"transitions"`
	// MapItem is $$.Map.Item while evaluating a Map iteration's selector.
	MapItem *MapItem `json:"mapItem,omitempty"`
}

// Pending is work held over between steps.
type Pending struct {
	Next     string                     `json:"next,omitempty"`
	Output   json.RawMessage            `json:"output,omitempty"`
	Assigned map[string]json.RawMessage `json:"assigned,omitempty"`
}

// Fanout is the bookkeeping of a running Parallel or Map state.
type Fanout struct {
	// Inputs are the inputs of every branch or iteration.
	Inputs []json.RawMessage `json:"inputs"`
	// Results hold each child's output (or error output) once done.
	Results []json.RawMessage `json:"results"`
	// Done marks finished children.
	Done []bool `json:"done"`
	// Started is how many children have been started (in index order).
	Started int `json:"started"`
	// Running is how many started children have not finished.
	Running int `json:"running"`
	// Failed counts failed children.
	Failed int `json:"failed"`
	// MaxConcurrency bounds Running (0: unbounded).
	MaxConcurrency int `json:"maxConcurrency,omitempty"`
	// ToleratedCount and ToleratedPercentage are a Map's failure
	// tolerance (negative: not set).
	ToleratedCount      int     `json:"toleratedCount"`
	ToleratedPercentage float64 `json:"toleratedPercentage"`
}

// NewExecution returns a root execution ready for a Start event.
// Missing Info fields get defaults derived from the name.
func NewExecution(info ExecutionInfo, input json.RawMessage) *Execution {
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	if info.Name == "" {
		info.Name = "execution"
	}
	if info.StateMachineName == "" {
		info.StateMachineName = "chain"
	}
	if info.StateMachineID == "" {
		info.StateMachineID = "arn:baton:states:local:000000000000:stateMachine:" + info.StateMachineName
	}
	if info.ID == "" {
		info.ID = "arn:baton:states:local:000000000000:execution:" + info.StateMachineName + ":" + info.Name
	}
	if info.Input == nil {
		info.Input = input
	}
	return &Execution{Info: info, Input: input}
}

// EventKind names what happened since the last Step.
type EventKind string

// Event kinds an executor feeds to Step.
const (
	// EventStart begins an execution (root or child).
	EventStart EventKind = "Start"
	// EventTaskSucceeded and EventTaskFailed report the RunTask decision.
	EventTaskSucceeded EventKind = "TaskSucceeded"
	EventTaskFailed    EventKind = "TaskFailed"
	// EventTimerFired reports that a Wait decision's time has come.
	EventTimerFired EventKind = "TimerFired"
	// EventChildSucceeded and EventChildFailed report one child's end.
	EventChildSucceeded EventKind = "ChildSucceeded"
	EventChildFailed    EventKind = "ChildFailed"
	// EventContinue resumes after a Continue decision.
	EventContinue EventKind = "Continue"
)

// Event is the outcome of the last decision, fed to Step.
type Event struct {
	Kind EventKind `json:"kind"`
	// Time is "now" for the step; the core never reads a clock.
	Time time.Time `json:"time"`
	// Output is a task's or child's output.
	Output json.RawMessage `json:"output,omitempty"`
	// Error and Cause describe a task's or child's failure.
	Error string `json:"error,omitempty"`
	Cause string `json:"cause,omitempty"`
	// Child is the Index of the child that ended.
	Child int `json:"child,omitempty"`
}

// DecisionKind names what the executor must do next.
type DecisionKind string

// Decisions Step returns.
const (
	// DecideRunTask: invoke Decision.Task, then report TaskSucceeded/Failed.
	DecideRunTask DecisionKind = "RunTask"
	// DecideWait: report TimerFired at Decision.Until.
	DecideWait DecisionKind = "Wait"
	// DecideStartChildren: start Decision.Children (each with a Start
	// event), then report each one's end.
	DecideStartChildren DecisionKind = "StartChildren"
	// DecideAwaitChildren: nothing new to start; report the next child end.
	DecideAwaitChildren DecisionKind = "AwaitChildren"
	// DecideContinue: persist, then Step again with EventContinue (a long
	// run of Pass/Choice states is cut into bounded steps).
	DecideContinue DecisionKind = "Continue"
	// DecideSucceed and DecideFail: the execution has ended.
	DecideSucceed DecisionKind = "Succeed"
	DecideFail    DecisionKind = "Fail"
)

// Decision is what Step tells the executor to do, with the history events
// the step produced.
type Decision struct {
	Kind DecisionKind `json:"kind"`
	// Task is the call to make for RunTask.
	Task *TaskCall `json:"task,omitempty"`
	// Until is when to fire the timer for Wait.
	Until time.Time `json:"until,omitzero"`
	// Children are new child executions for StartChildren.
	Children []*Execution `json:"children,omitempty"`
	// CancelChildren asks to stop children still running: their Parallel
	// or Map state has ended early.
	CancelChildren bool `json:"cancelChildren,omitempty"`
	// Output is the execution's output for Succeed.
	Output json.RawMessage `json:"output,omitempty"`
	// Error and Cause are the execution's failure for Fail.
	Error string `json:"error,omitempty"`
	Cause string `json:"cause,omitempty"`
	// Events are the history events of this step, in order.
	Events []HistoryEvent `json:"events,omitempty"`
}

// HistoryEvent is one entry of an execution's history.
type HistoryEvent struct {
	// ID numbers events within one (root or child) execution from 1.
	ID   int64     `json:"id"`
	Time time.Time `json:"time"`
	// Type is the Step Functions event type ("PassStateEntered",
	// "TaskScheduled", "ExecutionFailed"…).
	Type string `json:"type"`
	// Name is the state the event concerns.
	Name string `json:"name,omitempty"`
	// Path is the sub-machine of a child execution; Index its position.
	Path  string `json:"path,omitempty"`
	Index int    `json:"index,omitempty"`
	// Input and Output carry state or task data.
	Input  json.RawMessage `json:"input,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
	// Error and Cause describe failures.
	Error string `json:"error,omitempty"`
	Cause string `json:"cause,omitempty"`
	// Resource is a task's resource; Attempt its retry number.
	Resource string `json:"resource,omitempty"`
	Attempt  int    `json:"attempt,omitempty"`
	// Until is when a wait or retry ends.
	Until time.Time `json:"until,omitzero"`
	// AssignedVariables are the variables a state's exit assigned.
	AssignedVariables map[string]json.RawMessage `json:"assignedVariables,omitempty"`
}

// TaskCall describes one task invocation.
type TaskCall struct {
	// Resource is the state's Resource as written.
	Resource string `json:"resource"`
	// Target is what TaskInvoker.Invoke receives: "fn:NAME" or
	// "fn:NAME:QUALIFIER" for function resources, else Resource.
	Target string `json:"target"`
	// Function and Qualifier name the function (empty for other resources).
	Function  string `json:"function,omitempty"`
	Qualifier string `json:"qualifier,omitempty"`
	// Integration is "lambda:invoke" when the result must be wrapped like
	// the Step Functions Lambda integration does ({"Payload": …}).
	Integration string `json:"integration,omitempty"`
	// Input is the payload.
	Input json.RawMessage `json:"input"`
	// TimeoutSeconds and HeartbeatSeconds bound the call (0: none).
	TimeoutSeconds   int `json:"timeoutSeconds,omitempty"`
	HeartbeatSeconds int `json:"heartbeatSeconds,omitempty"`
	// Attempt is 0 for the first try, then 1, 2… for retries.
	Attempt int `json:"attempt"`
}

// maxTransitionsPerStep bounds how many states one Step may pass through
// before returning DecideContinue.
const maxTransitionsPerStep = 256

// Step advances ex by one event and returns the next decision. It is
// pure: no I/O, no clock (time comes from ev.Time). It updates ex in
// place; the executor persists ex together with the decision and then
// carries the decision out. MathRandom, UUID and FULL retry jitter use
// randomness; everything else is deterministic.
func (m *Machine) Step(ex *Execution, ev Event) (Decision, error) {
	sm, ok := m.Sub(ex.Path)
	if !ok {
		return Decision{}, fmt.Errorf("stepping execution: no sub-machine at %q", ex.Path)
	}
	s := &stepper{root: m, m: sm, ex: ex, now: ev.Time}
	d, err := s.handle(ev)
	if err != nil {
		return Decision{}, err
	}
	if s.cancel {
		d.CancelChildren = true
	}
	d.Events = s.events
	return d, nil
}
