package asl

import (
	"errors"
	"fmt"
)

// Predefined error names of the Amazon States Language.
const (
	ErrorAll                    = "States.ALL"
	ErrorTaskFailed             = "States.TaskFailed"
	ErrorTimeout                = "States.Timeout"
	ErrorHeartbeatTimeout       = "States.HeartbeatTimeout"
	ErrorRuntime                = "States.Runtime"
	ErrorBranchFailed           = "States.BranchFailed"
	ErrorNoChoiceMatched        = "States.NoChoiceMatched"
	ErrorIntrinsicFailure       = "States.IntrinsicFailure"
	ErrorResultPathMatchFailure = "States.ResultPathMatchFailure"
	ErrorParameterPathFailure   = "States.ParameterPathFailure"
	ErrorExceedToleratedFailure = "States.ExceedToleratedFailureThreshold"
	ErrorItemReaderFailed       = "States.ItemReaderFailed"
	ErrorResultWriterFailed     = "States.ResultWriterFailed"
	ErrorQueryEvaluationError   = "States.QueryEvaluationError"
	ErrorDataLimitExceeded      = "States.DataLimitExceeded"
	ErrorPermissions            = "States.Permissions"
)

// TaskError is the error a TaskInvoker returns when a task fails with a
// named error, the way a Lambda function's errorType becomes the state's
// Error and its message the Cause.
type TaskError struct {
	// Name is the error name Retry and Catch match against.
	Name string
	// Cause is the human-readable detail.
	Cause string
}

// Error implements error.
func (e *TaskError) Error() string {
	if e.Cause == "" {
		return e.Name
	}
	return e.Name + ": " + e.Cause
}

// ErrorNameCause extracts the ASL error name and cause from err: a
// *TaskError keeps its own; any other error becomes States.TaskFailed with
// the error text as cause.
func ErrorNameCause(err error) (name, cause string) {
	var te *TaskError
	if errors.As(err, &te) {
		return te.Name, te.Cause
	}
	return ErrorTaskFailed, err.Error()
}

// stateError is a failure raised while processing a state.
type stateError struct {
	name  string
	cause string
}

func (e *stateError) Error() string { return e.name + ": " + e.cause }

func newStateError(name, format string, args ...any) *stateError {
	return &stateError{name: name, cause: fmt.Sprintf(format, args...)}
}

func runtimeErr(format string, args ...any) *stateError {
	return newStateError(ErrorRuntime, format, args...)
}

// errorMatches reports whether an error name is matched by an ErrorEquals
// list. States.ALL matches everything but States.Runtime; States.TaskFailed
// matches everything but States.Timeout and States.Runtime.
func errorMatches(list []string, name string) bool {
	for _, e := range list {
		switch {
		case e == name:
			return true
		case e == ErrorAll && name != ErrorRuntime:
			return true
		case e == ErrorTaskFailed && name != ErrorTimeout && name != ErrorRuntime:
			return true
		}
	}
	return false
}
