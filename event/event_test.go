package event_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/baton-run/baton/event"
)

func TestCodeHTTPStatus(t *testing.T) {
	tests := []struct {
		code event.Code
		want int
	}{
		{event.CodeBadRequest, 400},
		{event.CodeInvalidModule, 400},
		{event.CodeUnauthorized, 401},
		{event.CodeFunctionNotFound, 404},
		{event.CodeInputTooLarge, 413},
		{event.CodeBusy, 429},
		{event.CodeFunctionError, 500},
		{event.CodeInternal, 500},
		{event.CodeFunctionTrap, 502},
		{event.CodeMemoryLimit, 502},
		{event.CodeOutputTooLarge, 502},
		{event.CodeInvalidStatus, 502},
		{event.CodeUnavailable, 503},
		{event.CodeTimeout, 504},
	}
	for _, tt := range tests {
		if got := tt.code.HTTPStatus(); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.code, got, tt.want)
		}
	}
}

func TestErrorsIsByCode(t *testing.T) {
	err := fmt.Errorf("calling: %w", event.Errorf(event.CodeTimeout, "ran past 5s"))
	if !errors.Is(err, event.ErrTimeout) {
		t.Fatal("a wrapped timeout error does not match ErrTimeout")
	}
	if errors.Is(err, event.ErrBusy) {
		t.Fatal("a timeout error matches ErrBusy")
	}
	if got := event.CodeOf(err); got != event.CodeTimeout {
		t.Fatalf("CodeOf = %s", got)
	}
	if got := event.CodeOf(errors.New("plain")); got != event.CodeInternal {
		t.Fatalf("CodeOf(plain) = %s, want internal", got)
	}
	if got := err.Error(); got != "calling: timeout: ran past 5s" {
		t.Fatalf("message %q", got)
	}
}

func TestResponseResetKeepsBuffers(t *testing.T) {
	r := event.Response{Status: 404, Header: []event.HeaderField{{Key: "a", Value: "b"}}, Body: make([]byte, 10, 64)}
	r.Reset()
	if r.Status != http.StatusOK || len(r.Header) != 0 || len(r.Body) != 0 || cap(r.Body) != 64 {
		t.Fatalf("after Reset: %+v (cap %d)", r, cap(r.Body))
	}
}
