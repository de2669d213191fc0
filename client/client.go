package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Default deadlines of calls whose context has none; [WithTimeout]
// replaces all three.
const (
	// DefaultTimeout bounds admin and health calls.
	DefaultTimeout = time.Minute
	// DefaultDeployTimeout bounds a deploy, which uploads and compiles.
	DefaultDeployTimeout = 10 * time.Minute
	// DefaultInvokeTimeout bounds an invocation: the longest function
	// timeout (15m) plus room to queue.
	DefaultInvokeTimeout = 20 * time.Minute
)

// Client talks to one baton node. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	token     string
	hc        *http.Client
	timeout   time.Duration // 0: the per-call defaults
	userAgent string
}

// Option configures a [Client].
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// WithTimeout sets the deadline of every call whose context has none,
// replacing the defaults (DefaultTimeout, DefaultDeployTimeout,
// DefaultInvokeTimeout). A zero or negative d removes the deadline.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d <= 0 {
			d = -1
		}
		c.timeout = d
	}
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a client of the node at baseURL ("http://127.0.0.1:8080";
// a bare "host:port" means http) that authenticates with the admin token
// (may be empty for invocations of functions that need none).
func New(baseURL, token string, opts ...Option) (*Client, error) {
	raw := strings.TrimSpace(baseURL)
	if raw == "" {
		return nil, errors.New("client: empty server URL")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("client: parsing server URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: server URL %q: scheme must be http or https", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q has no host", baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	u.RawQuery, u.Fragment = "", ""
	c := &Client{base: u, token: token, hc: http.DefaultClient, userAgent: "baton-client"}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL returns the server URL the client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

// endpoint joins the base URL with an escaped path and a query.
func (c *Client) endpoint(escapedPath string, query url.Values) string {
	s := c.base.String() + escapedPath
	if len(query) > 0 {
		s += "?" + query.Encode()
	}
	return s
}

// withDeadline applies the default deadline d (or the WithTimeout one) when
// ctx has none.
func (c *Client) withDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if c.timeout != 0 {
		d = c.timeout
	}
	if _, ok := ctx.Deadline(); ok || d < 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// request is one round trip, with the answer read in full.
type request struct {
	method      string
	path        string // escaped, starting with "/"
	query       url.Values
	header      http.Header
	body        []byte
	contentType string
	auth        bool // send the admin token
	timeout     time.Duration
}

// send performs r and returns the response (its Body already consumed) and
// the body bytes. Transport failures come back as *url.Error.
func (c *Client) send(ctx context.Context, r request) (*http.Response, []byte, error) {
	ctx, cancel := c.withDeadline(ctx, r.timeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.endpoint(r.path, r.query), body)
	if err != nil {
		return nil, nil, fmt.Errorf("client: building request: %w", err)
	}
	for k, vs := range r.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if c.userAgent != "" && req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if r.auth && c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("client: reading answer of %s %s: %w", r.method, req.URL.Path, err)
	}
	return resp, b, nil
}

// call performs an admin or health call and decodes a 2xx JSON answer into
// out (when non-nil). A non-2xx answer becomes an *APIError.
func (c *Client) call(ctx context.Context, r request, out any) (*http.Response, error) {
	resp, body, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, parseError(resp, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return resp, fmt.Errorf("client: decoding answer of %s %s: %w", r.method, r.path, err)
		}
	}
	return resp, nil
}
