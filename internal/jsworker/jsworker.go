// Package jsworker runs the worker pools that consume a JetStream pull
// consumer shared by every node (async invocations, chain work items): a
// bounded number of messages handled at once, a graceful drain on
// shutdown, and in-progress heartbeats for work that outlasts AckWait.
package jsworker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Consume pulls from cons and runs handle for each message, at most workers
// at a time, until ctx ends. Then it stops pulling and waits up to grace
// for the handlers; past that their context is cancelled and it waits for
// them to return. Handlers get a context that outlives ctx until then, so
// work in flight can still settle its message.
func Consume(ctx context.Context, cons jetstream.Consumer, workers int, grace time.Duration, log *slog.Logger, handle func(context.Context, jetstream.Msg)) error {
	it, err := cons.Messages(jetstream.PullMaxMessages(workers))
	if err != nil {
		return err
	}
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopIt := context.AfterFunc(ctx, it.Stop)
	defer stopIt()

	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
loop:
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		msg, err := it.Next()
		if err != nil {
			<-sem
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				break
			}
			log.Warn("fetching work", "err", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			handle(workCtx, msg)
		}()
	}
	it.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		cancelWork()
		<-done
	}
	return nil
}

// KeepAlive tells the server every interval that msg is still being worked
// on, until the returned function is called (after which no heartbeat is
// sent). It costs a timer, not a goroutine: most work ends long before
// the first heartbeat is due.
func KeepAlive(msg jetstream.Msg, interval time.Duration) (stop func()) {
	k := &keepAlive{}
	k.mu.Lock()
	k.t = time.AfterFunc(interval, func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.stopped {
			return
		}
		_ = msg.InProgress()
		k.t.Reset(interval)
	})
	k.mu.Unlock()
	return func() {
		k.mu.Lock()
		k.stopped = true
		k.mu.Unlock()
		k.t.Stop()
	}
}

type keepAlive struct {
	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}
