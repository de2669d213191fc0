package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
)

const functionsPath = "/api/v1/functions"

// Deploy uploads module (the wasm bytes) with spec as a new version of the
// function spec.Name. The same module and spec as the newest version store
// nothing and answer with Changed false.
func (c *Client) Deploy(ctx context.Context, spec Spec, module io.Reader) (*DeployResult, error) {
	if spec.Name == "" {
		return nil, errors.New("client: deploying: the spec has no name")
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("client: encoding spec: %w", err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", `form-data; name="spec"`)
	h.Set("Content-Type", "application/json")
	pw, err := mw.CreatePart(h)
	if err == nil {
		_, err = pw.Write(specJSON)
	}
	if err == nil {
		pw, err = mw.CreateFormFile("module", spec.Name+".wasm")
	}
	if err == nil {
		_, err = io.Copy(pw, module)
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("client: deploying %q: reading module: %w", spec.Name, err)
	}
	var res DeployResult
	_, err = c.call(ctx, request{
		method:      http.MethodPost,
		path:        functionsPath,
		body:        body.Bytes(),
		contentType: mw.FormDataContentType(),
		auth:        true,
		timeout:     DefaultDeployTimeout,
	}, &res)
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// List returns every function, sorted by name.
func (c *Client) List(ctx context.Context) ([]Function, error) {
	var out struct {
		Functions []Function `json:"functions"`
	}
	_, err := c.call(ctx, request{method: http.MethodGet, path: functionsPath, auth: true, timeout: DefaultTimeout}, &out)
	if err != nil {
		return nil, err
	}
	if out.Functions == nil {
		out.Functions = []Function{}
	}
	return out.Functions, nil
}

// Get returns the function name with its versions. A missing function
// gives an error matching [ErrNotFound].
func (c *Client) Get(ctx context.Context, name string) (*Function, error) {
	if name == "" {
		return nil, errors.New("client: empty function name")
	}
	var fn Function
	_, err := c.call(ctx, request{method: http.MethodGet, path: functionsPath + "/" + url.PathEscape(name), auth: true, timeout: DefaultTimeout}, &fn)
	if err != nil {
		return nil, err
	}
	return &fn, nil
}

// Delete removes the function name and all its versions. A missing
// function gives an error matching [ErrNotFound].
func (c *Client) Delete(ctx context.Context, name string) error {
	if name == "" {
		return errors.New("client: empty function name")
	}
	_, err := c.call(ctx, request{method: http.MethodDelete, path: functionsPath + "/" + url.PathEscape(name), auth: true, timeout: DefaultTimeout}, nil)
	return err
}

// Health asks whether the node is ready. A node that is not answers 503:
// the error then matches [ErrUnavailable] and the returned Health, when
// the body had one, says more.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	resp, body, err := c.send(ctx, request{method: http.MethodGet, path: "/healthz", timeout: DefaultTimeout})
	if err != nil {
		return nil, err
	}
	var h Health
	decodeErr := json.Unmarshal(body, &h)
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		if decodeErr != nil {
			return nil, fmt.Errorf("client: decoding health: %w", decodeErr)
		}
		return &h, nil
	}
	apiErr := parseError(resp, body)
	if apiErr.Code == "" && resp.StatusCode == http.StatusServiceUnavailable {
		apiErr.Code = CodeUnavailable
		if decodeErr == nil && h.Status != "" {
			apiErr.Message = "node is not ready (status " + h.Status + ")"
		} else {
			apiErr.Message = "node is not ready"
		}
	}
	if decodeErr != nil || h.Status == "" {
		return nil, apiErr
	}
	return &h, apiErr
}
