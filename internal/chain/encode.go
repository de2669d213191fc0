package chain

import (
	"bytes"
	"encoding/json"

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
	b, err := json.Marshal(ev)
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

// encodeExecution is the stored form of x. It leaves out what it can
// rebuild (see decodeExecution): the task call of a RunTask decision is
// the interpreter's Task, stored once.
func encodeExecution(x *Execution, c eventCache) ([]byte, error) {
	y := *x
	if n := y.Next; n != nil && n.Kind == asl.DecideRunTask && n.Task != nil && y.State != nil && y.State.Task == n.Task {
		nn := *n
		nn.Task = nil
		y.Next = &nn
	}
	y.Outbox = nil
	data, err := json.Marshal(&y)
	if err != nil || len(x.Outbox) == 0 {
		return data, err
	}
	// data ends with the object's '}': splice the outbox in.
	buf := make([]byte, 0, len(data)+512*len(x.Outbox))
	buf = append(buf, data[:len(data)-1]...)
	buf = append(buf, `,"outbox":`...)
	if buf, err = c.appendEvents(buf, x.Outbox); err != nil {
		return nil, err
	}
	return append(buf, '}'), nil
}

// decodeExecution reads a stored execution.
func decodeExecution(data []byte) (*Execution, error) {
	var x Execution
	if err := json.Unmarshal(data, &x); err != nil {
		return nil, err
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
