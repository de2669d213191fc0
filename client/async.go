package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Accepted is the answer to an async invocation.
type Accepted struct {
	// ID is the invocation id, for [Client.Invocation].
	ID string `json:"id"`
	// Status is "queued", or the current status of the first invocation
	// when the idempotency key was used before.
	Status string `json:"status"`
}

// Invocation is the record of an async invocation.
type Invocation struct {
	ID       string `json:"id"`
	Function string `json:"function"`
	// Status is queued, running, succeeded, failed (a retry is scheduled
	// at NextAttempt) or dead (in the dead-letter queue).
	Status string `json:"status"`
	// Attempts lists every attempt, oldest first.
	Attempts []Attempt `json:"attempts"`
	// Result is the answer of the attempt that succeeded.
	Result *Result `json:"result,omitempty"`
	// Error is the error of the last failed attempt.
	Error          *InvocationError `json:"error,omitempty"`
	IdempotencyKey string           `json:"idempotency_key,omitempty"`
	Submitted      time.Time        `json:"submitted"`
	Updated        time.Time        `json:"updated"`
	Finished       time.Time        `json:"finished,omitzero"`
	NextAttempt    time.Time        `json:"next_attempt,omitzero"`
	Redrives       int              `json:"redrives,omitempty"`
}

// Attempt is one run of an async invocation.
type Attempt struct {
	Attempt int       `json:"attempt"`
	Node    string    `json:"node"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// Code and Message are the error of a failed attempt.
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// InvocationError is the error of a failed attempt.
type InvocationError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Result is a function's answer to an async invocation.
type Result struct {
	Status int                 `json:"status"`
	Header map[string][]string `json:"headers,omitempty"`
	// Body is the body as text, or base64 when BodyEncoding is "base64".
	Body         string `json:"body"`
	BodyEncoding string `json:"body_encoding,omitempty"`
	// Truncated says the body was cut at 512 KiB.
	Truncated bool `json:"truncated,omitempty"`
}

// Bytes returns the body bytes.
func (r *Result) Bytes() []byte {
	if r.BodyEncoding == "base64" {
		b, _ := base64.StdEncoding.DecodeString(r.Body)
		return b
	}
	return []byte(r.Body)
}

// DeadLetter is an async invocation that failed every attempt.
type DeadLetter struct {
	ID       string    `json:"id"`
	Function string    `json:"function"`
	Attempts []Attempt `json:"attempts"`
	Died     time.Time `json:"died"`
}

// InvokeAsync queues an invocation of name and returns its id once the
// server has stored it. A non-empty idempotencyKey makes a repeated
// submission (same function, same key, within the result retention)
// return the first invocation's id instead of running again.
func (c *Client) InvokeAsync(ctx context.Context, name string, req InvokeRequest, idempotencyKey string) (*Accepted, error) {
	h := req.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Prefer", "respond-async")
	if idempotencyKey != "" {
		h.Set("Idempotency-Key", idempotencyKey)
	}
	req.Header = h
	resp, err := c.Invoke(ctx, name, req)
	if err != nil {
		return nil, err
	}
	var acc Accepted
	if resp.Status != http.StatusAccepted || json.Unmarshal(resp.Body, &acc) != nil || acc.ID == "" {
		return nil, fmt.Errorf("client: %s answered %d, not 202 with an invocation id (is the server older than async invocations?)", name, resp.Status)
	}
	return &acc, nil
}

// Invocation returns the record of an async invocation. An unknown (or
// expired) id gives an error matching [ErrNotFound].
func (c *Client) Invocation(ctx context.Context, id string) (*Invocation, error) {
	if id == "" {
		return nil, errors.New("client: empty invocation id")
	}
	var inv Invocation
	_, err := c.call(ctx, request{method: http.MethodGet, path: "/api/v1/invocations/" + url.PathEscape(id), auth: true, timeout: DefaultTimeout}, &inv)
	if err != nil {
		return nil, err
	}
	return &inv, nil
}

// DeadLetters lists the dead-letter queue, of one function when function
// is not empty, oldest first.
func (c *Client) DeadLetters(ctx context.Context, function string) ([]DeadLetter, error) {
	var q url.Values
	if function != "" {
		q = url.Values{"function": {function}}
	}
	var out struct {
		DeadLetters []DeadLetter `json:"dead_letters"`
	}
	_, err := c.call(ctx, request{method: http.MethodGet, path: "/api/v1/dlq", query: q, auth: true, timeout: DefaultTimeout}, &out)
	if err != nil {
		return nil, err
	}
	if out.DeadLetters == nil {
		out.DeadLetters = []DeadLetter{}
	}
	return out.DeadLetters, nil
}

// Redrive queues the dead letter id again, with a fresh budget of
// attempts, and returns its record.
func (c *Client) Redrive(ctx context.Context, id string) (*Invocation, error) {
	if id == "" {
		return nil, errors.New("client: empty invocation id")
	}
	var inv Invocation
	_, err := c.call(ctx, request{method: http.MethodPost, path: "/api/v1/dlq/" + url.PathEscape(id) + "/redrive", auth: true, timeout: DefaultTimeout}, &inv)
	if err != nil {
		return nil, err
	}
	return &inv, nil
}

// RedriveAll queues every dead letter of function again and returns how
// many.
func (c *Client) RedriveAll(ctx context.Context, function string) (int, error) {
	if function == "" {
		return 0, errors.New("client: empty function name")
	}
	var out struct {
		Redriven int `json:"redriven"`
	}
	_, err := c.call(ctx, request{method: http.MethodPost, path: "/api/v1/dlq/redrive", query: url.Values{"function": {function}}, auth: true, timeout: DefaultTimeout}, &out)
	return out.Redriven, err
}
