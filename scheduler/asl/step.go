package asl

import (
	"encoding/json"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"strings"
	"time"
)

// stepper carries one Step call.
type stepper struct {
	root   *Machine
	m      *Machine
	ex     *Execution
	now    time.Time
	events []HistoryEvent
	cancel bool
	input  any // decoded ex.Input, cached
	hasIn  bool
	memo   rawMemo
}

func (s *stepper) isRoot() bool { return s.ex.Path == "" }

func (s *stepper) emit(e HistoryEvent) int64 {
	s.ex.Seq++
	e.ID = s.ex.Seq
	e.Time = s.now
	e.Path = s.ex.Path
	e.Index = s.ex.Index
	s.events = append(s.events, e)
	return e.ID
}

func (s *stepper) rawInput() any {
	if !s.hasIn {
		s.input = s.memo.toValue(s.ex.Input)
		s.hasIn = true
	}
	return s.input
}

func (s *stepper) handle(ev Event) (Decision, error) {
	ex := s.ex
	if ev.Kind != EventStart && ex.Status != StatusRunning {
		return Decision{}, fmt.Errorf("stepping execution: event %s for an execution that is %q", ev.Kind, ex.Status)
	}
	switch ev.Kind {
	case EventStart:
		if ex.Status != "" {
			return Decision{}, fmt.Errorf("stepping execution: already started")
		}
		ex.Status = StatusRunning
		in := s.memo.toValue(ex.Input)
		if s.isRoot() {
			s.emit(HistoryEvent{Type: "ExecutionStarted", Input: s.memo.toRaw(in)})
		}
		return s.drive(s.m.StartAt, in), nil
	case EventContinue:
		if ex.Awaiting != AwaitContinue || ex.Pending == nil {
			return Decision{}, fmt.Errorf("stepping execution: Continue while awaiting %q", ex.Awaiting)
		}
		p := ex.Pending
		ex.Pending, ex.Awaiting = nil, AwaitNothing
		return s.drive(p.Next, s.memo.toValue(p.Output)), nil
	}
	st := s.m.States[ex.State]
	if st == nil {
		return Decision{}, fmt.Errorf("stepping execution: unknown current state %q", ex.State)
	}
	switch ev.Kind {
	case EventTaskSucceeded, EventTaskFailed:
		if ex.Awaiting != AwaitTask {
			return Decision{}, fmt.Errorf("stepping execution: %s while awaiting %q", ev.Kind, ex.Awaiting)
		}
		call := ex.Task
		ex.Awaiting, ex.Task = AwaitNothing, nil
		if ev.Kind == EventTaskFailed {
			s.emit(HistoryEvent{Type: "TaskFailed", Name: st.Name, Resource: call.Resource, Error: ev.Error, Cause: ev.Cause, Attempt: call.Attempt})
			return s.after(st, s.handleError(st, ev.Error, ev.Cause, false)), nil
		}
		if call.Integration == "" && st.passthrough && canonicalJSON(ev.Output) {
			s.emit(HistoryEvent{Type: "TaskSucceeded", Name: st.Name, Resource: call.Resource, Output: ev.Output, Attempt: call.Attempt})
			return s.after(st, s.exitRaw(st, ev.Output)), nil
		}
		out := s.memo.toValue(ev.Output)
		s.emit(HistoryEvent{Type: "TaskSucceeded", Name: st.Name, Resource: call.Resource, Output: s.memo.toRaw(out), Attempt: call.Attempt})
		if call.Integration == "lambda:invoke" {
			ver := call.Qualifier
			if ver == "" {
				ver = "$LATEST"
			}
			out = map[string]any{"ExecutedVersion": ver, "Payload": out, "StatusCode": json.Number("200")}
		}
		return s.after(st, s.finishWithResult(st, out)), nil
	case EventTimerFired:
		switch ex.Awaiting {
		case AwaitTimer:
			p := ex.Pending
			ex.Awaiting, ex.Pending = AwaitNothing, nil
			var assigned map[string]any
			if p != nil && p.Assigned != nil {
				assigned = map[string]any{}
				for k, v := range p.Assigned {
					assigned[k] = rawToValue(v)
				}
			}
			var out any
			if p != nil {
				out = rawToValue(p.Output)
			}
			return s.after(st, s.exit(st, out, assigned, "")), nil
		case AwaitRetry:
			ex.Awaiting = AwaitNothing
			return s.after(st, s.run(st)), nil
		}
		return Decision{}, fmt.Errorf("stepping execution: TimerFired while awaiting %q", ex.Awaiting)
	case EventChildSucceeded, EventChildFailed:
		if ex.Awaiting != AwaitChildren || ex.Fanout == nil {
			return Decision{}, fmt.Errorf("stepping execution: %s while awaiting %q", ev.Kind, ex.Awaiting)
		}
		return s.after(st, s.childDone(st, ev)), nil
	}
	return Decision{}, fmt.Errorf("stepping execution: unknown event %q", ev.Kind)
}

// outcome is either a decision for the executor or a transition to
// another state of the same machine.
type outcome struct {
	d    *Decision
	next string
	in   any
	// raw, when set, is the encoding of in, which is then not decoded
	// (see passthrough).
	raw json.RawMessage
}

func (s *stepper) after(_ *State, o outcome) Decision {
	if o.d != nil {
		return *o.d
	}
	if o.raw != nil {
		return s.driveRaw(o.next, o.raw)
	}
	return s.drive(o.next, o.in)
}

// drive enters states until one needs the executor.
func (s *stepper) drive(name string, in any) Decision {
	return s.driveFrom(name, in, nil)
}

// driveRaw is drive with an input that is canonical JSON (see
// canonicalJSON), decoded only if a state needs its value.
func (s *stepper) driveRaw(name string, raw json.RawMessage) Decision {
	return s.driveFrom(name, nil, raw)
}

func (s *stepper) driveFrom(name string, in any, raw json.RawMessage) Decision {
	for n := 0; ; n++ {
		if raw == nil {
			raw = s.memo.toRaw(in)
			s.input, s.hasIn = in, true
		} else {
			s.input, s.hasIn = nil, false
		}
		if n >= maxTransitionsPerStep {
			s.ex.Awaiting = AwaitContinue
			s.ex.Pending = &Pending{Next: name, Output: raw}
			return Decision{Kind: DecideContinue}
		}
		st := s.m.States[name]
		ex := s.ex
		ex.State = name
		ex.Input = raw
		ex.EnteredTime = s.now
		ex.Attempts = nil
		ex.RetryCount = 0
		ex.Awaiting = AwaitNothing
		ex.Transitions++
		ex.EnteredEventID = s.emit(HistoryEvent{Type: st.Type + "StateEntered", Name: name, Input: raw})
		o := s.run(st)
		if o.d != nil {
			return *o.d
		}
		name, in, raw = o.next, o.in, o.raw
	}
}

// passthrough reports whether st, a JSONPath Task, hands its input to
// its function and its result on as they are (no InputPath, Parameters,
// ResultSelector, ResultPath, OutputPath, Assign, or fields read from the
// input): the step then moves the encoded JSON along without decoding it.
func passthrough(st *State) bool {
	return st.Type == TypeTask && st.QueryLanguage != JSONata && st.Resource != lambdaInvokeResource &&
		!strings.HasPrefix(st.Resource, lambdaInvokeResource+".") &&
		st.inputPath == (optPath{}) && st.parameters == nil &&
		st.resultSelector == nil && st.resultPath == (optPath{}) && st.outputPath == (optPath{}) && st.assign == nil &&
		st.timeoutSeconds.expr == nil && st.timeoutSecondsPath == nil &&
		st.heartbeatSeconds.expr == nil && st.heartbeatSecondsPath == nil
}

// ---- environment ----

func (s *stepper) lookupVar(name string) (any, bool) {
	if v, ok := s.ex.Vars[name]; ok {
		return rawToValue(v), true
	}
	if v, ok := s.ex.Outer[name]; ok {
		return rawToValue(v), true
	}
	return nil, false
}

func (s *stepper) contextObject(st *State) map[string]any {
	info := s.ex.Info
	exec := map[string]any{
		"Id":           info.ID,
		"Input":        rawToValue(info.Input),
		"Name":         info.Name,
		"StartTime":    info.StartTime.UTC().Format(time.RFC3339Nano),
		"RedriveCount": json.Number("0"),
	}
	if info.RoleArn != "" {
		exec["RoleArn"] = info.RoleArn
	}
	state := map[string]any{
		"Name":        s.ex.State,
		"EnteredTime": s.ex.EnteredTime.UTC().Format(time.RFC3339Nano),
	}
	if st != nil && st.Type == TypeTask {
		state["RetryCount"] = intValue(int64(s.ex.RetryCount))
	}
	ctx := map[string]any{
		"Execution":    exec,
		"StateMachine": map[string]any{"Id": info.StateMachineID, "Name": info.StateMachineName},
		"State":        state,
	}
	if s.ex.MapItem != nil {
		ctx["Map"] = map[string]any{"Item": map[string]any{"Index": intValue(int64(s.ex.MapItem.Index)), "Value": rawToValue(s.ex.MapItem.Value)}}
	}
	return ctx
}

// contextFn returns a builder of the context object as it is now: the
// fields it reads are captured, so building it later sees the same $$.
func (s *stepper) contextFn(st *State) func() any {
	snap := *s.ex
	if s.ex.MapItem != nil {
		mi := *s.ex.MapItem
		snap.MapItem = &mi
	}
	c := &stepper{ex: &snap}
	return func() any { return c.contextObject(st) }
}

// env returns a JSONPath environment whose $ is input.
func (s *stepper) env(st *State, input any) *pathEnv {
	return &pathEnv{input: input, ctxFn: s.contextFn(st), vars: s.lookupVar}
}

// jsonataEnv returns a JSONata environment with $states.
func (s *stepper) jsonataEnv(st *State, extra map[string]any) *pathEnv {
	states := map[string]any{"input": s.rawInput()}
	for k, v := range extra {
		states[k] = v
	}
	return &pathEnv{input: s.rawInput(), ctxFn: s.contextFn(st), vars: s.lookupVar, states: states}
}

// ---- JSONPath data flow ----

func (s *stepper) inputPath(st *State, raw any) (any, *stateError) {
	return s.applyOptPath(st, st.inputPath, raw)
}

func (s *stepper) outputPath(st *State, v any) (any, *stateError) {
	return s.applyOptPath(st, st.outputPath, v)
}

func (s *stepper) applyOptPath(st *State, p optPath, v any) (any, *stateError) {
	if p.null {
		return map[string]any{}, nil
	}
	if p.path == nil {
		return v, nil
	}
	out, err := evalPath(p.path, s.env(st, v))
	if err != nil {
		return nil, runtimeErr("Invalid path '%s' : %s", p.path.src, err.Error())
	}
	return deepCopy(out), nil
}

func (s *stepper) resultPath(p optPath, raw, result any) (any, *stateError) {
	if p.null {
		return raw, nil
	}
	if p.path == nil {
		return result, nil
	}
	out, err := setPath(p.path, raw, result)
	if err != nil {
		return nil, newStateError(ErrorResultPathMatchFailure, "Unable to apply ResultPath '%s' to input '%s': %v", p.path.src, encodeJSON(raw), err)
	}
	return out, nil
}

// evalAssign evaluates an Assign template into variable values.
func evalAssign(n *tmplNode, env *pathEnv) (map[string]any, *stateError) {
	if n == nil {
		return nil, nil
	}
	v, err := evalTemplate(n, env, "Assign")
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// ---- states ----

func (s *stepper) run(st *State) outcome {
	if st.passthrough {
		return s.runTask(st, nil)
	}
	raw := s.rawInput()
	jsonata := st.QueryLanguage == JSONata
	switch st.Type {
	case TypePass:
		if jsonata {
			return s.exitJSONata(st, s.jsonataEnv(st, nil), raw)
		}
		in, err := s.inputPath(st, raw)
		if err == nil && st.parameters != nil {
			in, err = evalTemplate(st.parameters, s.env(st, in), "Parameters")
		}
		if err != nil {
			return s.handleError(st, err.name, err.cause, true)
		}
		result := in
		if st.hasResult {
			result = deepCopy(st.result)
		}
		return s.finishJSONPath(st, raw, result)
	case TypeSucceed:
		out := raw
		if jsonata {
			if st.output != nil {
				v, err := evalTemplate(st.output, s.jsonataEnv(st, nil), "Output")
				if err != nil {
					return s.handleError(st, err.name, err.cause, true)
				}
				out = v
			}
		} else {
			in, err := s.inputPath(st, raw)
			if err == nil {
				in, err = s.outputPath(st, in)
			}
			if err != nil {
				return s.handleError(st, err.name, err.cause, true)
			}
			out = in
		}
		return s.exit(st, out, nil, "")
	case TypeFail:
		return s.runFail(st, raw)
	case TypeChoice:
		return s.runChoice(st, raw)
	case TypeWait:
		return s.runWait(st, raw)
	case TypeTask:
		return s.runTask(st, raw)
	case TypeParallel, TypeMap:
		return s.runFanout(st, raw)
	}
	return s.handleError(st, ErrorRuntime, "unknown state type "+st.Type, true)
}

// finishJSONPath applies ResultPath, Assign and OutputPath to a result
// and leaves the state.
func (s *stepper) finishJSONPath(st *State, raw, result any) outcome {
	assigned, err := evalAssign(st.assign, s.env(st, result))
	if err != nil {
		return s.handleError(st, err.name, err.cause, true)
	}
	out, err := s.resultPath(st.resultPath, raw, result)
	if err == nil {
		out, err = s.outputPath(st, out)
	}
	if err != nil {
		return s.handleError(st, err.name, err.cause, true)
	}
	return s.exit(st, out, assigned, "")
}

// exitJSONata leaves a JSONata state with its Output (out when it has
// none) and its Assign, both evaluated in env.
func (s *stepper) exitJSONata(st *State, env *pathEnv, out any) outcome {
	if st.output != nil {
		v, err := evalTemplate(st.output, env, "Output")
		if err != nil {
			return s.handleError(st, err.name, err.cause, true)
		}
		out = v
	}
	assigned, err := evalAssign(st.assign, env)
	if err != nil {
		return s.handleError(st, err.name, err.cause, true)
	}
	return s.exit(st, out, assigned, "")
}

// finishWithResult completes a Task, Parallel or Map with its result.
func (s *stepper) finishWithResult(st *State, result any) outcome {
	raw := s.rawInput()
	if st.QueryLanguage == JSONata {
		return s.exitJSONata(st, s.jsonataEnv(st, map[string]any{"result": result}), result)
	}
	if st.resultSelector != nil {
		v, err := evalTemplate(st.resultSelector, s.env(st, result), "ResultSelector")
		if err != nil {
			return s.handleError(st, err.name, err.cause, true)
		}
		result = v
	}
	return s.finishJSONPath(st, raw, result)
}

// exit leaves st with output, assigning variables, and transitions to
// next (st.Next when empty) or ends the machine.
func (s *stepper) exit(st *State, out any, assigned map[string]any, next string) outcome {
	ev := HistoryEvent{Type: st.Type + "StateExited", Name: st.Name, Output: s.memo.toRaw(out)}
	if len(assigned) > 0 {
		ev.AssignedVariables = map[string]json.RawMessage{}
		if s.ex.Vars == nil {
			s.ex.Vars = map[string]json.RawMessage{}
		}
		for k, v := range assigned {
			raw := valueToRaw(v)
			ev.AssignedVariables[k] = raw
			s.ex.Vars[k] = raw
		}
	}
	if st.Type != TypeFail {
		s.emit(ev)
	}
	if next == "" {
		next = st.Next
	}
	if next == "" {
		return outcome{d: s.succeed(out)}
	}
	return outcome{next: next, in: out}
}

// exitRaw is exit with an output that is canonical JSON, no variables
// and st's own Next.
func (s *stepper) exitRaw(st *State, raw json.RawMessage) outcome {
	s.emit(HistoryEvent{Type: st.Type + "StateExited", Name: st.Name, Output: raw})
	if st.Next == "" {
		return outcome{d: s.succeedRaw(raw)}
	}
	return outcome{next: st.Next, raw: raw}
}

func (s *stepper) succeed(out any) *Decision {
	return s.succeedRaw(s.memo.toRaw(out))
}

func (s *stepper) succeedRaw(raw json.RawMessage) *Decision {
	ex := s.ex
	ex.Status = StatusSucceeded
	ex.Output = raw
	ex.Awaiting = AwaitNothing
	if s.isRoot() {
		s.emit(HistoryEvent{Type: "ExecutionSucceeded", Output: ex.Output})
	}
	return &Decision{Kind: DecideSucceed, Output: ex.Output}
}

func (s *stepper) failExecution(name, cause string) *Decision {
	ex := s.ex
	ex.Status = StatusFailed
	ex.Error, ex.Cause = name, cause
	ex.Awaiting = AwaitNothing
	if s.isRoot() {
		s.emit(HistoryEvent{Type: "ExecutionFailed", Error: name, Cause: cause})
	}
	return &Decision{Kind: DecideFail, Error: name, Cause: cause}
}

// handleError routes a state failure through Retry and Catch. internal
// marks errors raised by the interpreter (their cause gets the AWS-style
// "An error occurred while executing the state" prefix).
func (s *stepper) handleError(st *State, name, cause string, internal bool) outcome {
	if internal {
		cause = fmt.Sprintf("An error occurred while executing the state '%s' (entered at the event id #%d). %s", st.Name, s.ex.EnteredEventID, cause)
	}
	ex := s.ex
	if name != ErrorRuntime && (st.Type == TypeTask || st.Type == TypeParallel || st.Type == TypeMap) {
		for i, r := range st.Retry {
			if !errorMatches(r.ErrorEquals, name) {
				continue
			}
			if len(ex.Attempts) < len(st.Retry) {
				a := make([]int, len(st.Retry))
				copy(a, ex.Attempts)
				ex.Attempts = a
			}
			if ex.Attempts[i] >= r.MaxAttempts {
				break
			}
			delay := r.IntervalSeconds * math.Pow(r.BackoffRate, float64(ex.Attempts[i]))
			if r.MaxDelaySeconds > 0 && delay > r.MaxDelaySeconds {
				delay = r.MaxDelaySeconds
			}
			if r.JitterStrategy == "FULL" {
				delay = mrand.Float64() * delay
			}
			ex.Attempts[i]++
			ex.RetryCount++
			until := s.now.Add(time.Duration(delay * float64(time.Second)))
			ex.Awaiting = AwaitRetry
			s.emit(HistoryEvent{Type: "RetryScheduled", Name: st.Name, Error: name, Cause: cause, Attempt: ex.RetryCount, Until: until})
			return outcome{d: &Decision{Kind: DecideWait, Until: until}}
		}
		for _, c := range st.Catch {
			if !errorMatches(c.ErrorEquals, name) {
				continue
			}
			errOut := map[string]any{"Error": name}
			if cause != "" {
				errOut["Cause"] = cause
			}
			raw := s.rawInput()
			var out any
			var assigned map[string]any
			if st.QueryLanguage == JSONata {
				env := s.jsonataEnv(st, map[string]any{"errorOutput": errOut})
				out = errOut
				if c.output != nil {
					v, err := evalTemplate(c.output, env, "Output")
					if err != nil {
						return outcome{d: s.failExecution(err.name, s.prefix(st, err.cause))}
					}
					out = v
				}
				a, err := evalAssign(c.assign, env)
				if err != nil {
					return outcome{d: s.failExecution(err.name, s.prefix(st, err.cause))}
				}
				assigned = a
			} else {
				a, err := evalAssign(c.assign, s.env(st, errOut))
				if err != nil {
					return outcome{d: s.failExecution(err.name, s.prefix(st, err.cause))}
				}
				assigned = a
				o, err := s.resultPath(c.resultPath, raw, errOut)
				if err != nil {
					return outcome{d: s.failExecution(err.name, s.prefix(st, err.cause))}
				}
				out = o
			}
			s.emit(HistoryEvent{Type: "CatchMatched", Name: st.Name, Error: name, Cause: cause})
			return s.exit(st, out, assigned, c.Next)
		}
	}
	if st.Type == TypeParallel || st.Type == TypeMap {
		s.emit(HistoryEvent{Type: st.Type + "StateFailed", Name: st.Name, Error: name, Cause: cause})
	}
	return outcome{d: s.failExecution(name, cause)}
}

func (s *stepper) prefix(st *State, cause string) string {
	return fmt.Sprintf("An error occurred while executing the state '%s' (entered at the event id #%d). %s", st.Name, s.ex.EnteredEventID, cause)
}

func (s *stepper) runFail(st *State, raw any) outcome {
	var errName, cause string
	evalStr := func(n *tmplNode, field string, env *pathEnv) (string, *stateError) {
		v, err := evalTemplate(n, env, field)
		if err != nil {
			return "", err
		}
		str, ok := v.(string)
		if !ok {
			if st.QueryLanguage == JSONata {
				return "", newStateError(ErrorQueryEvaluationError, "The JSONata expression '%s' specified for the field '%s' returned an unexpected result type. Expected 'string', but was '%s' for value: %s", n.src, field, typeName(v), encodeJSON(v))
			}
			return "", runtimeErr("The %s field refers to value %s which is not a valid string", field, encodeJSON(v))
		}
		return str, nil
	}
	var env *pathEnv
	if st.QueryLanguage == JSONata {
		env = s.jsonataEnv(st, nil)
	} else {
		env = s.env(st, raw)
	}
	for _, f := range []struct {
		n     *tmplNode
		field string
		dst   *string
	}{{st.errorField, "Error", &errName}, {st.errorPath, "ErrorPath", &errName}, {st.causeField, "Cause", &cause}, {st.causePath, "CausePath", &cause}} {
		if f.n == nil {
			continue
		}
		v, err := evalStr(f.n, f.field, env)
		if err != nil {
			return outcome{d: s.failExecution(err.name, s.prefix(st, err.cause))}
		}
		*f.dst = v
	}
	return outcome{d: s.failExecution(errName, cause)}
}

func (s *stepper) runChoice(st *State, raw any) outcome {
	var env *pathEnv
	var in any
	if st.QueryLanguage == JSONata {
		env = s.jsonataEnv(st, nil)
		in = raw
	} else {
		v, err := s.inputPath(st, raw)
		if err != nil {
			return s.handleError(st, err.name, err.cause, true)
		}
		in = v
		env = s.env(st, in)
	}
	var matched *ChoiceRule
	for _, r := range st.Choices {
		ok, err := evalRule(r, env)
		if err != nil {
			return s.handleError(st, err.name, err.cause, true)
		}
		if ok {
			matched = r
			break
		}
	}
	next := st.Default
	assignN, outputN := st.assign, st.output
	if matched != nil {
		next = matched.Next
		if matched.assign != nil {
			assignN = matched.assign
		}
		if matched.output != nil {
			outputN = matched.output
		}
	}
	if next == "" {
		return s.handleError(st, ErrorNoChoiceMatched, "No Matches!", false)
	}
	assigned, err := evalAssign(assignN, env)
	if err != nil {
		return s.handleError(st, err.name, err.cause, true)
	}
	out := in
	if st.QueryLanguage == JSONata {
		if outputN != nil {
			v, err := evalTemplate(outputN, env, "Output")
			if err != nil {
				return s.handleError(st, err.name, err.cause, true)
			}
			out = v
		}
	} else {
		v, err := s.outputPath(st, in)
		if err != nil {
			return s.handleError(st, err.name, err.cause, true)
		}
		out = v
	}
	return s.exit(st, out, assigned, next)
}

// maxWait is the longest a Wait may last (a Standard execution's limit).
const maxWait = 366 * 24 * time.Hour

func (s *stepper) runWait(st *State, raw any) outcome {
	var env *pathEnv
	in := raw
	jsonata := st.QueryLanguage == JSONata
	if jsonata {
		env = s.jsonataEnv(st, nil)
	} else {
		v, err := s.inputPath(st, raw)
		if err != nil {
			return s.handleError(st, err.name, err.cause, true)
		}
		in = v
		env = s.env(st, in)
	}
	var until time.Time
	switch {
	case st.seconds != nil:
		v, err := evalTemplate(st.seconds, env, "Seconds")
		if err != nil {
			return s.handleError(st, err.name, err.cause, true)
		}
		n, ok := toInt(v)
		if !ok || n < 0 {
			if jsonata {
				return s.handleError(st, ErrorQueryEvaluationError, fmt.Sprintf("The JSONata expression '%s' specified for the field 'Seconds' returned an unexpected result type. Expected 'integer', but was '%s' for value: %s", st.seconds.src, typeName(v), encodeJSON(v)), true)
			}
			return s.handleError(st, ErrorRuntime, "Seconds must be a non-negative integer", true)
		}
		if time.Duration(n)*time.Second > maxWait {
			return s.handleError(st, ErrorRuntime, "Wait state delay is too long.", true)
		}
		until = s.now.Add(time.Duration(n) * time.Second)
	case st.secondsPath != nil:
		v, err := evalPath(st.secondsPath, env)
		if err != nil {
			return s.handleError(st, ErrorRuntime, fmt.Sprintf("Invalid path '%s' : %s", st.secondsPath.src, err.Error()), true)
		}
		n, ok := toInt(v)
		if !ok || n < 0 {
			return s.handleError(st, ErrorRuntime, fmt.Sprintf("The SecondsPath parameter does not reference a valid non-negative integer: %s == %s", st.secondsPath.src, formatArg(v)), true)
		}
		if time.Duration(n)*time.Second > maxWait {
			return s.handleError(st, ErrorRuntime, "Wait state delay is too long.", true)
		}
		until = s.now.Add(time.Duration(n) * time.Second)
	case st.timestamp != nil:
		v, err := evalTemplate(st.timestamp, env, "Timestamp")
		if err != nil {
			return s.handleError(st, err.name, err.cause, true)
		}
		str, _ := v.(string)
		t, ok := parseTimestamp(str)
		if !ok {
			return s.handleError(st, ErrorQueryEvaluationError, fmt.Sprintf("The Timestamp field does not hold a valid ISO-8601 extended offset date-time format string: %s", formatArg(v)), true)
		}
		until = t
	case st.timestampPath != nil:
		v, err := evalPath(st.timestampPath, env)
		if err != nil {
			return s.handleError(st, ErrorRuntime, fmt.Sprintf("Invalid path '%s' : %s", st.timestampPath.src, err.Error()), true)
		}
		str, _ := v.(string)
		t, ok := parseTimestamp(str)
		if !ok {
			return s.handleError(st, ErrorRuntime, fmt.Sprintf("The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: %s == %s", st.timestampPath.src, formatArg(v)), true)
		}
		until = t
	}
	if until.Sub(s.now) > maxWait {
		return s.handleError(st, ErrorRuntime, "Wait state delay is too long.", true)
	}
	assigned, err := evalAssign(st.assign, env)
	if err != nil {
		return s.handleError(st, err.name, err.cause, true)
	}
	out := in
	if jsonata {
		if st.output != nil {
			v, err := evalTemplate(st.output, env, "Output")
			if err != nil {
				return s.handleError(st, err.name, err.cause, true)
			}
			out = v
		}
	} else {
		v, err := s.outputPath(st, in)
		if err != nil {
			return s.handleError(st, err.name, err.cause, true)
		}
		out = v
	}
	p := &Pending{Output: valueToRaw(out)}
	if len(assigned) > 0 {
		p.Assigned = map[string]json.RawMessage{}
		for k, v := range assigned {
			p.Assigned[k] = valueToRaw(v)
		}
	}
	s.ex.Pending = p
	s.ex.Awaiting = AwaitTimer
	return outcome{d: &Decision{Kind: DecideWait, Until: until}}
}

// ---- Task ----

const lambdaInvokeResource = "arn:aws:states:::lambda:invoke"

// ParseFunctionRef extracts a function name and qualifier from a Task
// resource or a Lambda FunctionName: "fn:NAME", "fn:NAME:ALIAS",
// "fn:NAME:3", "arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]",
// "REGION:ACCOUNT:function:NAME" partial ARNs, and bare "NAME[:QUALIFIER]".
func ParseFunctionRef(ref string) (name, qualifier string, ok bool) {
	switch {
	case strings.HasPrefix(ref, "fn:"):
		rest := strings.TrimPrefix(ref, "fn:")
		name, qualifier, _ = strings.Cut(rest, ":")
	case strings.HasPrefix(ref, "arn:"):
		parts := strings.Split(ref, ":")
		// arn:partition:lambda:region:account:function:name[:qualifier]
		if len(parts) < 7 || parts[2] != "lambda" || parts[5] != "function" {
			return "", "", false
		}
		name = parts[6]
		if len(parts) > 7 {
			qualifier = strings.Join(parts[7:], ":")
		}
	default:
		parts := strings.Split(ref, ":")
		if i := indexOf(parts, "function"); i >= 0 && i+1 < len(parts) {
			name = parts[i+1]
			if len(parts) > i+2 {
				qualifier = strings.Join(parts[i+2:], ":")
			}
		} else {
			name, qualifier, _ = strings.Cut(ref, ":")
		}
	}
	if name == "" {
		return "", "", false
	}
	return name, qualifier, true
}

func indexOf(s []string, x string) int {
	for i, v := range s {
		if v == x {
			return i
		}
	}
	return -1
}

func functionTarget(name, qualifier string) string {
	if qualifier == "" {
		return "fn:" + name
	}
	return "fn:" + name + ":" + qualifier
}

// runTask schedules st's task; raw is the state's input, nil for a
// passthrough state (whose input goes to the task as it is encoded).
func (s *stepper) runTask(st *State, raw any) outcome {
	var in any
	var env *pathEnv
	jsonata := st.QueryLanguage == JSONata
	pass := st.passthrough
	if pass {
		// Nothing reads the input: no env, no decoding.
	} else if jsonata {
		env = s.jsonataEnv(st, nil)
		in = raw
		if st.arguments != nil {
			v, err := evalTemplate(st.arguments, env, "Arguments")
			if err != nil {
				return s.handleError(st, err.name, err.cause, true)
			}
			in = v
		}
	} else {
		v, err := s.inputPath(st, raw)
		if err == nil && st.parameters != nil {
			v, err = evalTemplate(st.parameters, s.env(st, v), "Parameters")
		}
		if err != nil {
			return s.handleError(st, err.name, err.cause, true)
		}
		in = v
		env = s.env(st, raw)
	}
	call := &TaskCall{Resource: st.Resource, Target: st.Resource, Attempt: s.ex.RetryCount}
	var serr *stateError
	call.TimeoutSeconds, serr = s.secondsField(st, st.timeoutSeconds, st.timeoutSecondsPath, env, "TimeoutSeconds")
	if serr != nil {
		return s.handleError(st, serr.name, serr.cause, true)
	}
	call.HeartbeatSeconds, serr = s.secondsField(st, st.heartbeatSeconds, st.heartbeatSecondsPath, env, "HeartbeatSeconds")
	if serr != nil {
		return s.handleError(st, serr.name, serr.cause, true)
	}
	if st.Resource == lambdaInvokeResource || strings.HasPrefix(st.Resource, lambdaInvokeResource+".") {
		args, ok := in.(map[string]any)
		if !ok {
			return s.handleError(st, ErrorRuntime, fmt.Sprintf("The %s integration needs an object with FunctionName, got %s", lambdaInvokeResource, typeName(in)), true)
		}
		fnName, _ := args["FunctionName"].(string)
		name, qual, ok := ParseFunctionRef(fnName)
		if !ok {
			return s.handleError(st, ErrorRuntime, fmt.Sprintf("FunctionName %q does not name a function", fnName), true)
		}
		if q, ok := args["Qualifier"].(string); ok && q != "" {
			qual = q
		}
		call.Function, call.Qualifier = name, qual
		call.Target = functionTarget(name, qual)
		call.Integration = "lambda:invoke"
		payload, present := args["Payload"]
		switch p := payload.(type) {
		case nil:
			if !present || p == nil {
				payload = map[string]any{}
			}
		case string:
			if v, err := decodeJSON([]byte(p)); err == nil {
				payload = v
			}
		}
		in = payload
	} else if name, qual, ok := ParseFunctionRef(st.Resource); ok && (strings.HasPrefix(st.Resource, "fn:") || strings.HasPrefix(st.Resource, "arn:")) {
		call.Function, call.Qualifier = name, qual
		call.Target = functionTarget(name, qual)
		if jsonata && st.arguments == nil {
			in = raw
		}
	}
	if pass {
		call.Input = s.ex.Input
	} else {
		call.Input = s.memo.toRaw(in)
	}
	s.ex.Task = call
	s.ex.Awaiting = AwaitTask
	s.emit(HistoryEvent{Type: "TaskScheduled", Name: st.Name, Resource: st.Resource, Input: call.Input, Attempt: call.Attempt})
	s.emit(HistoryEvent{Type: "TaskStarted", Name: st.Name, Resource: st.Resource, Attempt: call.Attempt})
	return outcome{d: &Decision{Kind: DecideRunTask, Task: call}}
}

// secondsField evaluates TimeoutSeconds-like fields.
func (s *stepper) secondsField(st *State, f numField, p *jsonPath, env *pathEnv, field string) (int, *stateError) {
	var v any
	switch {
	case f.expr != nil:
		x, err := evalTemplate(f.expr, env, field)
		if err != nil {
			return 0, err
		}
		v = x
	case f.set:
		v = f.num
	case p != nil:
		x, err := evalPath(p, env)
		if err != nil {
			return 0, runtimeErr("Invalid path '%s' : %s", p.src, err.Error())
		}
		v = x
	default:
		return 0, nil
	}
	n, ok := toInt(v)
	if !ok || n <= 0 {
		return 0, runtimeErr("The %s field refers to value \"%s\" which is not a valid positive integer", field, formatArg(v))
	}
	return int(n), nil
}

// ---- Parallel and Map ----

func (s *stepper) intField(st *State, f numField, p *jsonPath, env *pathEnv, field string, allowFloat bool) (float64, bool, *stateError) {
	var v any
	src := ""
	switch {
	case f.expr != nil:
		x, err := evalTemplate(f.expr, env, field)
		if err != nil {
			return 0, false, err
		}
		v = x
		src = f.expr.src
	case f.set:
		v = f.num
	case p != nil:
		x, err := evalPath(p, env)
		if err != nil {
			return 0, false, runtimeErr("Invalid path '%s' : %s", p.src, err.Error())
		}
		v = x
		src = p.src
	default:
		return 0, false, nil
	}
	if str, ok := v.(string); ok && p != nil {
		// A path may point at a numeric string ("1").
		if n, err := decodeJSON([]byte(str)); err == nil && isNumber(n) {
			v = n
		}
	}
	if allowFloat {
		if fl, ok := toFloat(v); ok && fl >= 0 {
			return fl, true, nil
		}
	} else if n, ok := toInt(v); ok && n >= 0 {
		return float64(n), true, nil
	}
	if f.expr != nil {
		return 0, false, newStateError(ErrorQueryEvaluationError, "The JSONata expression '%s' specified for the field '%s' returned an unexpected result type. Expected 'integer', but was '%s' for value: %s", src, field, typeName(v), encodeJSON(v))
	}
	return 0, false, runtimeErr("The %sPath field refers to value \"%s\" which is not a valid integer: %s", field, formatArg(v), src)
}

func (s *stepper) runFanout(st *State, raw any) outcome {
	jsonata := st.QueryLanguage == JSONata
	var env *pathEnv
	in := raw
	if jsonata {
		env = s.jsonataEnv(st, nil)
	} else {
		v, err := s.inputPath(st, raw)
		if err != nil {
			return s.handleError(st, err.name, err.cause, true)
		}
		in = v
		env = s.env(st, in)
	}
	f := &Fanout{ToleratedCount: -1, ToleratedPercentage: -1}
	var inputs []any
	if st.Type == TypeParallel {
		if jsonata && st.arguments != nil {
			v, err := evalTemplate(st.arguments, env, "Arguments")
			if err != nil {
				return s.handleError(st, err.name, err.cause, true)
			}
			in = v
		} else if !jsonata && st.parameters != nil {
			v, err := evalTemplate(st.parameters, env, "Parameters")
			if err != nil {
				return s.handleError(st, err.name, err.cause, true)
			}
			in = v
		}
		for range st.Branches {
			inputs = append(inputs, in)
		}
	} else {
		if st.hasItemReader {
			return s.handleError(st, ErrorItemReaderFailed, "ItemReader is not supported by baton: Map reads its items from the state input", true)
		}
		var items any
		switch {
		case jsonata && st.items != nil:
			v, err := evalTemplate(st.items, env, "Items")
			if err != nil {
				return s.handleError(st, err.name, err.cause, true)
			}
			if _, ok := v.([]any); !ok {
				return s.handleError(st, ErrorQueryEvaluationError, fmt.Sprintf("The JSONata expression '%s' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was '%s' for value: %s", st.items.src, typeName(v), encodeJSON(v)), true)
			}
			items = v
		case !jsonata && st.itemsPath != nil:
			v, err := evalPath(st.itemsPath, env)
			if err != nil {
				return s.handleError(st, ErrorRuntime, fmt.Sprintf("Invalid path '%s' : %s", st.itemsPath.src, err.Error()), true)
			}
			items = v
		default:
			items = in
		}
		arr, ok := items.([]any)
		if !ok {
			name := ErrorRuntime
			if jsonata {
				name = ErrorQueryEvaluationError
			}
			return s.handleError(st, name, "Map state input must be an array but was: "+encodeJSON(items), true)
		}
		mc, set, err := s.intField(st, st.maxConcurrency, st.maxConcurrencyPath, env, "MaxConcurrency", false)
		if err != nil {
			return s.handleError(st, err.name, err.cause, true)
		}
		if set {
			f.MaxConcurrency = int(mc)
		}
		tc, set, err := s.intField(st, st.toleratedCount, st.toleratedCountPath, env, "ToleratedFailureCount", false)
		if err != nil {
			return s.handleError(st, err.name, err.cause, true)
		}
		if set {
			f.ToleratedCount = int(tc)
		}
		tp, set, err := s.intField(st, st.toleratedPercentage, st.toleratedPercentagePath, env, "ToleratedFailurePercentage", true)
		if err != nil {
			return s.handleError(st, err.name, err.cause, true)
		}
		if set {
			if tp > 100 {
				return s.handleError(st, ErrorRuntime, "ToleratedFailurePercentage must be between 0 and 100", true)
			}
			f.ToleratedPercentage = tp
		}
		for i, item := range arr {
			child := item
			if st.itemSelector != nil {
				s.ex.MapItem = &MapItem{Index: i, Value: valueToRaw(item)}
				var v any
				var err *stateError
				if jsonata {
					v, err = evalTemplate(st.itemSelector, s.jsonataEnv(st, nil), "ItemSelector")
				} else {
					v, err = evalTemplate(st.itemSelector, s.env(st, in), "ItemSelector")
				}
				s.ex.MapItem = nil
				if err != nil {
					return s.handleError(st, err.name, err.cause, true)
				}
				child = v
			}
			inputs = append(inputs, child)
		}
	}
	n := len(inputs)
	f.Inputs = make([]json.RawMessage, n)
	for i, x := range inputs {
		f.Inputs[i] = valueToRaw(x)
	}
	f.Results = make([]json.RawMessage, n)
	f.Done = make([]bool, n)
	s.ex.Fanout = f
	s.emit(HistoryEvent{Type: st.Type + "StateStarted", Name: st.Name})
	if n == 0 {
		return s.fanoutDone(st)
	}
	s.ex.Awaiting = AwaitChildren
	return outcome{d: &Decision{Kind: DecideStartChildren, Children: s.startChildren(st)}}
}

// startChildren starts as many children as MaxConcurrency allows.
func (s *stepper) startChildren(st *State) []*Execution {
	f := s.ex.Fanout
	var out []*Execution
	outer := map[string]json.RawMessage{}
	for k, v := range s.ex.Outer {
		outer[k] = v
	}
	for k, v := range s.ex.Vars {
		outer[k] = v
	}
	if len(outer) == 0 {
		outer = nil
	}
	for f.Started < len(f.Inputs) && (f.MaxConcurrency == 0 || f.Running < f.MaxConcurrency) {
		i := f.Started
		path := st.Processor.pathOrEmpty()
		if st.Type == TypeParallel {
			path = st.Branches[i].Path
		}
		child := &Execution{Path: path, Index: i, Info: s.ex.Info, Input: f.Inputs[i], Outer: outer,
			Detached: s.ex.Detached || (st.Type == TypeMap && st.ProcessorMode == "DISTRIBUTED")}
		out = append(out, child)
		f.Started++
		f.Running++
		if st.Type == TypeMap {
			s.emit(HistoryEvent{Type: "MapIterationStarted", Name: st.Name, Index: i})
		}
	}
	return out
}

func (m *Machine) pathOrEmpty() string {
	if m == nil {
		return ""
	}
	return m.Path
}

func (s *stepper) childDone(st *State, ev Event) outcome {
	f := s.ex.Fanout
	i := ev.Child
	if i < 0 || i >= len(f.Done) || f.Done[i] {
		// A duplicate or unknown report: ignore it, keep waiting.
		return outcome{d: &Decision{Kind: DecideAwaitChildren}}
	}
	f.Done[i] = true
	f.Running--
	if ev.Kind == EventChildSucceeded {
		f.Results[i] = ev.Output
		if st.Type == TypeMap {
			s.emit(HistoryEvent{Type: "MapIterationSucceeded", Name: st.Name, Index: i})
		}
	} else {
		f.Failed++
		errOut := map[string]any{"Error": ev.Error}
		if ev.Cause != "" {
			errOut["Cause"] = ev.Cause
		}
		f.Results[i] = valueToRaw(errOut)
		if st.Type == TypeMap {
			s.emit(HistoryEvent{Type: "MapIterationFailed", Name: st.Name, Index: i, Error: ev.Error, Cause: ev.Cause})
		}
		tolerated := false
		if st.Type == TypeMap && (f.ToleratedCount >= 0 || f.ToleratedPercentage >= 0) {
			tolerated = true
			if f.ToleratedCount >= 0 && f.Failed > f.ToleratedCount {
				tolerated = false
			}
			if f.ToleratedPercentage >= 0 && float64(f.Failed)*100/float64(len(f.Done)) > f.ToleratedPercentage {
				tolerated = false
			}
			if !tolerated && (f.ToleratedCount > 0 || f.ToleratedPercentage > 0) {
				return s.fanoutFailed(st, ErrorExceedToleratedFailure, "The specified tolerated failure threshold was exceeded")
			}
		}
		if !tolerated {
			return s.fanoutFailed(st, ev.Error, ev.Cause)
		}
	}
	all := true
	for _, d := range f.Done {
		if !d {
			all = false
			break
		}
	}
	if all {
		return s.fanoutDone(st)
	}
	if kids := s.startChildren(st); len(kids) > 0 {
		return outcome{d: &Decision{Kind: DecideStartChildren, Children: kids}}
	}
	return outcome{d: &Decision{Kind: DecideAwaitChildren}}
}

func (s *stepper) fanoutFailed(st *State, name, cause string) outcome {
	if s.ex.Fanout.Running > 0 {
		s.cancel = true
	}
	s.ex.Fanout = nil
	s.ex.Awaiting = AwaitNothing
	return s.handleError(st, name, cause, false)
}

func (s *stepper) fanoutDone(st *State) outcome {
	f := s.ex.Fanout
	result := make([]any, len(f.Results))
	for i, r := range f.Results {
		result[i] = rawToValue(r)
	}
	s.ex.Fanout = nil
	s.ex.Awaiting = AwaitNothing
	s.emit(HistoryEvent{Type: st.Type + "StateSucceeded", Name: st.Name})
	return s.finishWithResult(st, result)
}
