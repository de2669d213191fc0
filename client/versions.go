package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// VersionInfo is one version in [Client.Versions]: the version and the
// aliases that point at it.
type VersionInfo struct {
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
	// Aliases names the aliases whose own version this is ("latest",
	// "live"…).
	Aliases []string `json:"aliases"`
	// Weights maps the aliases that send a canary share of their
	// invocations to this version to that share in percent.
	Weights map[string]int `json:"weights,omitempty"`
}

// Alias is a movable name for a version of a function, with an optional
// canary split.
type Alias struct {
	// Name is the alias name, e.g. "live".
	Name string `json:"name"`
	// Version is the alias's own version: it runs the invocations the
	// weights leave.
	Version int `json:"version"`
	// Weights maps other versions to the percent of the alias's
	// invocations they run (each 1-99, summing to less than 100).
	Weights map[int]int `json:"weights,omitempty"`
}

// RollbackResult is what [Client.Rollback] did.
type RollbackResult struct {
	// Name is the function name.
	Name string `json:"name"`
	// Alias is the alias moved: "live".
	Alias string `json:"alias"`
	// From is the version live named before (the latest when it was unset).
	From int `json:"from"`
	// To is the version live names now.
	To int `json:"to"`
}

func functionPath(name string, rest ...string) string {
	p := functionsPath + "/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// Versions returns every version of the function name, oldest first, with
// the aliases pointing at each.
func (c *Client) Versions(ctx context.Context, name string) ([]VersionInfo, error) {
	if name == "" {
		return nil, errors.New("client: empty function name")
	}
	var out struct {
		Versions []VersionInfo `json:"versions"`
	}
	if _, err := c.call(ctx, request{method: http.MethodGet, path: functionPath(name, "versions"), auth: true, timeout: DefaultTimeout}, &out); err != nil {
		return nil, err
	}
	if out.Versions == nil {
		out.Versions = []VersionInfo{}
	}
	return out.Versions, nil
}

// Aliases returns the aliases of the function name, sorted by name.
func (c *Client) Aliases(ctx context.Context, name string) ([]Alias, error) {
	if name == "" {
		return nil, errors.New("client: empty function name")
	}
	var out struct {
		Aliases []Alias `json:"aliases"`
	}
	if _, err := c.call(ctx, request{method: http.MethodGet, path: functionPath(name, "aliases"), auth: true, timeout: DefaultTimeout}, &out); err != nil {
		return nil, err
	}
	if out.Aliases == nil {
		out.Aliases = []Alias{}
	}
	return out.Aliases, nil
}

// SetAlias points alias of the function name at version, sending the
// given percent of its invocations to other versions (weights: version →
// percent; nil for none). An unknown version gives an error matching
// [ErrNotFound]; bad weights or a bad alias name one matching
// [ErrBadRequest].
func (c *Client) SetAlias(ctx context.Context, name, alias string, version int, weights map[int]int) (*Alias, error) {
	if name == "" || alias == "" {
		return nil, errors.New("client: empty function or alias name")
	}
	req := struct {
		Version int            `json:"version"`
		Weights map[string]int `json:"weights,omitempty"`
	}{Version: version}
	if len(weights) > 0 {
		req.Weights = make(map[string]int, len(weights))
		for v, p := range weights {
			req.Weights[strconv.Itoa(v)] = p
		}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("client: encoding alias: %w", err)
	}
	var a Alias
	if _, err := c.call(ctx, request{method: http.MethodPut, path: functionPath(name, "aliases", alias), body: body,
		contentType: "application/json", auth: true, timeout: DefaultTimeout}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// DeleteAlias removes alias of the function name. A missing alias gives
// an error matching [ErrNotFound].
func (c *Client) DeleteAlias(ctx context.Context, name, alias string) error {
	if name == "" || alias == "" {
		return errors.New("client: empty function or alias name")
	}
	_, err := c.call(ctx, request{method: http.MethodDelete, path: functionPath(name, "aliases", alias), auth: true, timeout: DefaultTimeout}, nil)
	return err
}

// Rollback points the alias live of the function name at the version
// before the one it names (the latest when unset), dropping its weights.
// At the first version the error matches [ErrBadRequest].
func (c *Client) Rollback(ctx context.Context, name string) (*RollbackResult, error) {
	if name == "" {
		return nil, errors.New("client: empty function name")
	}
	var out RollbackResult
	if _, err := c.call(ctx, request{method: http.MethodPost, path: functionPath(name, "rollback"), auth: true, timeout: DefaultTimeout}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
