package natstrigger

import (
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

func TestValidSubject(t *testing.T) {
	good := []string{"greet", "greet.*", "orders.>", "a.*.c", "a-b_c.D1"}
	bad := []string{"", "a..b", ".a", "a.", "a.>.b", "a*", "a.b>", "a b", "$JS.API", "_INBOX.x", ">", "baton.async.x"}
	for _, s := range good {
		if err := ValidSubject(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range bad {
		if err := ValidSubject(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// FuzzValidSubject: what ValidSubject accepts, NATS accepts as a
// subscription subject.
func FuzzValidSubject(f *testing.F) {
	for _, s := range []string{"greet.*", "a.>", "a..b", "a.>.b", "*", "x.*y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidSubject(s) != nil {
			return
		}
		if !server.IsValidSubject(s) {
			t.Fatalf("%q accepted but NATS rejects it", s)
		}
		if strings.HasPrefix(s, "$") {
			t.Fatalf("%q: reserved subject accepted", s)
		}
	})
}
