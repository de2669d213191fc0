package registry

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Defaults and bounds of the async fields of a Spec.
const (
	DefaultMaxRetries   = 2
	DefaultRetryBackoff = time.Second
	MaxMaxRetries       = 100
)

// Destination is where the final record of an async invocation goes:
// exactly one of a NATS subject or a function (name[:qualifier]).
type Destination struct {
	Subject  string `json:"subject,omitempty" yaml:"subject,omitempty"`
	Function string `json:"function,omitempty" yaml:"function,omitempty"`
}

// subjectRE is a NATS subject without wildcards.
var subjectRE = regexp.MustCompile(`^[^.*>\s]+(\.[^.*>\s]+)*$`)

func (d *Destination) validate(field string) error {
	if d == nil {
		return nil
	}
	switch {
	case (d.Subject == "") == (d.Function == ""):
		return fmt.Errorf("%s: set exactly one of subject and function", field)
	case d.Subject != "" && !subjectRE.MatchString(d.Subject):
		return fmt.Errorf("%s.subject: %q is not a NATS subject without wildcards", field, d.Subject)
	case d.Subject != "" && (strings.HasPrefix(d.Subject, "baton.") || strings.HasPrefix(d.Subject, "$")):
		return fmt.Errorf("%s.subject: %q is reserved (baton.* and $*)", field, d.Subject)
	case d.Function != "" && !ValidName(strings.SplitN(d.Function, ":", 2)[0]):
		return fmt.Errorf("%s.function: %q is not a function name", field, d.Function)
	}
	return nil
}

// Retries returns the number of retries of a failed async invocation.
func (s Spec) Retries() int {
	if s.MaxRetries == nil {
		return DefaultMaxRetries
	}
	return *s.MaxRetries
}

// Backoff returns the delay before the first retry of an async invocation.
func (s Spec) Backoff() time.Duration {
	if s.RetryBackoff == 0 {
		return DefaultRetryBackoff
	}
	return time.Duration(s.RetryBackoff)
}

func (s Spec) asyncDefaults() Spec {
	n := s.Retries()
	s.MaxRetries = &n
	s.RetryBackoff = Duration(s.Backoff())
	return s
}

func (s Spec) validateAsync() error {
	switch {
	case s.MaxRetries != nil && (*s.MaxRetries < 0 || *s.MaxRetries > MaxMaxRetries):
		return fmt.Errorf("maxRetries: %d is outside 0-%d", *s.MaxRetries, MaxMaxRetries)
	case s.RetryBackoff < 0 || (s.RetryBackoff > 0 && time.Duration(s.RetryBackoff) < time.Millisecond) || time.Duration(s.RetryBackoff) > time.Hour:
		return fmt.Errorf("retryBackoff: %s is outside 1ms-1h", time.Duration(s.RetryBackoff))
	}
	if err := s.OnSuccess.validate("onSuccess"); err != nil {
		return err
	}
	return s.OnFailure.validate("onFailure")
}
