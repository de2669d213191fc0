package main

import (
	"testing"

	"github.com/baton-run/baton/functions/sdk/sdktest"
)

func TestHello(t *testing.T) {
	tests := []struct {
		name       string
		greeting   string
		body       string
		wantStatus int
		wantBody   string
	}{
		{"name", "", `{"name":"Ada"}`, 200, `{"message":"Hello, Ada!"}`},
		{"empty body", "", ``, 200, `{"message":"Hello, world!"}`},
		{"no name", "", `{}`, 200, `{"message":"Hello, world!"}`},
		{"blank name", "", `{"name":"  "}`, 200, `{"message":"Hello, world!"}`},
		{"null", "", `null`, 200, `{"message":"Hello, world!"}`},
		{"greeting", "Bonjour", `{"name":"Ada"}`, 200, `{"message":"Bonjour, Ada!"}`},
		{"invalid JSON", "", `{"name":`, 400, `{"error":"invalid JSON: unexpected end of JSON input"}`},
		{"wrong type", "", `{"name":3}`, 400, `{"error":"invalid JSON: json: cannot unmarshal number into Go struct field request.name of type string"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GREETING", tt.greeting)
			// nil: the handler registered by init.
			resp, err := sdktest.Invoke(nil, sdktest.NewEvent("POST", "/", []byte(tt.body)))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tt.wantStatus || string(resp.Body) != tt.wantBody {
				t.Errorf("got %d %s, want %d %s", resp.Status, resp.Body, tt.wantStatus, tt.wantBody)
			}
			if ct := resp.Header.Get("content-type"); ct != "application/json" {
				t.Errorf("content-type = %q", ct)
			}
		})
	}
}
