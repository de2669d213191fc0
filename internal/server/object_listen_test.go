package server_test

import (
	"fmt"
	"github.com/baton-run/baton/internal/testutil"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestObjectTriggerListenMode runs an object trigger in mode listen
// (MinIO's ListenBucketNotification, no notification target): once the
// listener is attached, every upload that matches reaches the function,
// and the others do not.
func TestObjectTriggerListenMode(t *testing.T) {
	e := startObjects(t)
	e.deployCSV2JSON("csv2json", `["uploads","converted"]`)
	id := e.addTrigger(`{"id":"listen","kind":"object","mode":"listen","function":"csv2json","bucket":"uploads","prefix":"in/","suffix":".csv"}`)
	testutil.Eventually(t, 10*time.Second, "trigger running", func() bool { return e.triggerRunning(id) })

	// Events before the listen request is attached are lost (at most
	// once): probe until one gets through.
	probe := 0
	testutil.Eventually(t, 30*time.Second, "a probe upload to be converted", func() bool {
		for i := range probe {
			if _, ok := e.get("converted", fmt.Sprintf("in/probe%02d.json", i)); ok {
				return true
			}
		}
		e.put("uploads", fmt.Sprintf("in/probe%02d.csv", probe), "p\n1\n")
		probe++
		return false
	})

	const n = 20
	var want []string
	for i := range n {
		e.put("uploads", fmt.Sprintf("in/f%02d.csv", i), fmt.Sprintf("i\n%d\n", i))
		e.put("uploads", fmt.Sprintf("in/f%02d.txt", i), "not csv\n") // wrong suffix
		e.put("uploads", fmt.Sprintf("out/f%02d.csv", i), "x\n1\n")   // wrong prefix
		want = append(want, fmt.Sprintf("in/f%02d.json", i))
	}
	done := func() []string {
		var got []string
		for _, k := range e.keys("converted") {
			if !strings.HasPrefix(k, "in/probe") {
				got = append(got, k)
			}
		}
		return got
	}
	testutil.Eventually(t, 30*time.Second, fmt.Sprintf("%d converted objects", n), func() bool { return len(done()) >= n })
	if got := done(); !slices.Equal(got, want) {
		t.Fatalf("converted %v, want exactly %v", got, want)
	}
	for i := range n {
		if got, _ := e.get("converted", want[i]); got != fmt.Sprintf(`[{"i":"%d"}]`, i) {
			t.Fatalf("%s = %s", want[i], got)
		}
	}

	// Removing the trigger ends the listening at once.
	t0 := time.Now()
	if code, body := e.admin("DELETE", "/api/v1/triggers/"+id, nil, ""); code != 200 {
		t.Fatalf("rm: %d %s", code, body)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("removing the listen trigger took %s", d)
	}
}
