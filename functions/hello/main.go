// Command hello is a baton function greeting by name: {"name":"Ada"} in,
// {"message":"Hello, Ada!"} out. The env var GREETING replaces "Hello".
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hello.wasm ./functions/hello
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"

	"github.com/baton-run/baton/functions/sdk"
)

func init() { sdk.Handle(hello) }

// main is required of package main but not run: the reactor build calls
// init, then baton_handle for each event.
func main() {}

type request struct {
	Name string `json:"name"`
}

type response struct {
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

func hello(w sdk.ResponseWriter, e *sdk.Event) error {
	var req request
	if len(bytes.TrimSpace(e.Data)) > 0 {
		if err := json.Unmarshal(e.Data, &req); err != nil {
			return reply(w, 400, response{Error: "invalid JSON: " + err.Error()})
		}
	}
	greeting := os.Getenv("GREETING")
	if greeting == "" {
		greeting = "Hello"
	}
	name := strings.TrimSpace(req.Name)
	if name == "" {
		name = "world"
	}
	return reply(w, 200, response{Message: greeting + ", " + name + "!"})
}

func reply(w sdk.ResponseWriter, status int, r response) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}
