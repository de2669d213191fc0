package runtime

import (
	"context"
	"testing"
	"time"
)

// TestScaleDownDropsReferences checks that closed instances are not kept
// alive by the idle slice's backing array (their memory must be returned).
func TestScaleDownDropsReferences(t *testing.T) {
	p := newPool(4, 0, 0, func(context.Context) (*instance, error) { return &instance{}, nil })
	if n, err := p.prewarm(context.Background(), 4); n != 4 || err != nil {
		t.Fatalf("prewarm = %d, %v", n, err)
	}
	full := p.idle[:cap(p.idle)]
	if n := p.shrink(1); n != 3 {
		t.Fatalf("shrink(1) closed %d, want 3", n)
	}
	for i := 1; i < len(full); i++ {
		if full[i] != nil {
			t.Fatalf("slot %d of the idle array still points at a closed instance", i)
		}
	}
	if n := p.closeIdle(1, 0); n != 1 || full[0] != nil {
		t.Fatalf("closeIdle = %d, slot 0 = %p", n, full[0])
	}
}

// TestPoolWarmPathDoesNotAllocate guards the warm path: the idle
// timestamps, peak and counters must not add allocations. (Invoke as a
// whole allocates in wazero and in the guest's header calls; the pool must
// add nothing.)
func TestPoolWarmPathDoesNotAllocate(t *testing.T) {
	p := newPool(2, 4, time.Second, func(context.Context) (*instance, error) { return &instance{}, nil })
	ctx := context.Background()
	inst, err := p.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.release(inst, true)
	allocs := testing.AllocsPerRun(1000, func() {
		inst, err := p.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p.release(inst, true)
	})
	if allocs != 0 {
		t.Fatalf("acquire+release allocates %.1f times, want 0", allocs)
	}
}
