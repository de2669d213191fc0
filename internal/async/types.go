// Package async runs invocations later: it stores them durably in a
// JetStream stream, runs them on the workers of every node through one
// shared durable pull consumer, retries failures with exponential backoff
// and jitter, dead-letters what keeps failing, and keeps each invocation's
// status and result in a KV bucket for a configurable time.
//
// See README.md for the pipeline and its vocabulary. The retry decision is
// the pure function [Decide], the decision on a busy function
// [DecideBusy]; [Queue] applies them to NATS.
package async

import (
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/baton-run/baton/event"
)

// Names in JetStream (RATIONALE.md "Why a work-queue stream for async
// invocations?").
const (
	// Stream holds accepted invocations until a worker acks them.
	Stream = "BATON_INVOCATIONS"
	// SubjectPrefix + function name is the subject of an invocation.
	SubjectPrefix = "baton.async."
	// DLQStream holds dead letters until they are redriven.
	DLQStream = "BATON_DLQ"
	// DLQSubjectPrefix + function + "." + id is the subject of a dead letter.
	DLQSubjectPrefix = "baton.dlq."
	// Consumer is the durable pull consumer every node's workers share.
	Consumer = "baton-async"
	// Bucket holds invocation records ("inv.<id>") and idempotency keys
	// ("idem.<function>.<sha256 of the key>").
	Bucket = "baton_invocations"
)

// Defaults of [Options].
const (
	DefaultAckWait   = 30 * time.Second
	DefaultRetention = 24 * time.Hour
	DefaultWorkers   = 16
	// MaxData caps the event data of an async invocation: the job is one
	// NATS message, JSON with the data in base64.
	MaxData = 512 << 10
	// maxBody caps the response body kept in a record.
	maxBody = 512 << 10
	// maxMessage caps an attempt's error message kept in a record.
	maxMessage = 1 << 10
)

// Status is where an invocation stands.
type Status string

// The statuses of an invocation.
const (
	// StatusQueued: accepted, waiting for a worker (or, with NextAttempt
	// set, for a free instance of a busy function).
	StatusQueued Status = "queued"
	// StatusRunning: an attempt is running.
	StatusRunning Status = "running"
	// StatusSucceeded: an attempt succeeded; the result is kept.
	StatusSucceeded Status = "succeeded"
	// StatusFailed: the last attempt failed and a retry is scheduled
	// (NextAttempt says when).
	StatusFailed Status = "failed"
	// StatusDead: every allowed attempt failed; the invocation is in the
	// dead-letter stream.
	StatusDead Status = "dead"
)

// Final reports whether s is an end state (until a redrive).
func (s Status) Final() bool { return s == StatusSucceeded || s == StatusDead }

// Event is the stored form of the event an async invocation runs on.
type Event struct {
	ID      string      `json:"id"`
	Source  string      `json:"source"`
	Type    string      `json:"type"`
	Subject string      `json:"subject,omitempty"`
	Time    time.Time   `json:"time"`
	Method  string      `json:"method,omitempty"`
	Path    string      `json:"path,omitempty"`
	Query   string      `json:"query,omitempty"`
	Header  http.Header `json:"header,omitempty"`
	Data    []byte      `json:"data,omitempty"`
}

// Job is one accepted invocation: what a worker needs to run it. It is the
// body of a message of [Stream] (JSON).
type Job struct {
	// ID is the invocation id.
	ID string `json:"id"`
	// Function is the function reference as submitted: name[:qualifier].
	Function string `json:"function"`
	// Event is what the function runs on.
	Event Event `json:"event"`
	// Submitted is when the invocation was accepted.
	Submitted time.Time `json:"submitted"`
	// AttemptOffset is the number of attempts made before the last
	// redrive: attempts keep counting across redrives.
	AttemptOffset int `json:"attempt_offset,omitempty"`
	// Redrives counts the redrives of the invocation.
	Redrives int `json:"redrives,omitempty"`
	// IdempotencyKey is the submitter's Idempotency-Key, if any.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// ToEvent returns the event of j for attempt (1-based).
func (j *Job) ToEvent(attempt int) event.Event {
	e := j.Event
	return event.Event{
		ID: e.ID, Source: e.Source, Type: e.Type, Subject: e.Subject, Time: e.Time,
		Method: e.Method, Path: e.Path, Query: e.Query, Header: e.Header, Data: e.Data,
		InvocationID: j.ID, Attempt: attempt,
	}
}

// Attempt is one run of an invocation.
type Attempt struct {
	// Attempt is the 1-based attempt number (what the guest sees).
	Attempt int `json:"attempt"`
	// Node is the node that ran it: the worker's, or the peer the worker's
	// busy node handed a call to that succeeded there.
	Node string `json:"node"`
	// Started and Ended bound the run; Ended is zero while it runs (or
	// when the node running it died).
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// Code and Message are the error of a failed attempt.
	Code    event.Code `json:"code,omitempty"`
	Message string     `json:"message,omitempty"`
}

// Result is a function's answer, as kept in a record.
type Result struct {
	Status int                 `json:"status"`
	Header map[string][]string `json:"headers,omitempty"`
	// Body is the response body: text when it is valid UTF-8, else base64
	// (BodyEncoding "base64").
	Body         string `json:"body"`
	BodyEncoding string `json:"body_encoding,omitempty"`
	// Truncated says the body was longer than 512 KiB and was cut.
	Truncated bool `json:"truncated,omitempty"`
	// Node is the node that ran the attempt when it was not the worker's
	// own (the worker's node was busy and a peer took the call); it is
	// kept in the attempt, not in the result.
	Node string `json:"-"`
}

// NewResult converts a response into a Result.
func NewResult(resp *event.Response) *Result {
	r := &Result{Status: resp.Status}
	if len(resp.Header) > 0 {
		r.Header = make(map[string][]string, len(resp.Header))
		for _, h := range resp.Header {
			k := http.CanonicalHeaderKey(h.Key)
			r.Header[k] = append(r.Header[k], h.Value)
		}
	}
	body := resp.Body
	if len(body) > maxBody {
		body, r.Truncated = body[:maxBody], true
	}
	r.setBody(body)
	return r
}

// BodyBytes returns the body bytes of r.
func (r *Result) BodyBytes() []byte {
	if r.BodyEncoding == "base64" {
		b, _ := b64.DecodeString(r.Body)
		return b
	}
	return []byte(r.Body)
}

func (r *Result) setBody(b []byte) {
	if utf8.Valid(b) {
		r.Body = string(b)
		return
	}
	r.Body, r.BodyEncoding = b64.EncodeToString(b), "base64"
}

// Record is what the bucket keeps about one invocation
// (GET /api/v1/invocations/{id}).
type Record struct {
	ID       string `json:"id"`
	Function string `json:"function"`
	Status   Status `json:"status"`
	// Attempts lists every attempt, oldest first.
	Attempts []Attempt `json:"attempts"`
	// Result is the answer of the attempt that succeeded.
	Result *Result `json:"result,omitempty"`
	// Error is the error of the last failed attempt.
	Error *Failure `json:"error,omitempty"`
	// IdempotencyKey is the submitter's Idempotency-Key, if any.
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	Submitted      time.Time `json:"submitted"`
	Updated        time.Time `json:"updated"`
	// Finished is when the invocation reached succeeded or dead.
	Finished time.Time `json:"finished,omitzero"`
	// NextAttempt is when a failed invocation runs again.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Redrives counts the redrives from the dead-letter stream.
	Redrives int `json:"redrives,omitempty"`
	// BusyDeliveries counts the deliveries of the current run (since the
	// last redrive) that found the function busy: they are not attempts,
	// and the attempt number leaves them out (RATIONALE.md "Why is busy not
	// an attempt?").
	BusyDeliveries int `json:"busy_deliveries,omitempty"`
	// BusyStreak counts the busy answers in a row since the last attempt
	// that ran, and BusySince is when the first of them came; both are
	// zero when the last delivery was not busy.
	BusyStreak int       `json:"busy_streak,omitempty"`
	BusySince  time.Time `json:"busy_since,omitzero"`
}

// Failure is an error as kept in a record.
type Failure struct {
	Code    event.Code `json:"code"`
	Message string     `json:"message"`
}

// DeadLetter is one entry of the dead-letter stream (GET /api/v1/dlq).
type DeadLetter struct {
	// ID is the invocation id.
	ID       string `json:"id"`
	Function string `json:"function"`
	// Attempts lists every attempt with its error.
	Attempts []Attempt `json:"attempts"`
	// Died is when the invocation was dead-lettered.
	Died time.Time `json:"died"`
	// Job is the invocation itself, as redrive re-queues it.
	Job Job `json:"job"`
}

// Destination is where an invocation's final record goes: a NATS subject
// (the record as JSON) or another function (invoked asynchronously with
// the record as its data). Exactly one field is set.
type Destination struct {
	Subject  string
	Function string
}

// Policy is what a function's spec says about its async invocations.
type Policy struct {
	// MaxRetries is the number of retries after the first attempt.
	MaxRetries int
	// Backoff is the base delay of the first retry; it doubles each retry.
	Backoff time.Duration
	// OnSuccess and OnFailure are optional destinations.
	OnSuccess, OnFailure *Destination
}

// DefaultPolicy is the policy of a function whose spec says nothing.
var DefaultPolicy = Policy{MaxRetries: 2, Backoff: time.Second}
