package registry

import (
	"testing"
	"time"
)

func TestSpecHash(t *testing.T) {
	three := 3
	base := Spec{Name: "f"}
	d := base.WithDefaults()
	tests := []struct {
		name string
		spec Spec
		same bool
	}{
		{"the same", Spec{Name: "f"}, true},
		{"every default written out", d, true},
		{"memory at its default", Spec{Name: "f", Memory: d.Memory}, true},
		{"idle timeout at its default", Spec{Name: "f", IdleTimeout: Duration(DefaultIdleTimeout)}, true},
		{"auth none", Spec{Name: "f", Auth: AuthNone}, true},
		{"empty env", Spec{Name: "f", Env: map[string]string{}}, true},
		{"another name", Spec{Name: "g"}, false},
		{"more memory", Spec{Name: "f", Memory: d.Memory * 2}, false},
		{"another timeout", Spec{Name: "f", Timeout: Duration(time.Duration(d.Timeout) + time.Second)}, false},
		{"an env var", Spec{Name: "f", Env: map[string]string{"A": "1"}}, false},
		{"auth token", Spec{Name: "f", Auth: AuthToken}, false},
		{"retries set", Spec{Name: "f", MaxRetries: &three}, *d.MaxRetries == 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.spec.Hash() == base.Hash(); got != tt.same {
				t.Fatalf("same hash = %v, want %v", got, tt.same)
			}
		})
	}
}
