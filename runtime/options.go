package runtime

import (
	"fmt"
	"time"
)

// Default limits, used for every zero field of Limits.
const (
	DefaultMemoryMiB      = 64
	DefaultTimeout        = 5 * time.Second
	DefaultMaxInstances   = 8
	DefaultMaxQueue       = 64
	DefaultQueueTimeout   = 10 * time.Second
	DefaultMaxInputBytes  = 6 << 20
	DefaultMaxOutputBytes = 6 << 20

	// MaxMemoryMiB is the most memory a 32-bit wasm instance can address.
	MaxMemoryMiB = 4096
)

// Limits bound what one function may use. The zero value of each field
// means its default.
type Limits struct {
	// MemoryMiB caps the linear memory of each instance.
	MemoryMiB int
	// Timeout is the deadline of one invocation.
	Timeout time.Duration
	// MaxInstances caps the instances of this version on this node.
	MaxInstances int
	// MaxQueue caps the calls waiting for an instance; beyond it calls fail
	// at once with event.ErrBusy. Negative means no queue (zero means the
	// default, so that WithDefaults is idempotent).
	MaxQueue int
	// QueueTimeout bounds how long a call waits for an instance.
	QueueTimeout time.Duration
	// MaxInputBytes caps the event data.
	MaxInputBytes int
	// MaxOutputBytes caps the response body.
	MaxOutputBytes int
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.MemoryMiB == 0 {
		l.MemoryMiB = DefaultMemoryMiB
	}
	if l.Timeout == 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxInstances == 0 {
		l.MaxInstances = DefaultMaxInstances
	}
	if l.MaxQueue == 0 {
		l.MaxQueue = DefaultMaxQueue
	}
	if l.QueueTimeout == 0 {
		l.QueueTimeout = DefaultQueueTimeout
	}
	if l.MaxInputBytes == 0 {
		l.MaxInputBytes = DefaultMaxInputBytes
	}
	if l.MaxOutputBytes == 0 {
		l.MaxOutputBytes = DefaultMaxOutputBytes
	}
	return l
}

// Validate reports the first field of l (after defaults) that is out of range.
func (l Limits) Validate() error {
	switch {
	case l.MemoryMiB < 1 || l.MemoryMiB > MaxMemoryMiB:
		return fmt.Errorf("memory: %d MiB is outside 1-%d", l.MemoryMiB, MaxMemoryMiB)
	case l.Timeout < time.Millisecond:
		return fmt.Errorf("timeout: %s is shorter than 1ms", l.Timeout)
	case l.MaxInstances < 1:
		return fmt.Errorf("maxInstances: %d is below 1", l.MaxInstances)
	case l.QueueTimeout < 0:
		return fmt.Errorf("queueTimeout: %s is negative", l.QueueTimeout)
	case l.MaxInputBytes < 0:
		return fmt.Errorf("maxInputBytes: %d is negative", l.MaxInputBytes)
	case l.MaxOutputBytes < 0:
		return fmt.Errorf("maxOutputBytes: %d is negative", l.MaxOutputBytes)
	}
	return nil
}

// Options describe one function version to load.
type Options struct {
	// Name and Version identify the function in logs and metadata.
	Name    string
	Version int
	// Limits bound what it may use.
	Limits Limits
	// Env is the guest's environment.
	Env map[string]string
	// Validated says the same module and limits passed Load before (at
	// deploy), so Load skips linking a throwaway instance: a node loading
	// a stored version after a restart pays for one instantiation, not two.
	Validated bool
	// Buckets are the buckets the object host functions may use
	// (object_get, object_put); any other is refused with ObjectDenied.
	Buckets []string
	// Objects serves those calls; nil: the node has no object store
	// (ObjectUnavailable).
	Objects ObjectStore
}
