// Command gopanic is a test fixture for the runtime: a Go reactor built
// with the SDK whose behaviour is chosen by its input.
//
//	panic  the handler panics; the SDK recovers (function_error, "panic: boom")
//	oom    allocates until the memory cap stops it
//	log    logs "fixture log" at info with the field {"k":"v"}, writes "logged"
//	else   echoes the input
package main

import "github.com/baton-run/baton/functions/sdk"

func init() { sdk.Handle(handle) }

func main() {}

// hoard keeps what oom allocates reachable.
var hoard [][]byte

func handle(w sdk.ResponseWriter, e *sdk.Event) error {
	switch string(e.Data) {
	case "panic":
		panic("boom")
	case "oom":
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1 // touch every page
			}
			hoard = append(hoard, b)
		}
	case "log":
		sdk.Info("fixture log", "k", "v")
		_, err := w.Write([]byte("logged"))
		return err
	}
	_, err := w.Write(e.Data)
	return err
}
