package sdk_test

import (
	"fmt"

	"github.com/baton-run/baton/functions/sdk"
	"github.com/baton-run/baton/functions/sdk/sdktest"
)

// A function echoing its query, run in-process with sdktest. In a real
// function the handler is registered with sdk.Handle from init.
func Example() {
	handler := func(w sdk.ResponseWriter, e *sdk.Event) error {
		w.Header().Set("content-type", "text/plain")
		sdk.Info("echoing", "query", e.Query)
		_, err := w.Write([]byte(e.Method + " " + e.Path + "?" + e.Query))
		return err
	}

	resp, err := sdktest.Invoke(handler, sdktest.NewEvent("GET", "/items?id=3", nil))
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(resp.Status, resp.Header.Get("Content-Type"), string(resp.Body))
	fmt.Println(resp.Logs[0].Msg, resp.Logs[0].Fields)
	// Output:
	// 200 text/plain GET /items?id=3
	// echoing map[query:id=3]
}

// Returning an error fails the invocation (function_error); a panic does
// too, and the instance survives it.
func ExampleHandlerFunc_error() {
	_, err := sdktest.Invoke(func(w sdk.ResponseWriter, e *sdk.Event) error {
		return fmt.Errorf("no such item %q", e.Query)
	}, sdktest.NewEvent("GET", "/?42", nil))
	fmt.Println(err)

	_, err = sdktest.Invoke(func(w sdk.ResponseWriter, e *sdk.Event) error {
		var items []string
		_ = items[3]
		return nil
	}, nil)
	fmt.Println(err)
	// Output:
	// no such item "42"
	// panic: runtime error: index out of range [3] with length 0
}
