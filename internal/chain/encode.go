package chain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/baton-run/baton/scheduler/asl"
)

// eventCache holds the encoding of the outbox events of one worker's
// execution: an event is encoded once, for every snapshot that carries it
// and for its history message. Nil encodes every time.
type eventCache map[int64][]byte

func (c eventCache) encode(ev *asl.HistoryEvent) ([]byte, error) {
	if b, ok := c[ev.ID]; ok {
		return b, nil
	}
	b, err := encodeEvent(make([]byte, 0, 256), ev)
	if err != nil {
		return nil, err
	}
	if c != nil {
		c[ev.ID] = b
	}
	return b, nil
}

// forget drops the events up to id.
func (c eventCache) forget(id int64) {
	for k := range c {
		if k <= id {
			delete(c, k)
		}
	}
}

// appendEvents appends the JSON array of events to buf.
func (c eventCache) appendEvents(buf []byte, events []asl.HistoryEvent) ([]byte, error) {
	buf = append(buf, '[')
	for i := range events {
		b, err := c.encode(&events[i])
		if err != nil {
			return nil, err
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, b...)
	}
	return append(buf, ']'), nil
}

// storedExecution is the stored form of an Execution: copies of the
// payload that are equal to another one are left out and flagged.
type storedExecution struct {
	*Execution
	// InfoInputIsInput: State.Info.Input is Input (a root execution).
	InfoInputIsInput bool `json:"infoInputIsInput,omitempty"`
	// TaskInputIsInput: State.Task.Input is State.Input (no Parameters).
	TaskInputIsInput bool `json:"taskInputIsInput,omitempty"`
	// InfoIsRoot: State.Info (left out) is rootInfo of the execution,
	// with Input: what every root execution has.
	InfoIsRoot bool `json:"infoIsRoot,omitempty"`
}

// encodeExecution is the stored form of x. It leaves out what it can
// rebuild (see decodeExecution): the task call of a RunTask decision is
// the interpreter's Task, stored once; the execution's input is stored
// once for the root input and once for the current state's (and task's).
func encodeExecution(x *Execution, c eventCache) ([]byte, error) {
	y := *x
	w := storedExecution{Execution: &y}
	if n := y.Next; n != nil && n.Kind == asl.DecideRunTask && n.Task != nil && y.State != nil && y.State.Task == n.Task {
		nn := *n
		nn.Task = nil
		y.Next = &nn
	}
	if x.State != nil {
		st := *x.State
		if len(st.Info.Input) > 0 && bytes.Equal(st.Info.Input, x.Input) {
			st.Info.Input, w.InfoInputIsInput = nil, true
			if name, ok := strings.CutPrefix(x.ID, x.Chain+"."); ok && x.Parent == "" && isRootInfo(st.Info, x.Chain, name, x.Started) {
				st.Info, w.InfoIsRoot = asl.ExecutionInfo{}, true
			}
		}
		if st.Task != nil && len(st.Task.Input) > 0 && bytes.Equal(st.Task.Input, st.Input) {
			t := *st.Task
			t.Input, w.TaskInputIsInput = nil, true
			st.Task = &t
		}
		y.State = &st
	}
	size := 1024 + len(x.Input)
	if y.State != nil {
		size += len(y.State.Input)
	}
	for i := range x.Outbox {
		if b, ok := c[x.Outbox[i].ID]; ok {
			size += len(b) + 1
		} else {
			size += 256
		}
	}
	buf, err := appendStored(make([]byte, 0, size), &w)
	if err != nil {
		return nil, err
	}
	if len(x.Outbox) > 0 {
		buf = append(buf, `,"outbox":`...)
		if buf, err = c.appendEvents(buf, x.Outbox); err != nil {
			return nil, err
		}
	}
	return compress(append(buf, '}')), nil
}

// A snapshot of compressMin bytes or more is stored compressed: the byte
// compressedMark (never the first byte of JSON) and the S2 block of the
// JSON. Snapshots are written at every step and are mostly repeats (the
// payload in several events, ids, times, names): S2 makes a typical one
// a third of its size for about a microsecond, which the write of the
// step then saves several times over.
const (
	compressMin    = 1 << 10
	compressedMark = 0
)

func compress(data []byte) []byte {
	if len(data) < compressMin {
		return data
	}
	out := make([]byte, 1+s2.MaxEncodedLen(len(data)))
	out[0] = compressedMark
	return out[:1+len(s2.Encode(out[1:], data))]
}

// uncompress returns the JSON of a stored snapshot.
func uncompress(data []byte) ([]byte, error) {
	if len(data) == 0 || data[0] != compressedMark {
		return data, nil
	}
	return s2.Decode(nil, data[1:])
}

// isRootInfo reports whether info (without its Input) is rootInfo.
func isRootInfo(info asl.ExecutionInfo, chain, name string, start time.Time) bool {
	want := rootInfo(chain, name, start)
	return info.ID == want.ID && info.Name == want.Name && info.StateMachineID == want.StateMachineID &&
		info.StateMachineName == want.StateMachineName && info.RoleArn == want.RoleArn && info.StartTime.Equal(want.StartTime) &&
		info.StartTime.Location() == want.StartTime.Location()
}

// decodeExecution reads a stored execution.
func decodeExecution(data []byte) (*Execution, error) {
	data, err := uncompress(data)
	if err != nil {
		return nil, fmt.Errorf("uncompressing: %w", err)
	}
	var x Execution
	w := storedExecution{Execution: &x}
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, err
	}
	if st := x.State; st != nil {
		if w.InfoIsRoot {
			st.Info = rootInfo(x.Chain, strings.TrimPrefix(x.ID, x.Chain+"."), x.Started)
		}
		if w.InfoInputIsInput {
			st.Info.Input = x.Input
		}
		if w.TaskInputIsInput && st.Task != nil {
			st.Task.Input = st.Input
		}
	}
	if n := x.Next; n != nil && n.Kind == asl.DecideRunTask && n.Task == nil && x.State != nil {
		n.Task = x.State.Task
	}
	return &x, nil
}

// encodeHistory is the history message of events of execution id.
func encodeHistory(id string, events []asl.HistoryEvent, c eventCache) ([]byte, error) {
	idj, err := json.Marshal(id)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(32 + len(id) + 512*len(events))
	b.WriteString(`{"execution":`)
	b.Write(idj)
	b.WriteString(`,"events":`)
	out, err := c.appendEvents(b.Bytes(), events)
	if err != nil {
		return nil, err
	}
	return append(out, '}'), nil
}

// encodeEvent appends the JSON of ev (as encoding/json writes it, less
// the reflection) to buf.
func encodeEvent(buf []byte, ev *asl.HistoryEvent) ([]byte, error) {
	if len(ev.AssignedVariables) > 0 {
		b, err := json.Marshal(ev)
		return append(buf, b...), err
	}
	var err error
	buf = append(buf, `{"id":`...)
	buf = strconv.AppendInt(buf, ev.ID, 10)
	if buf, err = appendTime(append(buf, `,"time":`...), ev.Time); err != nil {
		return nil, err
	}
	buf = append(buf, `,"type":`...)
	buf = appendString(buf, ev.Type)
	if ev.Name != "" {
		buf = appendString(append(buf, `,"name":`...), ev.Name)
	}
	if ev.Path != "" {
		buf = appendString(append(buf, `,"path":`...), ev.Path)
	}
	if ev.Index != 0 {
		buf = strconv.AppendInt(append(buf, `,"index":`...), int64(ev.Index), 10)
	}
	if len(ev.Input) > 0 {
		if buf, err = appendRaw(append(buf, `,"input":`...), ev.Input); err != nil {
			return nil, err
		}
	}
	if len(ev.Output) > 0 {
		if buf, err = appendRaw(append(buf, `,"output":`...), ev.Output); err != nil {
			return nil, err
		}
	}
	if ev.Error != "" {
		buf = appendString(append(buf, `,"error":`...), ev.Error)
	}
	if ev.Cause != "" {
		buf = appendString(append(buf, `,"cause":`...), ev.Cause)
	}
	if ev.Resource != "" {
		buf = appendString(append(buf, `,"resource":`...), ev.Resource)
	}
	if ev.Attempt != 0 {
		buf = strconv.AppendInt(append(buf, `,"attempt":`...), int64(ev.Attempt), 10)
	}
	if !ev.Until.IsZero() {
		if buf, err = appendTime(append(buf, `,"until":`...), ev.Until); err != nil {
			return nil, err
		}
	}
	return append(buf, '}'), nil
}

func appendTime(buf []byte, t time.Time) ([]byte, error) {
	b, err := t.MarshalJSON()
	return append(buf, b...), err
}

// appendString appends s as a JSON string.
func appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// appendRaw appends raw JSON, checked and compacted.
func appendRaw(buf []byte, raw json.RawMessage) ([]byte, error) {
	b := bytes.NewBuffer(buf)
	if err := json.Compact(b, raw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
