package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/baton-run/baton/client"
	"github.com/urfave/cli/v2"
)

// dataDir is --data-dir, $BATON_DATA_DIR or the default data directory.
func dataDir(c *cli.Context) string {
	if d := c.String("data-dir"); d != "" {
		return d
	}
	return client.DefaultDataDir()
}

// newClient returns a client of --server authenticated with --token, or
// with the token `baton up` keeps in the data directory.
func (e *env) newClient(c *cli.Context) (*client.Client, error) {
	server := c.String("server")
	if server == "" {
		server = defaultAddr
	}
	token := c.String("token")
	if token != "" {
		e.tokenHint = "the token given by --token or $BATON_TOKEN was refused"
	} else {
		path := filepath.Join(dataDir(c), client.TokenFile)
		tok, err := client.ReadToken(dataDir(c))
		switch {
		case err == nil:
			token = tok
			e.tokenHint = "the token read from " + path + " was refused; pass --token or set BATON_TOKEN"
		case errors.Is(err, fs.ErrNotExist):
			e.tokenHint = "no admin token: pass --token, set BATON_TOKEN, or point --data-dir at the node's data directory (no " + path + ")"
		default:
			e.tokenHint = "no admin token: " + err.Error()
		}
	}
	cl, err := client.New(server, token, client.WithUserAgent("baton-cli/"+buildVersion()))
	if err != nil {
		return nil, usagef(c, "--server: %s", strings.TrimPrefix(err.Error(), "client: "))
	}
	e.server = cl.BaseURL()
	return cl, nil
}

// describe turns an error of a request into one line for the user.
func (e *env) describe(ctx context.Context, err error) string {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		msg := apiErr.Error()
		switch {
		case apiErr.Code == client.CodeUnauthorized && e.tokenHint != "":
			msg += "; " + e.tokenHint
		case apiErr.RetryAfter > 0:
			msg += fmt.Sprintf(" (retry after %v)", apiErr.RetryAfter)
		}
		return msg
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		server := e.server
		if server == "" {
			server = urlErr.URL
		}
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return fmt.Sprintf("cannot reach baton at %s: connection refused (is \"baton up\" running?)", server)
		case urlErr.Timeout():
			return fmt.Sprintf("baton at %s did not answer in time", server)
		default:
			return fmt.Sprintf("cannot reach baton at %s: %v", server, urlErr.Err)
		}
	}
	return err.Error()
}
