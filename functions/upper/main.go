// Command upper is a plain WASI command, written without the SDK: baton
// runs it in command mode, a fresh instance per call, with the event data
// on stdin and the response body on stdout. It upper-cases its input. The
// input "fail" makes it fail: a message on stderr and exit code 3.
//
//	GOOS=wasip1 GOARCH=wasm go build -o upper.wasm ./functions/upper
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Stdin, os.Stdout, os.Stderr))
}

func run(stdin io.Reader, stdout, stderr io.Writer) int {
	in, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintln(stderr, "reading stdin:", err)
		return 1
	}
	if string(bytes.TrimSpace(in)) == "fail" {
		fmt.Fprintln(stderr, "refusing to fail politely")
		return 3
	}
	if _, err := stdout.Write(bytes.ToUpper(in)); err != nil {
		fmt.Fprintln(stderr, "writing stdout:", err)
		return 1
	}
	return 0
}
