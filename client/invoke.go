package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Invoke runs the function name synchronously and returns its answer.
// name may be "name:N" to run version N, or "name:latest".
//
// Any non-2xx answer returns both the response and an *APIError: with a
// Code when baton itself refused or the function failed, without one when
// the function chose the status.
//
// The admin token is sent only when the function answers 401 unauthorized
// (its spec says "auth": "token"), and the call is then repeated once with
// it; functions that need no token never see it. A caller that sets its
// own Authorization header turns this off.
func (c *Client) Invoke(ctx context.Context, name string, req InvokeRequest) (*InvokeResponse, error) {
	if name == "" {
		return nil, errors.New("client: empty function name")
	}
	resp, err := c.invokeOnce(ctx, name, req, false)
	if c.token != "" && req.Header.Get("Authorization") == "" && resp != nil &&
		resp.Status == http.StatusUnauthorized && resp.InvocationID == "" {
		if apiErr, ok := err.(*APIError); ok && apiErr.Code == CodeUnauthorized {
			resp, err = c.invokeOnce(ctx, name, req, true)
		}
	}
	return resp, err
}

func (c *Client) invokeOnce(ctx context.Context, name string, req InvokeRequest, auth bool) (*InvokeResponse, error) {
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
		if len(req.Body) > 0 {
			method = http.MethodPost
		}
	}
	p := "/fn/" + url.PathEscape(name)
	if req.Path != "" && req.Path != "/" {
		rest := req.Path
		if !strings.HasPrefix(rest, "/") {
			rest = "/" + rest
		}
		p += (&url.URL{Path: rest}).EscapedPath()
	}
	resp, body, err := c.send(ctx, request{
		method:  method,
		path:    p,
		query:   req.Query,
		header:  req.Header,
		body:    req.Body,
		auth:    auth,
		timeout: DefaultInvokeTimeout,
	})
	if err != nil {
		return nil, err
	}
	out := &InvokeResponse{
		Status:       resp.StatusCode,
		Header:       resp.Header,
		Body:         body,
		InvocationID: resp.Header.Get("X-Baton-Invocation-Id"),
	}
	out.Version, _ = strconv.Atoi(resp.Header.Get("X-Baton-Version"))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return out, parseError(resp, body)
	}
	return out, nil
}
