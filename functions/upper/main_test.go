package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		in, out, err string
		code         int
	}{
		{"hello, wasm", "HELLO, WASM", "", 0},
		{"", "", "", 0},
		{"ünïcode", "ÜNÏCODE", "", 0},
		{"fail", "", "refusing to fail politely\n", 3},
		{"fail\n", "", "refusing to fail politely\n", 3},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(strings.NewReader(tt.in), &stdout, &stderr)
		if code != tt.code || stdout.String() != tt.out || stderr.String() != tt.err {
			t.Errorf("run(%q) = %d, %q, %q; want %d, %q, %q", tt.in, code, stdout.String(), stderr.String(), tt.code, tt.out, tt.err)
		}
	}
}
