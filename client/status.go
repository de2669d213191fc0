package client

import (
	"context"
	"net/http"
	"time"
)

// Status is the answer of GET /api/v1/status: the instance pools of one
// node.
type Status struct {
	// Node is the id of the answering node.
	Node string `json:"node"`
	// Functions has one row per function version, sorted by name and
	// version.
	Functions []FunctionStatus `json:"functions"`
}

// FunctionStatus is the pool of one function version on one node.
type FunctionStatus struct {
	// Node is the id of the node the row is about.
	Node string `json:"node"`
	// Name and Version name the function version.
	Name    string `json:"name"`
	Version int    `json:"version"`
	// Loaded is false for a current version this node has not loaded
	// (no call yet, and no minInstances); every count is then zero.
	Loaded bool `json:"loaded"`
	// Warm instances exist, of which Busy serve a call and Idle wait.
	Warm int `json:"warm"`
	Busy int `json:"busy"`
	Idle int `json:"idle"`
	// Queued calls wait for an instance.
	Queued int `json:"queued"`
	// ColdStarts counts calls that waited for an instance to be created;
	// ScaleFromZero those that found no instance at all; Prewarmed counts
	// instances created ahead of demand, ScaledDown those closed idle.
	ColdStarts    uint64 `json:"coldStarts"`
	ScaleFromZero uint64 `json:"scaleFromZero"`
	Prewarmed     uint64 `json:"prewarmed"`
	ScaledDown    uint64 `json:"scaledDown"`
	// LastScaleDown is when idle instances were last closed (nil: never).
	LastScaleDown *time.Time `json:"lastScaleDown,omitempty"`
	// MinInstances, MaxInstances and IdleTimeout are the version's
	// scaling spec, defaults filled in.
	MinInstances int    `json:"minInstances"`
	MaxInstances int    `json:"maxInstances"`
	IdleTimeout  string `json:"idleTimeout"`
}

// Status returns the instance pools of the node: per function version,
// warm, busy and idle instances, queued calls, cold starts and scaling.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	_, err := c.call(ctx, request{method: http.MethodGet, path: "/api/v1/status", auth: true, timeout: DefaultTimeout}, &st)
	if err != nil {
		return nil, err
	}
	if st.Functions == nil {
		st.Functions = []FunctionStatus{}
	}
	return &st, nil
}
