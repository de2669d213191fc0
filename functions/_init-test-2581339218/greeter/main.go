// Command greeter is a baton function: it answers "Hello from greeter: " and
// the event data.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o greeter.wasm .
package main

import "github.com/baton-run/baton/functions/sdk"

func init() { sdk.Handle(handle) }

// main is required of package main but not run: the reactor build calls
// init, then the handler for each event.
func main() {}

func handle(w sdk.ResponseWriter, e *sdk.Event) error {
	w.Header().Set("content-type", "text/plain")
	_, err := w.Write(append([]byte("Hello from greeter: "), e.Data...))
	return err
}
