package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// TriggerSpec is a trigger as added: an event source bound to a function
// (docs/triggers.md). Only the fields of its Kind may be set.
type TriggerSpec struct {
	// ID names the trigger; the server makes one up when it is empty.
	ID string `json:"id,omitempty"`
	// Kind is http, nats or cron.
	Kind string `json:"kind"`
	// Function is the target: "name[:qualifier]" or "chain:NAME".
	Function string `json:"function"`
	// Method and Path are the route of an http trigger ("/orders/{id}").
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	// Subject is the NATS subject of a nats trigger (wildcards allowed).
	Subject string `json:"subject,omitempty"`
	// Schedule, Timezone and Missed ("last" or "skip") configure a cron
	// trigger.
	Schedule string `json:"schedule,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	Missed   string `json:"missed,omitempty"`
	// Stream, Filter, Concurrency, Batch, MaxDeliver, Backoff and
	// AckWait (durations) configure a stream trigger; zero values take
	// the server's defaults.
	Stream      string `json:"stream,omitempty"`
	Filter      string `json:"filter,omitempty"`
	Concurrency int    `json:"concurrency,omitempty"`
	Batch       int    `json:"batch,omitempty"`
	MaxDeliver  int    `json:"maxDeliver,omitempty"`
	Backoff     string `json:"backoff,omitempty"`
	AckWait     string `json:"ackWait,omitempty"`
	// Bucket, Events ("created", "removed"), Prefix, Suffix and Mode
	// ("nats", "listen") are the fields of an object trigger.
	Bucket string   `json:"bucket,omitempty"`
	Events []string `json:"events,omitempty"`
	Prefix string   `json:"prefix,omitempty"`
	Suffix string   `json:"suffix,omitempty"`
	Mode   string   `json:"mode,omitempty"`
}

// Trigger is a stored trigger with its state on the node that answered.
type Trigger struct {
	TriggerSpec
	Created time.Time `json:"created"`
	// Running says whether the trigger runs on the node that answered;
	// Error, why its last start there failed.
	Running bool   `json:"running"`
	Error   string `json:"error,omitempty"`
}

// AddTrigger stores a trigger; every node starts it. An invalid spec is
// an *APIError with code bad_request whose message names the field.
func (c *Client) AddTrigger(ctx context.Context, spec TriggerSpec) (*Trigger, error) {
	body, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	var out Trigger
	if _, err := c.call(ctx, request{method: http.MethodPost, path: "/api/v1/triggers", body: body,
		contentType: "application/json", auth: true, timeout: DefaultTimeout}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PutTrigger replaces trigger spec.ID with spec, or creates it: a
// replaced trigger restarts with the new spec on every node (a stream
// trigger keeps its consumer's place).
func (c *Client) PutTrigger(ctx context.Context, spec TriggerSpec) (*Trigger, error) {
	if spec.ID == "" {
		return nil, fmt.Errorf("trigger: an id is required")
	}
	body, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	var out Trigger
	if _, err := c.call(ctx, request{method: http.MethodPut, path: "/api/v1/triggers/" + url.PathEscape(spec.ID), body: body,
		contentType: "application/json", auth: true, timeout: DefaultTimeout}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Triggers lists the triggers, sorted by id.
func (c *Client) Triggers(ctx context.Context) ([]Trigger, error) {
	var out struct {
		Triggers []Trigger `json:"triggers"`
	}
	if _, err := c.call(ctx, request{method: http.MethodGet, path: "/api/v1/triggers", auth: true, timeout: DefaultTimeout}, &out); err != nil {
		return nil, err
	}
	if out.Triggers == nil {
		out.Triggers = []Trigger{}
	}
	return out.Triggers, nil
}

// GetTrigger returns trigger id.
func (c *Client) GetTrigger(ctx context.Context, id string) (*Trigger, error) {
	var out Trigger
	if _, err := c.call(ctx, request{method: http.MethodGet, path: "/api/v1/triggers/" + url.PathEscape(id), auth: true, timeout: DefaultTimeout}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteTrigger removes trigger id; every node stops it.
func (c *Client) DeleteTrigger(ctx context.Context, id string) error {
	_, err := c.call(ctx, request{method: http.MethodDelete, path: "/api/v1/triggers/" + url.PathEscape(id), auth: true, timeout: DefaultTimeout}, nil)
	return err
}
