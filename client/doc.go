// Package client is a small Go client for baton's HTTP API: deploying,
// listing, inspecting and removing functions (the admin API under
// /api/v1/, which needs the admin token) and invoking them (/fn/{name}).
//
// The wire format it speaks is documented in docs/http-api.md. Every error
// answer of the server becomes an [*APIError] carrying the stable error
// code; the sentinels ([ErrNotFound], [ErrUnauthorized], …) let callers
// branch with [errors.Is]:
//
//	c, err := client.New("http://127.0.0.1:8080", token)
//	if err != nil { … }
//	fn, err := c.Get(ctx, "hello")
//	if client.IsNotFound(err) { … }
//
// Calls without a deadline on their context get a default one (see
// [WithTimeout]).
package client
