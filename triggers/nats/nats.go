// Package natstrigger is the nats trigger kind: a core NATS subject
// (wildcards allowed) consumed in the queue group "baton", so that one
// node of a cluster handles each message. A message with a reply subject
// gets the function's answer as its reply: the body as data and the
// status in the header Baton-Status; a failed invocation is answered with
// an empty body and the header Baton-Error: "<code>: <message>".
package natstrigger

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/triggers"
)

// Kind is the name of this kind.
const Kind = "nats"

// Queue is the queue group every node subscribes in.
const Queue = "baton"

// Reply headers.
const (
	// ErrorHeader carries "<code>: <message>" of a failed invocation.
	ErrorHeader = "Baton-Error"
	// StatusHeader carries the function's status of a successful one.
	StatusHeader = "Baton-Status"
)

// MaxConcurrent bounds the invocations one trigger runs at once on one
// node; further messages wait in the subscription's buffer.
const MaxConcurrent = 64

func init() { triggers.Register(Kind, newTrigger) }

var _ triggers.Trigger = (*trigger)(nil)

type trigger struct {
	spec triggers.Spec

	mu     sync.Mutex
	sub    *nats.Subscription
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}
}

func newTrigger(spec triggers.Spec) (triggers.Trigger, error) {
	if err := spec.Only("subject"); err != nil {
		return nil, err
	}
	if err := ValidSubject(spec.Subject); err != nil {
		return nil, triggers.Errorf("subject", "%v", err)
	}
	return &trigger{spec: spec, sem: make(chan struct{}, MaxConcurrent)}, nil
}

// ValidSubject checks a subscription subject: dot-separated tokens, no
// empty token, no whitespace, "*" a whole token, ">" only as the last
// token; baton's own subjects ($…, _INBOX.…, baton.…) are refused.
func ValidSubject(subject string) error {
	switch {
	case subject == "":
		return errors.New("required, e.g. greet.* or orders.>")
	case len(subject) > 512:
		return errors.New("longer than 512 bytes")
	case strings.ContainsFunc(subject, func(r rune) bool { return r <= ' ' || r == 0x7f || unicode.IsSpace(r) }):
		return errors.New("has whitespace or a control character")
	case strings.HasPrefix(subject, "$") || strings.HasPrefix(subject, "_INBOX.") || subject == ">" || strings.HasPrefix(subject, "baton.") || subject == "baton":
		return errors.New("is reserved for NATS or baton (use your own prefix, e.g. app.greet)")
	}
	tokens := strings.Split(subject, ".")
	for i, tok := range tokens {
		switch {
		case tok == "":
			return errors.New("has an empty token (.. or a leading or trailing .)")
		case tok == ">" && i != len(tokens)-1:
			return errors.New("> must be the last token")
		case tok != "*" && tok != ">" && strings.ContainsAny(tok, "*>"):
			return errors.New("* and > must be whole tokens")
		}
	}
	return nil
}

func (t *trigger) Start(ctx context.Context, env triggers.Env) error {
	if env.NATS == nil || env.Invoke == nil {
		return errors.New("nats trigger: no NATS connection")
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t.mu.Lock()
	t.cancel = cancel
	t.mu.Unlock()
	sub, err := env.NATS.QueueSubscribe(t.spec.Subject, Queue, func(m *nats.Msg) {
		t.sem <- struct{}{}
		t.wg.Add(1)
		go func() {
			defer func() { <-t.sem; t.wg.Done() }()
			t.handle(runCtx, env, m)
		}()
	})
	if err != nil {
		return err
	}
	_ = sub.SetPendingLimits(-1, 64<<20)
	t.mu.Lock()
	t.sub = sub
	t.mu.Unlock()
	// Make sure the server has the subscription before reporting started.
	return env.NATS.FlushWithContext(ctx)
}

// Stop unsubscribes, waits for the invocations in flight (cancelling them
// when ctx ends first) and returns.
func (t *trigger) Stop(ctx context.Context) error {
	t.mu.Lock()
	sub, cancel := t.sub, t.cancel
	t.sub = nil
	t.mu.Unlock()
	var err error
	if sub != nil {
		// Drain delivers what is buffered, then removes the interest.
		if err = sub.Drain(); err != nil {
			_ = sub.Unsubscribe()
		}
		for sub.IsValid() && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-waitTick():
			}
		}
	}
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if cancel != nil {
			cancel()
		}
		<-done
	}
	if cancel != nil {
		cancel()
	}
	if errors.Is(err, nats.ErrConnectionClosed) {
		err = nil
	}
	return err
}

func (t *trigger) handle(ctx context.Context, env triggers.Env, m *nats.Msg) {
	header := http.Header{}
	for k, vs := range m.Header {
		for _, v := range vs {
			header.Add(k, v)
		}
	}
	header.Set("X-Baton-Trigger", t.spec.ID)
	id := nuid.Next()
	ev := &event.Event{
		ID:           id,
		Source:       "nats",
		Type:         "baton.nats.message",
		Subject:      m.Subject,
		Time:         timeNow(),
		Header:       header,
		Data:         m.Data,
		InvocationID: id,
	}
	resp, err := env.Invoke(ctx, t.spec.Function, ev)
	if err != nil && event.CodeOf(err) == event.CodeInternal {
		env.Logger.Error("invocation failed", "subject", m.Subject, "invocation_id", id, "err", err)
	}
	if m.Reply == "" {
		if err != nil {
			env.Logger.Debug("invocation failed", "subject", m.Subject, "invocation_id", id, "err", err)
		}
		return
	}
	reply := &nats.Msg{Subject: m.Reply, Header: nats.Header{}}
	reply.Header.Set("Baton-Invocation-Id", id)
	reply.Header.Set("Baton-Node", env.Node)
	if err != nil {
		reply.Header.Set(ErrorHeader, errorText(err))
	} else {
		status := resp.Status
		if status == 0 {
			status = http.StatusOK
		}
		reply.Header.Set(StatusHeader, strconv.Itoa(status))
		for _, hf := range resp.Header {
			reply.Header.Add(hf.Key, hf.Value)
		}
		reply.Data = resp.Body
	}
	if err := env.NATS.PublishMsg(reply); err != nil {
		env.Logger.Warn("replying", "subject", m.Subject, "err", err)
	}
}

// errorText is "<code>: <message>" of err, on one line.
func errorText(err error) string {
	var e *event.Error
	code, msg := event.CodeInternal, err.Error()
	if errors.As(err, &e) {
		code = e.Code
		if e.Message != "" {
			msg = e.Message
		}
	}
	msg = strings.NewReplacer("\r", " ", "\n", " ").Replace(msg)
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	return string(code) + ": " + msg
}
