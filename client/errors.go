package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The stable error codes of the HTTP API (docs/http-api.md), found in
// [APIError.Code].
const (
	CodeBadRequest       = "bad_request"
	CodeInvalidModule    = "invalid_module"
	CodeUnauthorized     = "unauthorized"
	CodeFunctionNotFound = "function_not_found"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeInputTooLarge    = "input_too_large"
	CodeBusy             = "busy"
	CodeFunctionError    = "function_error"
	CodeInternal         = "internal"
	CodeFunctionTrap     = "function_trap"
	CodeMemoryLimit      = "memory_limit"
	CodeOutputTooLarge   = "output_too_large"
	CodeInvalidStatus    = "invalid_status"
	CodeUnavailable      = "unavailable"
	CodeTimeout          = "timeout"
)

// Sentinels for errors.Is on an [*APIError]. They match on the error code,
// so a function's own non-2xx answer (an APIError with an empty Code)
// matches none of them.
var (
	// ErrNotFound matches function_not_found and not_found.
	ErrNotFound = errors.New("baton: not found")
	// ErrUnauthorized matches unauthorized: the token is missing or wrong.
	ErrUnauthorized = errors.New("baton: unauthorized")
	// ErrBadRequest matches bad_request and invalid_module.
	ErrBadRequest = errors.New("baton: bad request")
	// ErrBusy matches busy; see [APIError.RetryAfter].
	ErrBusy = errors.New("baton: busy")
	// ErrTimeout matches timeout: the function ran past its deadline.
	ErrTimeout = errors.New("baton: timeout")
	// ErrUnavailable matches unavailable: the node is not ready.
	ErrUnavailable = errors.New("baton: unavailable")
	// ErrFunction matches function_error and the codes of a guest that
	// trapped or broke a limit (function_trap, memory_limit,
	// output_too_large, invalid_status).
	ErrFunction = errors.New("baton: function failed")
)

// APIError is an error answer of the server.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the stable error code from the JSON error body (the Code…
	// constants), or "" when the body was not a baton error, e.g. a
	// function's own 404.
	Code string
	// Message is the server's message; without a Code, the start of the
	// body or the status text.
	Message string
	// RetryAfter is the Retry-After header of a busy answer (0 when absent).
	RetryAfter time.Duration
}

// Error returns "code: message", or "status text: message" when the answer
// carried no code.
func (e *APIError) Error() string {
	if e.Code != "" {
		return e.Code + ": " + e.Message
	}
	status := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	if e.Message == "" || e.Message == http.StatusText(e.Status) {
		return strings.TrimSpace(status)
	}
	return strings.TrimSpace(status) + ": " + e.Message
}

// Is reports whether target is the sentinel matching e's code.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Code == CodeFunctionNotFound || e.Code == CodeNotFound
	case ErrUnauthorized:
		return e.Code == CodeUnauthorized
	case ErrBadRequest:
		return e.Code == CodeBadRequest || e.Code == CodeInvalidModule
	case ErrBusy:
		return e.Code == CodeBusy
	case ErrTimeout:
		return e.Code == CodeTimeout
	case ErrUnavailable:
		return e.Code == CodeUnavailable
	case ErrFunction:
		switch e.Code {
		case CodeFunctionError, CodeFunctionTrap, CodeMemoryLimit, CodeOutputTooLarge, CodeInvalidStatus:
			return true
		}
	}
	return false
}

// IsNotFound reports whether err says that the function (or version, or
// route) does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// maxMessage bounds the message taken from a body that is not a baton error.
const maxMessage = 512

// parseError builds the APIError for a non-2xx answer.
func parseError(resp *http.Response, body []byte) *APIError {
	e := &APIError{Status: resp.StatusCode}
	var wire struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &wire) == nil && wire.Error.Code != "" {
		e.Code, e.Message = wire.Error.Code, wire.Error.Message
	} else {
		msg := strings.TrimSpace(string(body))
		if len(msg) > maxMessage {
			msg = msg[:maxMessage] + "…"
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		e.Message = msg
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
	}
	return e
}
