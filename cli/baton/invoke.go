package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/baton-run/baton/client"
	"github.com/urfave/cli/v2"
)

func (e *env) invokeCommand() *cli.Command {
	return &cli.Command{
		Name:      "invoke",
		Usage:     "run a function and print its answer",
		ArgsUsage: "NAME[:VERSION]",
		Description: "Prints the response body as is. A non-2xx answer exits with 1 and the error on stderr.\n" +
			"The method is POST when -d is given, GET otherwise.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Aliases: []string{"d"}, Usage: "event data: `DATA`, @FILE, or - for stdin"},
			&cli.StringFlag{Name: "method", Aliases: []string{"X"}, Usage: "HTTP method: GET, HEAD, POST, PUT, DELETE or PATCH"},
			&cli.StringSliceFlag{Name: "header", Aliases: []string{"H"}, Usage: "request header, as 'Name: value' (repeatable)"},
			&cli.StringFlag{Name: "path", Usage: "rest of the path after the function name, with an optional ?query", Value: "/"},
			&cli.BoolFlag{Name: "include", Aliases: []string{"i"}, Usage: "print the status and headers before the body"},
			&cli.BoolFlag{Name: "async", Usage: "queue the invocation and print its id at once (see baton invocations get)"},
			&cli.StringFlag{Name: "idempotency-key", Usage: "with --async: a repeated `KEY` returns the first invocation's id instead of running again"},
		},
		Action: e.invoke,
	}
}

func (e *env) invoke(c *cli.Context) error {
	switch {
	case c.NArg() == 0:
		return usagef(c, "missing the function name")
	case c.NArg() > 1:
		return usagef(c, "invoke takes one function name, got %d arguments (quote the data of -d)", c.NArg())
	}
	name := c.Args().First()
	req, err := e.invokeRequest(c)
	if err != nil {
		return err
	}
	if c.IsSet("idempotency-key") && !c.Bool("async") {
		return usagef(c, "--idempotency-key needs --async")
	}
	if c.Bool("async") && c.Bool("include") {
		return usagef(c, "--include prints a response; --async has none")
	}
	cl, err := e.newClient(c)
	if err != nil {
		return err
	}
	if c.Bool("async") {
		return e.invokeAsync(c, cl, name, req)
	}
	resp, err := cl.Invoke(c.Context, name, req)
	if resp == nil {
		return err
	}
	var apiErr *client.APIError
	batonErr := errors.As(err, &apiErr) && apiErr.Code != ""
	if c.Bool("include") {
		writeHead(e.stdout, resp)
	}
	if !batonErr || c.Bool("include") {
		if _, werr := e.stdout.Write(resp.Body); werr != nil {
			return werr
		}
	}
	if err != nil && !batonErr {
		return fmt.Errorf("%s answered %d %s", name, resp.Status, http.StatusText(resp.Status))
	}
	return err
}

// invokeRequest builds the request from the invoke flags.
func (e *env) invokeRequest(c *cli.Context) (client.InvokeRequest, error) {
	var req client.InvokeRequest
	if c.IsSet("data") {
		data := c.String("data")
		switch {
		case data == "-":
			b, err := io.ReadAll(e.stdin)
			if err != nil {
				return req, fmt.Errorf("reading stdin: %w", err)
			}
			req.Body = b
		case strings.HasPrefix(data, "@") && len(data) > 1:
			b, err := os.ReadFile(data[1:])
			if errors.Is(err, fs.ErrNotExist) {
				return req, usagef(c, "-d %s: file not found: %s", data, data[1:])
			} else if err != nil {
				return req, usagef(c, "-d %s: %v", data, errors.Unwrap(err))
			}
			req.Body = b
		default:
			req.Body = []byte(data)
		}
		req.Method = http.MethodPost
	} else {
		req.Method = http.MethodGet
	}
	if c.IsSet("method") {
		req.Method = strings.ToUpper(c.String("method"))
		switch req.Method {
		case "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH":
		default:
			return req, usagef(c, "-X %s: the method must be GET, HEAD, POST, PUT, DELETE or PATCH", c.String("method"))
		}
	}
	p, rawQuery, _ := strings.Cut(c.String("path"), "?")
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	req.Path = p
	if rawQuery != "" {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return req, usagef(c, "--path: bad query %q: %v", rawQuery, err)
		}
		req.Query = q
	}
	for _, h := range c.StringSlice("header") {
		k, v, ok := strings.Cut(h, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return req, usagef(c, "-H %q: want 'Name: value'", h)
		}
		if req.Header == nil {
			req.Header = http.Header{}
		}
		req.Header.Add(k, strings.TrimSpace(v))
	}
	return req, nil
}

// writeHead prints the status line and the headers, sorted, then a blank
// line, like curl -i.
func writeHead(w io.Writer, resp *client.InvokeResponse) {
	fmt.Fprintf(w, "%d %s\n", resp.Status, http.StatusText(resp.Status))
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range resp.Header[k] {
			fmt.Fprintf(w, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintln(w)
}
