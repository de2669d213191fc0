// Package event holds the types every part of baton shares: the event a
// trigger delivers, the response a function produces, and the error codes
// that cross the wire. It is a leaf: it imports nothing of baton's, so
// runtime, scheduler and triggers can all use it without import cycles.
package event

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Event is what a trigger delivers to a function: the CloudEvents
// attributes, the HTTP-like metadata and the data.
type Event struct {
	// ID identifies the event at its source.
	ID string
	// Source names where it came from ("http", "nats", a bucket…).
	Source string
	// Type is the CloudEvents type ("baton.http.request"…).
	Type string
	// Subject is the subject, path or object key the event is about.
	Subject string
	// Time is when the event happened.
	Time time.Time

	// Method, Path and Query are the HTTP request line for HTTP events
	// (Path is the part after /fn/{name}, always starting with "/").
	Method string
	Path   string
	Query  string
	// Header holds the request headers (canonical keys, as net/http).
	Header http.Header

	// Data is the event payload (the request body for HTTP).
	Data []byte

	// InvocationID identifies this invocation; set by whoever accepts it.
	InvocationID string
	// Attempt is the 1-based attempt number of an async invocation that
	// is retried; 0 (for calls that are never retried) reads as 1.
	Attempt int
}

// HeaderField is one response header line.
type HeaderField struct {
	Key, Value string
}

// Response is what a function produced. A Response is reused across calls
// by callers that care about allocations: Reset keeps its buffers.
type Response struct {
	Status int
	Header []HeaderField
	Body   []byte
}

// Reset empties r for reuse, keeping its buffers.
func (r *Response) Reset() {
	r.Status = http.StatusOK
	clear(r.Header)
	r.Header = r.Header[:0]
	r.Body = r.Body[:0]
}

// Code is a stable, machine-readable error code. Codes cross the wire (HTTP
// error bodies, NATS error headers) and never change meaning.
type Code string

// The error codes of invocations and of the API. docs/http-api.md and
// docs/abi.md list them with their HTTP statuses.
const (
	CodeBadRequest       Code = "bad_request"
	CodeInvalidModule    Code = "invalid_module"
	CodeUnauthorized     Code = "unauthorized"
	CodeFunctionNotFound Code = "function_not_found"
	CodeNotFound         Code = "not_found"
	CodeMethodNotAllowed Code = "method_not_allowed"
	CodeInputTooLarge    Code = "input_too_large"
	CodeBusy             Code = "busy"
	CodeFunctionError    Code = "function_error"
	CodeInternal         Code = "internal"
	CodeFunctionTrap     Code = "function_trap"
	CodeMemoryLimit      Code = "memory_limit"
	CodeOutputTooLarge   Code = "output_too_large"
	CodeInvalidStatus    Code = "invalid_status"
	CodeUnavailable      Code = "unavailable"
	CodeTimeout          Code = "timeout"
	CodeCanceled         Code = "canceled"
)

// HTTPStatus is the HTTP status that goes with c.
func (c Code) HTTPStatus() int {
	switch c {
	case CodeBadRequest, CodeInvalidModule:
		return http.StatusBadRequest
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeFunctionNotFound, CodeNotFound:
		return http.StatusNotFound
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeInputTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeBusy:
		return http.StatusTooManyRequests
	case CodeFunctionTrap, CodeMemoryLimit, CodeOutputTooLarge, CodeInvalidStatus:
		return http.StatusBadGateway
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeTimeout:
		return http.StatusGatewayTimeout
	case CodeCanceled:
		return 499 // client closed request, as nginx says
	default:
		return http.StatusInternalServerError
	}
}

// Error is an error with a stable Code. errors.Is matches two Errors with
// the same code, so the Err* values below work as sentinels.
type Error struct {
	Code    Code
	Message string
	// RetryAfter, when set on a busy error, says when a retry may succeed.
	RetryAfter time.Duration
	// Err is the underlying cause, if any.
	Err error
}

// Errorf returns an *Error with code c and a formatted message.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels to branch on with errors.Is.
var (
	ErrBusy             = &Error{Code: CodeBusy}
	ErrTimeout          = &Error{Code: CodeTimeout}
	ErrInputTooLarge    = &Error{Code: CodeInputTooLarge}
	ErrOutputTooLarge   = &Error{Code: CodeOutputTooLarge}
	ErrMemoryLimit      = &Error{Code: CodeMemoryLimit}
	ErrFunctionTrap     = &Error{Code: CodeFunctionTrap}
	ErrFunctionError    = &Error{Code: CodeFunctionError}
	ErrInvalidStatus    = &Error{Code: CodeInvalidStatus}
	ErrInvalidModule    = &Error{Code: CodeInvalidModule}
	ErrFunctionNotFound = &Error{Code: CodeFunctionNotFound}
	ErrCanceled         = &Error{Code: CodeCanceled}
)

// CodeOf returns the Code of err: its own when it is (or wraps) an *Error,
// CodeInternal otherwise.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
