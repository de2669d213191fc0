package client

import (
	"net/http"
	"net/url"
	"time"
)

// Spec is a function's spec: what a deploy sends and what the server keeps
// with every version. Zero fields are left out of the JSON so that the
// server applies its defaults (docs/http-api.md lists them).
type Spec struct {
	// Name is the function name, [a-z0-9][a-z0-9-]{0,62}. Required.
	Name string `json:"name"`
	// Memory is the memory cap in MiB (server default 64).
	Memory int `json:"memory,omitempty"`
	// Timeout is the deadline of one invocation as a Go duration, e.g. "5s".
	Timeout string `json:"timeout,omitempty"`
	// MaxInstances is the most instances of one version on one node.
	MaxInstances int `json:"maxInstances,omitempty"`
	// MinInstances is how many instances each node keeps warm even with
	// no traffic (default 0: scale to zero); at most MaxInstances.
	MinInstances int `json:"minInstances,omitempty"`
	// IdleTimeout is how long an instance may stay idle before it is
	// closed, as a Go duration, at least "1s" (server default "5m").
	IdleTimeout string `json:"idleTimeout,omitempty"`
	// MaxQueue is how many calls may wait for an instance beyond
	// MaxInstances (server default 64); -1 means no queue.
	MaxQueue int `json:"maxQueue,omitempty"`
	// QueueTimeout is how long a call may wait for an instance, e.g. "10s".
	QueueTimeout string `json:"queueTimeout,omitempty"`
	// MaxInputBytes is the largest event data the function accepts.
	MaxInputBytes int64 `json:"maxInputBytes,omitempty"`
	// MaxOutputBytes is the largest response body the function may write.
	MaxOutputBytes int64 `json:"maxOutputBytes,omitempty"`
	// Env holds the guest's environment variables.
	Env map[string]string `json:"env,omitempty"`
	// Auth is "none" (the default) or "token": invocations then need the
	// admin token.
	Auth string `json:"auth,omitempty"`
	// Buckets are the object-store buckets the function may read and
	// write (docs/abi.md, "Objects").
	Buckets []string `json:"buckets,omitempty"`
	// MaxRetries is how many times a failed async invocation is retried
	// (server default 2); nil leaves the default, a pointer to 0 means no
	// retries.
	MaxRetries *int `json:"maxRetries,omitempty"`
	// RetryBackoff is the delay before the first retry, doubled for each
	// later one, with jitter, e.g. "1s" (the server default).
	RetryBackoff string `json:"retryBackoff,omitempty"`
	// OnSuccess and OnFailure say where the final record of an async
	// invocation goes.
	OnSuccess *Destination `json:"onSuccess,omitempty"`
	OnFailure *Destination `json:"onFailure,omitempty"`
}

// Destination is where the final record of an async invocation goes: a
// NATS subject (the record as JSON) or a function (invoked asynchronously
// with the record as its data). Set exactly one field.
type Destination struct {
	Subject  string `json:"subject,omitempty"`
	Function string `json:"function,omitempty"`
}

// Function is a deployed function as the admin API describes it: the spec
// and module of its latest version, its aliases and its version history.
type Function struct {
	// Name is the function name.
	Name string `json:"name"`
	// Latest is the number of the newest version.
	Latest int `json:"latest"`
	// Aliases maps alias names ("latest", "live"…) to version numbers.
	Aliases map[string]int `json:"aliases,omitempty"`
	// Weights holds the canary split of the aliases that have one: alias →
	// other version → percent of the alias's calls it runs.
	Weights map[string]map[int]int `json:"weights,omitempty"`
	// Spec is the spec of the latest version, with defaults filled in.
	Spec Spec `json:"spec"`
	// Mode is "reactor" or "command" (see docs/abi.md).
	Mode string `json:"mode"`
	// SHA256 is the hex sha256 of the latest version's module.
	SHA256 string `json:"sha256"`
	// Size is the size of the latest version's module in bytes.
	Size int64 `json:"size"`
	// Created is when the first version was deployed.
	Created time.Time `json:"created"`
	// Updated is when the latest version was deployed.
	Updated time.Time `json:"updated"`
	// Versions lists every version, as the server orders them.
	Versions []Version `json:"versions,omitempty"`
}

// Version is one immutable deploy of a function.
type Version struct {
	// Version is the version number (1, 2, 3…).
	Version int `json:"version"`
	// SHA256 is the hex sha256 of the module.
	SHA256 string `json:"sha256"`
	// Size is the module size in bytes.
	Size int64 `json:"size"`
	// Mode is "reactor" or "command".
	Mode string `json:"mode"`
	// Spec is the spec this version was deployed with.
	Spec Spec `json:"spec"`
	// Created is when this version was deployed.
	Created time.Time `json:"created"`
}

// DeployResult is the answer to a deploy.
type DeployResult struct {
	// Name is the function name.
	Name string `json:"name"`
	// Version is the new version, or the unchanged newest one.
	Version int `json:"version"`
	// Changed is false when the module and spec equal the newest version's
	// and nothing was stored.
	Changed bool `json:"changed"`
	// SHA256 is the hex sha256 of the module.
	SHA256 string `json:"sha256"`
	// Size is the module size in bytes.
	Size int64 `json:"size,omitempty"`
	// Mode is "reactor" or "command".
	Mode string `json:"mode"`
}

// Health is the answer of GET /healthz.
type Health struct {
	// Status is "ok" when the node is ready.
	Status string `json:"status"`
	// Node names the answering node.
	Node string `json:"node"`
	// Version is the server's version.
	Version string `json:"version"`
}

// InvokeRequest is one synchronous invocation. Every field is optional.
type InvokeRequest struct {
	// Method is the HTTP method; empty means POST when Body is non-empty
	// and GET otherwise.
	Method string
	// Path is the rest of the path after /fn/{name}, e.g. "/users/42".
	Path string
	// Query is the query string handed to the function.
	Query url.Values
	// Header holds request headers handed to the function.
	Header http.Header
	// Body is the event data.
	Body []byte
}

// InvokeResponse is the function's answer.
type InvokeResponse struct {
	// Status is the HTTP status code.
	Status int
	// Header holds the response headers.
	Header http.Header
	// Body is the response body.
	Body []byte
	// InvocationID is the X-Baton-Invocation-Id header ("" when absent).
	InvocationID string
	// Version is the X-Baton-Version header: the version that ran (0 when
	// absent).
	Version int
}
