//go:build !wasip1

package sdk

import "github.com/baton-run/baton/functions/sdk/internal/sink"

// emit sends one log line to the in-process sink: standard error, or the
// sdktest recorder during sdktest.Invoke.
func emit(level Level, msg string, fields []byte) {
	sink.Emit(int(level), msg, fields)
}
