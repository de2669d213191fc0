package main

// The files of `baton init NAME`; NAME is replaced by the function name.
const scaffoldMain = `// Command NAME is a baton function: it answers "Hello from NAME: " and
// the event data.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o NAME.wasm .
package main

import "github.com/baton-run/baton/functions/sdk"

func init() { sdk.Handle(handle) }

// main is required of package main but not run: the reactor build calls
// init, then the handler for each event.
func main() {}

func handle(w sdk.ResponseWriter, e *sdk.Event) error {
	w.Header().Set("content-type", "text/plain")
	_, err := w.Write(append([]byte("Hello from NAME: "), e.Data...))
	return err
}
`

const scaffoldTest = `package main

import (
	"testing"

	"github.com/baton-run/baton/functions/sdk/sdktest"
)

func TestHandle(t *testing.T) {
	// nil: the handler registered by init.
	resp, err := sdktest.Invoke(nil, sdktest.NewEvent("POST", "/", []byte("hi")))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || string(resp.Body) != "Hello from NAME: hi" {
		t.Errorf("got %d %q", resp.Status, resp.Body)
	}
}
`

const scaffoldManifest = `# baton.yaml of NAME (docs/manifest.md). Deploy: baton deploy -f baton.yaml
name: NAME
functions:
  - name: NAME
    build: .          # a Go package, built with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared
    memory: 32
    timeout: 5s
triggers:
  - kind: nats
    subject: NAME.>
    function: NAME
`
