package main

import (
	"testing"

	"github.com/baton-run/baton/functions/sdk/sdktest"
)

func TestHandle(t *testing.T) {
	// nil: the handler registered by init.
	resp, err := sdktest.Invoke(nil, sdktest.NewEvent("POST", "/", []byte("hi")))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || string(resp.Body) != "Hello from greeter: hi" {
		t.Errorf("got %d %q", resp.Status, resp.Body)
	}
}
