// Package registry stores functions in the control plane: module bytes in a
// JetStream Object Store named by their sha256, and each function's record
// (versions, specs, aliases) as one JSON value in a KV bucket, updated with
// compare-and-set so concurrent deploys from several nodes never lose one.
package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"time"

	"github.com/baton-run/baton/runtime"
)

// Auth modes of a function's invocation endpoint.
const (
	AuthNone  = "none"
	AuthToken = "token"
)

// Spec is what a user writes about a function (docs/http-api.md).
type Spec struct {
	Name           string            `json:"name" yaml:"name"`
	Memory         int               `json:"memory,omitempty" yaml:"memory,omitempty"`
	Timeout        Duration          `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	MaxInstances   int               `json:"maxInstances,omitempty" yaml:"maxInstances,omitempty"`
	MinInstances   int               `json:"minInstances,omitempty" yaml:"minInstances,omitempty"`
	IdleTimeout    Duration          `json:"idleTimeout,omitempty" yaml:"idleTimeout,omitempty"`
	MaxQueue       int               `json:"maxQueue,omitempty" yaml:"maxQueue,omitempty"`
	QueueTimeout   Duration          `json:"queueTimeout,omitempty" yaml:"queueTimeout,omitempty"`
	MaxInputBytes  int               `json:"maxInputBytes,omitempty" yaml:"maxInputBytes,omitempty"`
	MaxOutputBytes int               `json:"maxOutputBytes,omitempty" yaml:"maxOutputBytes,omitempty"`
	Env            map[string]string `json:"env,omitempty" yaml:"env,omitempty"`
	Auth           string            `json:"auth,omitempty" yaml:"auth,omitempty"`
	// Buckets are the object-store buckets the function may read and
	// write with the object host functions (docs/abi.md).
	Buckets []string `json:"buckets,omitempty" yaml:"buckets,omitempty"`
	// Async invocations (async.go).
	MaxRetries   *int         `json:"maxRetries,omitempty" yaml:"maxRetries,omitempty"`
	RetryBackoff Duration     `json:"retryBackoff,omitempty" yaml:"retryBackoff,omitempty"`
	OnSuccess    *Destination `json:"onSuccess,omitempty" yaml:"onSuccess,omitempty"`
	OnFailure    *Destination `json:"onFailure,omitempty" yaml:"onFailure,omitempty"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
var envRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// DefaultIdleTimeout is how long an instance may stay idle before the
// scaler closes it, unless the spec says otherwise.
const DefaultIdleTimeout = 5 * time.Minute

var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ValidBucket reports whether name is a valid S3 bucket name.
func ValidBucket(name string) bool { return bucketRE.MatchString(name) }

// ValidName reports whether name is a valid function name.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// WithDefaults returns s with every unset field at its default.
func (s Spec) WithDefaults() Spec {
	l := s.Limits()
	s.Memory = l.MemoryMiB
	s.Timeout = Duration(l.Timeout)
	s.MaxInstances = l.MaxInstances
	if s.MaxQueue == 0 {
		s.MaxQueue = runtime.DefaultMaxQueue
	}
	s.QueueTimeout = Duration(l.QueueTimeout)
	s.MaxInputBytes = l.MaxInputBytes
	s.MaxOutputBytes = l.MaxOutputBytes
	if s.IdleTimeout == 0 {
		s.IdleTimeout = Duration(DefaultIdleTimeout)
	}
	if s.Auth == "" {
		s.Auth = AuthNone
	}
	s = s.asyncDefaults()
	return s
}

// Validate names the first invalid field of s.
func (s Spec) Validate() error {
	switch {
	case s.Name == "":
		return fmt.Errorf("name: required")
	case !ValidName(s.Name):
		return fmt.Errorf("name: %q must be 1-63 lower-case letters, digits or '-', starting with a letter or digit", s.Name)
	case s.Memory < 0 || s.Memory > runtime.MaxMemoryMiB:
		return fmt.Errorf("memory: %d MiB is outside 1-%d", s.Memory, runtime.MaxMemoryMiB)
	case s.Timeout < 0 || (s.Timeout > 0 && time.Duration(s.Timeout) < time.Millisecond) || time.Duration(s.Timeout) > 15*time.Minute:
		return fmt.Errorf("timeout: %s is outside 1ms-15m", time.Duration(s.Timeout))
	case s.MaxInstances < 0 || s.MaxInstances > 1024:
		return fmt.Errorf("maxInstances: %d is outside 1-1024", s.MaxInstances)
	case s.MinInstances < 0 || s.MinInstances > s.Limits().MaxInstances:
		return fmt.Errorf("minInstances: %d is outside 0-%d (maxInstances)", s.MinInstances, s.Limits().MaxInstances)
	case s.IdleTimeout < 0 || (s.IdleTimeout > 0 && time.Duration(s.IdleTimeout) < time.Second) || time.Duration(s.IdleTimeout) > 24*time.Hour:
		return fmt.Errorf("idleTimeout: %s is outside 1s-24h", time.Duration(s.IdleTimeout))
	case s.MaxQueue < -1 || s.MaxQueue > 100000:
		return fmt.Errorf("maxQueue: %d is outside -1 (no queue) to 100000", s.MaxQueue)
	case s.QueueTimeout < 0 || time.Duration(s.QueueTimeout) > 15*time.Minute:
		return fmt.Errorf("queueTimeout: %s is outside 0-15m", time.Duration(s.QueueTimeout))
	case s.MaxInputBytes < 0 || s.MaxInputBytes > 1<<30:
		return fmt.Errorf("maxInputBytes: %d is outside 0-1 GiB", s.MaxInputBytes)
	case s.MaxOutputBytes < 0 || s.MaxOutputBytes > 1<<30:
		return fmt.Errorf("maxOutputBytes: %d is outside 0-1 GiB", s.MaxOutputBytes)
	case s.Auth != "" && s.Auth != AuthNone && s.Auth != AuthToken:
		return fmt.Errorf("auth: %q is neither %q nor %q", s.Auth, AuthNone, AuthToken)
	}
	for k := range s.Env {
		if !envRE.MatchString(k) {
			return fmt.Errorf("env: %q is not a valid variable name", k)
		}
	}
	for _, b := range s.Buckets {
		if !ValidBucket(b) {
			return fmt.Errorf("buckets: %q is not a bucket name (3-63 lower-case letters, digits, '.' or '-', starting and ending with a letter or digit)", b)
		}
	}
	return s.validateAsync()
}

// Limits converts s to runtime limits (defaults filled in).
func (s Spec) Limits() runtime.Limits {
	l := runtime.Limits{
		MemoryMiB:      s.Memory,
		Timeout:        time.Duration(s.Timeout),
		MaxInstances:   s.MaxInstances,
		MaxQueue:       s.MaxQueue,
		QueueTimeout:   time.Duration(s.QueueTimeout),
		MaxInputBytes:  s.MaxInputBytes,
		MaxOutputBytes: s.MaxOutputBytes,
	}
	return l.WithDefaults()
}

// Hash is a stable digest of what the spec sets apart from the defaults:
// two specs that behave the same hash the same (a field written at its
// default value or left out), and a field added to Spec later does not
// change the hash of a spec that leaves it at its default (so the first
// identical redeploy after an upgrade is no new version).
func (s Spec) Hash() string {
	n := s.WithDefaults()
	d := Spec{Name: n.Name}.WithDefaults()
	nv, dv := reflect.ValueOf(&n).Elem(), reflect.ValueOf(d)
	for i := range nv.NumField() {
		if reflect.DeepEqual(nv.Field(i).Interface(), dv.Field(i).Interface()) && nv.Type().Field(i).Name != "Name" {
			nv.Field(i).SetZero() // omitempty leaves it out
		}
	}
	b, _ := json.Marshal(n) // map keys are sorted by encoding/json
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Duration is a time.Duration written as a Go duration string ("5s") in
// JSON and YAML; a bare number is taken as seconds.
type Duration time.Duration

// MarshalJSON writes d as a string such as "5s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads "5s", "1m30s" or a number of seconds. Its errors
// are *json.UnmarshalTypeError, so that encoding/json names the field.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err2 := json.Unmarshal(b, &secs); err2 != nil {
			return &json.UnmarshalTypeError{Value: string(b), Type: durationType}
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: strconv.Quote(s), Type: durationType}
	}
	*d = Duration(v)
	return nil
}

var durationType = reflect.TypeFor[Duration]()

// IsDuration reports whether t is Duration (for naming it in errors).
func IsDuration(t reflect.Type) bool { return t == durationType }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }
