package chain

import (
	"encoding/json"
	"strconv"

	"github.com/baton-run/baton/scheduler/asl"
)

// The snapshot is written after every step: appendStored writes it as
// encoding/json would (field order, omitempty), less the reflection. The
// rarer parts (variables, Pending, Fanout, a decision other than a plain
// RunTask) go through encoding/json.

// appendStored appends w, without its outbox and the closing '}'.
func appendStored(buf []byte, w *storedExecution) ([]byte, error) {
	x := w.Execution
	var err error
	buf = appendString(append(buf, `{"id":`...), x.ID)
	buf = appendString(append(buf, `,"chain":`...), x.Chain)
	buf = strconv.AppendInt(append(buf, `,"version":`...), int64(x.Version), 10)
	if x.Parent != "" {
		buf = appendString(append(buf, `,"parent":`...), x.Parent)
	}
	if x.Fanout != "" {
		buf = appendString(append(buf, `,"fanout":`...), x.Fanout)
	}
	if x.Index != 0 {
		buf = strconv.AppendInt(append(buf, `,"index":`...), int64(x.Index), 10)
	}
	buf = appendString(append(buf, `,"status":`...), string(x.Status))
	if buf, err = appendRawOrNull(append(buf, `,"input":`...), x.Input); err != nil {
		return nil, err
	}
	if len(x.Output) > 0 {
		if buf, err = appendRaw(append(buf, `,"output":`...), x.Output); err != nil {
			return nil, err
		}
	}
	buf = appendOptString(buf, `,"error":`, x.Error)
	buf = appendOptString(buf, `,"cause":`, x.Cause)
	if buf, err = appendTime(append(buf, `,"started":`...), x.Started); err != nil {
		return nil, err
	}
	if !x.Stopped.IsZero() {
		if buf, err = appendTime(append(buf, `,"stopped":`...), x.Stopped); err != nil {
			return nil, err
		}
	}
	if x.Redrives != 0 {
		buf = strconv.AppendInt(append(buf, `,"redrives":`...), int64(x.Redrives), 10)
	}
	buf = append(buf, `,"state":`...)
	if x.State == nil {
		buf = append(buf, "null"...)
	} else if buf, err = appendState(buf, x.State); err != nil {
		return nil, err
	}
	if n := x.Next; n != nil {
		buf = append(buf, `,"next":`...)
		if n.Task == nil && n.Until.IsZero() && n.Children == nil && !n.CancelChildren && n.Output == nil && n.Error == "" && n.Cause == "" && n.Events == nil {
			buf = append(appendString(append(buf, `{"kind":`...), string(n.Kind)), '}')
		} else if buf, err = appendJSON(buf, n); err != nil {
			return nil, err
		}
	}
	if w.InfoInputIsInput {
		buf = append(buf, `,"infoInputIsInput":true`...)
	}
	if w.TaskInputIsInput {
		buf = append(buf, `,"taskInputIsInput":true`...)
	}
	if w.InfoIsRoot {
		buf = append(buf, `,"infoIsRoot":true`...)
	}
	return buf, nil
}

func appendState(buf []byte, s *asl.Execution) ([]byte, error) {
	var err error
	buf = append(buf, '{')
	if s.Path != "" {
		buf = appendString(append(buf, `"path":`...), s.Path)
		buf = append(buf, ',')
	}
	if s.Index != 0 {
		buf = strconv.AppendInt(append(buf, `"index":`...), int64(s.Index), 10)
		buf = append(buf, ',')
	}
	if s.Detached {
		buf = append(buf, `"detached":true,`...)
	}
	in := &s.Info
	buf = appendString(append(buf, `"info":{"id":`...), in.ID)
	buf = appendString(append(buf, `,"name":`...), in.Name)
	buf = appendString(append(buf, `,"stateMachineId":`...), in.StateMachineID)
	buf = appendString(append(buf, `,"stateMachineName":`...), in.StateMachineName)
	buf = appendOptString(buf, `,"roleArn":`, in.RoleArn)
	if buf, err = appendTime(append(buf, `,"startTime":`...), in.StartTime); err != nil {
		return nil, err
	}
	if buf, err = appendRawOrNull(append(buf, `,"input":`...), in.Input); err != nil {
		return nil, err
	}
	buf = append(buf, '}')
	buf = appendOptString(buf, `,"status":`, string(s.Status))
	buf = appendOptString(buf, `,"state":`, s.State)
	if len(s.Input) > 0 {
		if buf, err = appendRaw(append(buf, `,"input":`...), s.Input); err != nil {
			return nil, err
		}
	}
	if !s.EnteredTime.IsZero() {
		if buf, err = appendTime(append(buf, `,"enteredTime":`...), s.EnteredTime); err != nil {
			return nil, err
		}
	}
	if s.EnteredEventID != 0 {
		buf = strconv.AppendInt(append(buf, `,"enteredEventId":`...), s.EnteredEventID, 10)
	}
	if len(s.Vars) > 0 {
		if buf, err = appendJSON(append(buf, `,"vars":`...), s.Vars); err != nil {
			return nil, err
		}
	}
	if len(s.Outer) > 0 {
		if buf, err = appendJSON(append(buf, `,"outer":`...), s.Outer); err != nil {
			return nil, err
		}
	}
	if len(s.Attempts) > 0 {
		buf = append(buf, `,"attempts":[`...)
		for i, a := range s.Attempts {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendInt(buf, int64(a), 10)
		}
		buf = append(buf, ']')
	}
	if s.RetryCount != 0 {
		buf = strconv.AppendInt(append(buf, `,"retryCount":`...), int64(s.RetryCount), 10)
	}
	buf = appendOptString(buf, `,"awaiting":`, string(s.Awaiting))
	if t := s.Task; t != nil {
		buf = appendString(append(buf, `,"task":{"resource":`...), t.Resource)
		buf = appendString(append(buf, `,"target":`...), t.Target)
		buf = appendOptString(buf, `,"function":`, t.Function)
		buf = appendOptString(buf, `,"qualifier":`, t.Qualifier)
		buf = appendOptString(buf, `,"integration":`, t.Integration)
		if buf, err = appendRawOrNull(append(buf, `,"input":`...), t.Input); err != nil {
			return nil, err
		}
		if t.TimeoutSeconds != 0 {
			buf = strconv.AppendInt(append(buf, `,"timeoutSeconds":`...), int64(t.TimeoutSeconds), 10)
		}
		if t.HeartbeatSeconds != 0 {
			buf = strconv.AppendInt(append(buf, `,"heartbeatSeconds":`...), int64(t.HeartbeatSeconds), 10)
		}
		buf = strconv.AppendInt(append(buf, `,"attempt":`...), int64(t.Attempt), 10)
		buf = append(buf, '}')
	}
	if s.Pending != nil {
		if buf, err = appendJSON(append(buf, `,"pending":`...), s.Pending); err != nil {
			return nil, err
		}
	}
	if s.Fanout != nil {
		if buf, err = appendJSON(append(buf, `,"fanout":`...), s.Fanout); err != nil {
			return nil, err
		}
	}
	if len(s.Output) > 0 {
		if buf, err = appendRaw(append(buf, `,"output":`...), s.Output); err != nil {
			return nil, err
		}
	}
	buf = appendOptString(buf, `,"error":`, s.Error)
	buf = appendOptString(buf, `,"cause":`, s.Cause)
	buf = strconv.AppendInt(append(buf, `,"seq":`...), s.Seq, 10)
	buf = strconv.AppendInt(append(buf, `,"transitions":`...), s.Transitions, 10)
	if s.MapItem != nil {
		if buf, err = appendJSON(append(buf, `,"mapItem":`...), s.MapItem); err != nil {
			return nil, err
		}
	}
	return append(buf, '}'), nil
}

func appendOptString(buf []byte, key, s string) []byte {
	if s == "" {
		return buf
	}
	return appendString(append(buf, key...), s)
}

// appendRawOrNull is appendRaw, with null for an empty raw value (as
// encoding/json writes a nil json.RawMessage).
func appendRawOrNull(buf []byte, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return append(buf, "null"...), nil
	}
	return appendRaw(buf, raw)
}

func appendJSON(buf []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(buf, b...), err
}
