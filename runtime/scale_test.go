package runtime_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/internal/testutil"
	"github.com/baton-run/baton/runtime"
)

// TestScaleToZeroAndBack closes the idle instance and checks that the next
// call instantiates a fresh one (the counter starts again) from the
// compiled module, counted as a scale-from-zero and a cold start.
func TestScaleToZeroAndBack(t *testing.T) {
	e := newEngine(t, nil)
	f := load(t, e, "testdata/counter", runtime.Limits{})
	for want := "1"; want != "3"; {
		resp, err := invoke(t, f, "")
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != want {
			t.Fatalf("counter = %q, want %q", resp.Body, want)
		}
		want = map[string]string{"1": "2", "2": "3"}[want]
	}
	s := f.Stats()
	if s.Live != 1 || s.Idle != 1 || s.ColdStarts != 1 || s.ScaleFromZero != 1 || !s.LastScaleDown.IsZero() {
		t.Fatalf("after two calls: %+v", s)
	}
	if n := f.CloseIdle(1, time.Hour); n != 0 {
		t.Fatalf("CloseIdle closed %d instances idle for less than an hour", n)
	}
	if n := f.CloseIdle(5, 0); n != 1 {
		t.Fatalf("CloseIdle closed %d, want 1", n)
	}
	s = f.Stats()
	if s.Live != 0 || s.Idle != 0 || s.ScaledDown != 1 || s.LastScaleDown.IsZero() {
		t.Fatalf("after scale-down: %+v", s)
	}
	resp, err := invoke(t, f, "")
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != "1" {
		t.Fatalf("counter = %q after scale to zero, want a fresh instance (1)", resp.Body)
	}
	s = f.Stats()
	if s.ScaleFromZero != 2 || s.ColdStarts != 2 || s.Created != 2 || s.Live != 1 {
		t.Fatalf("after scale from zero: %+v", s)
	}
}

func TestPrewarm(t *testing.T) {
	e := newEngine(t, nil)
	f := load(t, e, "testdata/counter", runtime.Limits{MaxInstances: 3})
	n, err := f.Prewarm(context.Background(), 5)
	if err != nil || n != 3 {
		t.Fatalf("Prewarm(5) = %d, %v; want 3 (max instances)", n, err)
	}
	if n, err := f.Prewarm(context.Background(), 1); err != nil || n != 0 {
		t.Fatalf("Prewarm at max = %d, %v; want 0", n, err)
	}
	s := f.Stats()
	if s.Live != 3 || s.Idle != 3 || s.Busy != 0 || s.Prewarmed != 3 || s.ColdStarts != 0 {
		t.Fatalf("after prewarm: %+v", s)
	}
	if _, err := invoke(t, f, ""); err != nil {
		t.Fatal(err)
	}
	s = f.Stats()
	if s.ColdStarts != 0 || s.ScaleFromZero != 0 || s.Created != 3 {
		t.Fatalf("a call after prewarm: %+v, want no cold start", s)
	}
	_, ages := f.Observe(nil)
	if len(ages) != 3 {
		t.Fatalf("ages = %v, want 3", ages)
	}
	for i := 1; i < len(ages); i++ {
		if ages[i] > ages[i-1] {
			t.Fatalf("ages %v are not longest first", ages)
		}
	}
	// ScaleDown keeps the most recently used (the one just called).
	if n := f.ScaleDown(1); n != 2 {
		t.Fatalf("ScaleDown(1) closed %d, want 2", n)
	}
	if resp, err := invoke(t, f, ""); err != nil || string(resp.Body) != "2" {
		t.Fatalf("call after ScaleDown(1) = %q, %v; want the warm instance (2)", resp.Body, err)
	}
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Prewarm(context.Background(), 1); event.CodeOf(err) != event.CodeUnavailable {
		t.Fatalf("Prewarm after Close: %v, want unavailable", err)
	}
}

func TestObservePeak(t *testing.T) {
	e := newEngine(t, nil)
	f := load(t, e, "testdata/counter", runtime.Limits{MaxInstances: 4})
	if s, _ := f.Observe(nil); s.PeakBusy != 0 {
		t.Fatalf("peak before any call: %d", s.PeakBusy)
	}
	if _, err := invoke(t, f, ""); err != nil {
		t.Fatal(err)
	}
	s, ages := f.Observe(nil)
	if s.PeakBusy != 1 || s.Busy != 0 || len(ages) != 1 {
		t.Fatalf("after one call: %+v, ages %v", s, ages)
	}
	if s, _ := f.Observe(nil); s.PeakBusy != 0 {
		t.Fatalf("Observe did not start a new peak period: %d", s.PeakBusy)
	}
}

// TestScalingHammer runs calls, prewarms, scale-downs and observations
// together and checks the pool's books balance.
func TestScalingHammer(t *testing.T) {
	e := newEngine(t, nil)
	f := load(t, e, "testdata/counter", runtime.Limits{MaxInstances: 4, QueueTimeout: time.Minute})
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; i < 20; i++ {
				var resp event.Response
				ev := event.Event{ID: "e", Data: nil}
				if err := f.Invoke(context.Background(), &ev, &resp); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var ages []time.Duration
			for i := 0; i < 30; i++ {
				switch g {
				case 0:
					_, _ = f.Prewarm(context.Background(), 2)
				case 1:
					f.CloseIdle(2, 0)
				case 2:
					_, ages = f.Observe(ages[:0])
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := f.Stats()
	if s.Busy != 0 || s.Live != s.Idle || s.Live > 4 || s.Created-s.Discarded != uint64(s.Live) {
		t.Fatalf("books do not balance: %+v", s)
	}
	if s.Created != s.ColdStarts+s.Prewarmed {
		t.Fatalf("created %d != cold starts %d + prewarmed %d", s.Created, s.ColdStarts, s.Prewarmed)
	}
}

func TestPrewarmCanceled(t *testing.T) {
	e := newEngine(t, nil)
	f := load(t, e, "testdata/initonce", runtime.Limits{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := f.Prewarm(ctx, 2); err == nil || n != 0 {
		t.Fatalf("Prewarm with a canceled context = %d, %v; want an error", n, err)
	}
	if s := f.Stats(); s.Live != 0 || s.Idle != 0 {
		t.Fatalf("after a failed prewarm: %+v", s)
	}
	if resp, err := invoke(t, f, ""); err != nil || string(resp.Body) != "1" {
		t.Fatalf("call after a failed prewarm = %q, %v", resp.Body, err)
	}
}

// Closing a function under a running call lets the call finish (the
// runtime goes with the last instance), and refuses calls after.
func TestCloseWaitsForBusyInstances(t *testing.T) {
	e := newEngine(t, nil)
	f := load(t, e, "testdata/sleepy", runtime.Limits{MaxInstances: 2, Timeout: 10 * time.Second})
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := invoke(t, f, "still here")
		done <- result{string(resp.Body), err}
	}()
	testutil.Eventually(t, 10*time.Second, "the call to start", func() bool { return f.Stats().Busy == 1 })
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := invoke(t, f, "late"); event.CodeOf(err) != event.CodeUnavailable {
		t.Fatalf("a call after Close: %v, want unavailable", err)
	}
	r := <-done
	if r.err != nil || r.body != "still here" {
		t.Fatalf("the call running at Close: %q, %v", r.body, r.err)
	}
	select {
	case <-f.Unloaded():
	case <-time.After(10 * time.Second):
		t.Fatal("the function was not unloaded after its last call")
	}
}
