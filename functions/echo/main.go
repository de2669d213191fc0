// Command echo is a baton function returning the request body with the
// request's content-type, and the method, path and query in the headers
// x-echo-method, x-echo-path and x-echo-query.
package main

import "github.com/baton-run/baton/functions/sdk"

func init() { sdk.Handle(echo) }

// main is not run in the reactor build; see the sdk package.
func main() {}

func echo(w sdk.ResponseWriter, e *sdk.Event) error {
	h := w.Header()
	if ct := e.Header.Get("content-type"); ct != "" {
		h.Set("content-type", ct)
	}
	h.Set("x-echo-method", e.Method)
	h.Set("x-echo-path", e.Path)
	h.Set("x-echo-query", e.Query)
	_, err := w.Write(e.Data)
	return err
}
