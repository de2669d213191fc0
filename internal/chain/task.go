package chain

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nuid"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/scheduler/asl"
)

// ErrorResourceNotFound is the error name of a Task whose function does
// not exist: the Lambda name, so that ported Catch clauses still match.
const ErrorResourceNotFound = "Lambda.ResourceNotFoundException"

// TaskError turns the error of a function invocation into the
// *asl.TaskError that Retry and Catch match:
//
//   - function_error whose message is a JSON object with a string
//     "errorType" (a Lambda-style error: {"errorType":"X","errorMessage":…})
//     is named X, with the whole message as cause;
//   - any other function_error is States.TaskFailed with the message;
//   - timeout is States.Timeout;
//   - function_not_found is Lambda.ResourceNotFoundException;
//   - everything else (traps, memory, output limits…) is States.TaskFailed
//     with "code: message" as cause.
func TaskError(function string, err error) error {
	var ee *event.Error
	if !errors.As(err, &ee) {
		return &asl.TaskError{Name: asl.ErrorTaskFailed, Cause: err.Error()}
	}
	msg := ee.Message
	switch ee.Code {
	case event.CodeFunctionError:
		if name, ok := errorType(msg); ok {
			return &asl.TaskError{Name: name, Cause: msg}
		}
		return &asl.TaskError{Name: asl.ErrorTaskFailed, Cause: msg}
	case event.CodeTimeout:
		return &asl.TaskError{Name: asl.ErrorTimeout, Cause: msg}
	case event.CodeFunctionNotFound:
		name, qual, _ := strings.Cut(function, ":")
		if qual == "" {
			qual = "$LATEST"
		}
		return &asl.TaskError{Name: ErrorResourceNotFound, Cause: fmt.Sprintf("Function not found: arn:aws:lambda:local:000000000000:function:%s:%s (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: %s; Proxy: null)", name, qual, nuid.Next())}
	}
	return &asl.TaskError{Name: asl.ErrorTaskFailed, Cause: string(ee.Code) + ": " + msg}
}

// errorType reads the errorType of a Lambda-style JSON error message.
func errorType(msg string) (string, bool) {
	t := strings.TrimSpace(msg)
	if !strings.HasPrefix(t, "{") {
		return "", false
	}
	var v struct {
		ErrorType string `json:"errorType"`
	}
	if json.Unmarshal([]byte(t), &v) != nil || v.ErrorType == "" {
		return "", false
	}
	return v.ErrorType, true
}

// TaskOutput turns a function's response body into a task result: JSON
// stays as it is, anything else becomes a JSON string; an empty body is
// null.
func TaskOutput(body []byte) json.RawMessage {
	t := strings.TrimSpace(string(body))
	if t == "" {
		return json.RawMessage("null")
	}
	if json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(string(body))
	return b
}
