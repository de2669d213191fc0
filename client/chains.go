package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Chain is a deployed chain (an ASL state machine).
type Chain struct {
	Name       string          `json:"name"`
	Version    int             `json:"version"`
	Definition json.RawMessage `json:"definition"`
	SHA256     string          `json:"sha256"`
	// Auth is "none" (anyone may start it at POST /chains/NAME) or
	// "token" (the admin token is needed).
	Auth    string    `json:"auth,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Changed is set by DeployChain: false when the definition was
	// already the current one.
	Changed bool `json:"changed,omitempty"`
}

// Execution is one run of a chain.
type Execution struct {
	ID          string          `json:"id"`
	Chain       string          `json:"chain"`
	Version     int             `json:"version"`
	Status      string          `json:"status"` // RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED
	State       string          `json:"state,omitempty"`
	Transitions int64           `json:"transitions"`
	Input       json.RawMessage `json:"input"`
	Output      json.RawMessage `json:"output,omitempty"`
	Error       string          `json:"error,omitempty"`
	Cause       string          `json:"cause,omitempty"`
	Started     time.Time       `json:"started"`
	Stopped     time.Time       `json:"stopped,omitzero"`
	Redrives    int             `json:"redrives,omitempty"`
}

// HistoryEvent is one entry of an execution's history; Execution names
// the execution (or Parallel branch / Map iteration) it belongs to.
type HistoryEvent struct {
	Execution string          `json:"execution"`
	ID        int64           `json:"id"`
	Time      time.Time       `json:"time"`
	Type      string          `json:"type"`
	Name      string          `json:"name,omitempty"`
	Index     int             `json:"index,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	Output    json.RawMessage `json:"output,omitempty"`
	Error     string          `json:"error,omitempty"`
	Cause     string          `json:"cause,omitempty"`
	Resource  string          `json:"resource,omitempty"`
	Attempt   int             `json:"attempt,omitempty"`
}

// DeployChain stores definition (JSON or YAML) as chain name. An invalid
// definition is an *APIError with code bad_request whose message lists
// every problem with its path.
func (c *Client) DeployChain(ctx context.Context, name string, definition []byte) (*Chain, error) {
	return c.DeployChainWith(ctx, name, definition, ChainOptions{})
}

// ChainOptions are a chain's settings beside its definition.
type ChainOptions struct {
	// Auth is "none" (the default) or "token".
	Auth string
}

// DeployChainWith is DeployChain with the chain's settings; a deploy that
// changes only them updates the chain without a new version.
func (c *Client) DeployChainWith(ctx context.Context, name string, definition []byte, opts ChainOptions) (*Chain, error) {
	var out Chain
	var q url.Values
	if opts.Auth != "" {
		q = url.Values{"auth": {opts.Auth}}
	}
	_, err := c.call(ctx, request{method: http.MethodPut, path: "/api/v1/chains/" + url.PathEscape(name), query: q, body: definition,
		contentType: "application/yaml", auth: true, timeout: DefaultTimeout}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Chains lists the deployed chains.
func (c *Client) Chains(ctx context.Context) ([]Chain, error) {
	var out struct {
		Chains []Chain `json:"chains"`
	}
	if _, err := c.call(ctx, request{method: http.MethodGet, path: "/api/v1/chains", auth: true, timeout: DefaultTimeout}, &out); err != nil {
		return nil, err
	}
	if out.Chains == nil {
		out.Chains = []Chain{}
	}
	return out.Chains, nil
}

// GetChain returns chain name.
func (c *Client) GetChain(ctx context.Context, name string) (*Chain, error) {
	var out Chain
	if _, err := c.call(ctx, request{method: http.MethodGet, path: "/api/v1/chains/" + url.PathEscape(name), auth: true, timeout: DefaultTimeout}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteChain removes chain name.
func (c *Client) DeleteChain(ctx context.Context, name string) error {
	_, err := c.call(ctx, request{method: http.MethodDelete, path: "/api/v1/chains/" + url.PathEscape(name), auth: true, timeout: DefaultTimeout}, nil)
	return err
}

// StartOptions configure StartExecution.
type StartOptions struct {
	// Name makes the start idempotent: the execution id is CHAIN.NAME.
	Name string
	// Wait asks for the final execution; WaitTimeout bounds the wait on
	// the server (default 60s), after which the running execution returns.
	Wait        bool
	WaitTimeout time.Duration
}

// StartExecution starts chain name with input (JSON; nil means {}).
func (c *Client) StartExecution(ctx context.Context, name string, input []byte, opts StartOptions) (*Execution, error) {
	q := url.Values{}
	if opts.Name != "" {
		q.Set("name", opts.Name)
	}
	timeout := DefaultTimeout
	if opts.Wait {
		q.Set("wait", "true")
		d := opts.WaitTimeout
		if d <= 0 {
			d = 60 * time.Second
		}
		q.Set("timeout", d.String())
		timeout = d + DefaultTimeout
	}
	var out Execution
	_, err := c.call(ctx, request{method: http.MethodPost, path: "/api/v1/chains/" + url.PathEscape(name) + "/executions", query: q,
		body: input, contentType: "application/json", auth: true, timeout: timeout}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Executions lists the executions of chain name, oldest first.
func (c *Client) Executions(ctx context.Context, name string) ([]Execution, error) {
	var out struct {
		Executions []Execution `json:"executions"`
	}
	if _, err := c.call(ctx, request{method: http.MethodGet, path: "/api/v1/chains/" + url.PathEscape(name) + "/executions", auth: true, timeout: DefaultTimeout}, &out); err != nil {
		return nil, err
	}
	if out.Executions == nil {
		out.Executions = []Execution{}
	}
	return out.Executions, nil
}

// GetExecution returns execution id.
func (c *Client) GetExecution(ctx context.Context, id string) (*Execution, error) {
	return c.execCall(ctx, http.MethodGet, id, "", nil)
}

// History returns the history of execution id, its branches included.
func (c *Client) History(ctx context.Context, id string) ([]HistoryEvent, error) {
	var out struct {
		Events []HistoryEvent `json:"events"`
	}
	if _, err := c.call(ctx, request{method: http.MethodGet, path: "/api/v1/executions/" + url.PathEscape(id) + "/history", auth: true, timeout: DefaultTimeout}, &out); err != nil {
		return nil, err
	}
	return out.Events, nil
}

// StopExecution aborts execution id with an optional error name and cause.
func (c *Client) StopExecution(ctx context.Context, id, errName, cause string) (*Execution, error) {
	body, _ := json.Marshal(map[string]string{"error": errName, "cause": cause})
	return c.execCall(ctx, http.MethodPost, id, "/stop", body)
}

// RedriveExecution restarts a failed execution from the state it failed in.
func (c *Client) RedriveExecution(ctx context.Context, id string) (*Execution, error) {
	return c.execCall(ctx, http.MethodPost, id, "/redrive", nil)
}

func (c *Client) execCall(ctx context.Context, method, id, suffix string, body []byte) (*Execution, error) {
	var out Execution
	r := request{method: method, path: "/api/v1/executions/" + url.PathEscape(id) + suffix, body: body, auth: true, timeout: DefaultTimeout}
	if body != nil {
		r.contentType = "application/json"
	}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
