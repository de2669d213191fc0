package triggers_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/baton-run/baton/triggers"
	_ "github.com/baton-run/baton/triggers/cron"
	_ "github.com/baton-run/baton/triggers/http"
	_ "github.com/baton-run/baton/triggers/nats"
)

func TestKinds(t *testing.T) {
	if got := strings.Join(triggers.Kinds(), ","); got != "cron,http,nats" {
		t.Fatalf("kinds %s", got)
	}
}

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		name  string
		spec  triggers.Spec
		field string // "" when valid
	}{
		{"nats", triggers.Spec{ID: "n1", Kind: "nats", Function: "hello", Subject: "greet.*"}, ""},
		{"nats alias target", triggers.Spec{Kind: "nats", Function: "hello:live", Subject: "a.>"}, ""},
		{"chain target", triggers.Spec{Kind: "nats", Function: "chain:orders", Subject: "a"}, ""},
		{"http", triggers.Spec{Kind: "http", Function: "f", Method: "post", Path: "/orders/{id}"}, ""},
		{"cron", triggers.Spec{Kind: "cron", Function: "f", Schedule: "0 30 9 * * MON-FRI", Timezone: "Europe/Paris"}, ""},
		{"cron every", triggers.Spec{Kind: "cron", Function: "f", Schedule: "@every 30s", Missed: "skip"}, ""},
		{"bad id", triggers.Spec{ID: "-x", Kind: "nats", Function: "f", Subject: "a"}, "id"},
		{"no kind", triggers.Spec{Function: "f"}, "kind"},
		{"unknown kind", triggers.Spec{Kind: "ftp", Function: "f"}, "kind"},
		{"no function", triggers.Spec{Kind: "nats", Subject: "a"}, "function"},
		{"bad chain", triggers.Spec{Kind: "nats", Function: "chain:", Subject: "a"}, "function"},
		{"bad qualifier", triggers.Spec{Kind: "nats", Function: "f:a b", Subject: "a"}, "function"},
		{"foreign field", triggers.Spec{Kind: "cron", Function: "f", Schedule: "@hourly", Subject: "a"}, "subject"},
		{"cron tz twice", triggers.Spec{Kind: "cron", Function: "f", Schedule: "CRON_TZ=UTC @hourly", Timezone: "UTC"}, "timezone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var fe *triggers.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("got %v, want an error about field %q", err, tt.field)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	a := &triggers.Spec{ID: "a", Kind: "nats", Function: "f", Subject: "x"}
	a2 := *a
	b := &triggers.Spec{ID: "a", Kind: "nats", Function: "g", Subject: "x"}
	tests := []struct {
		name             string
		running, desired *triggers.Spec
		want             triggers.Action
	}{
		{"nothing", nil, nil, triggers.Keep},
		{"new", nil, a, triggers.Start},
		{"deleted", a, nil, triggers.Stop},
		{"same", a, &a2, triggers.Keep},
		{"changed", a, b, triggers.Restart},
	}
	for _, tt := range tests {
		if got := triggers.Decide(tt.running, tt.desired); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
