// Package triggers turns outside events into invocations. Every kind of
// trigger (http, nats, cron, and later stream and object) is a small module
// with the same lifecycle, [Trigger], registered by name with [Register]
// from its own sub-package (triggers/http, triggers/nats, triggers/cron).
//
// A trigger is described by a [Spec] (what users write and the control
// plane stores), built by its kind's constructor (pure: it only checks and
// parses the spec) and brought up with Start against an [Env], which gives
// it what it needs from the node — NATS, a logger, a way to invoke its
// target — without importing the server. The [Store] keeps specs in the KV
// bucket baton_triggers; the [Manager] of each node starts and stops the
// triggers as that bucket changes.
package triggers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-run/baton/event"
)

// Trigger is one running binding from an event source to a target. Start
// brings it up and returns once it receives events (its goroutines, if any,
// are its own); Stop takes it down and returns once nothing of it runs.
// Stop must be safe to call after a Start that failed half way, and more
// than once.
type Trigger interface {
	Start(ctx context.Context, env Env) error
	Stop(ctx context.Context) error
}

// Env is what a trigger gets from the node it runs on.
type Env struct {
	// Node is the id of the node.
	Node string
	// NATS is the node's NATS connection; JetStream is the same as a
	// JetStream context.
	NATS      *nats.Conn
	JetStream jetstream.JetStream
	// Logger is tagged with the trigger id and kind.
	Logger *slog.Logger
	// Invoke runs target synchronously on ev and returns what it
	// answered. target is a function reference "name[:qualifier]" or
	// "chain:NAME" (the execution's output is the response body).
	Invoke func(ctx context.Context, target string, ev *event.Event) (*event.Response, error)
	// InvokeAsync queues an invocation of target on ev (retried, recorded;
	// see docs/http-api.md) and returns its id. key, when not empty, makes
	// the submission idempotent. For a chain it starts an execution.
	InvokeAsync func(ctx context.Context, target string, ev *event.Event, key string) (string, error)
	// Routes is the node's table of custom HTTP routes.
	Routes Routes
	// Authorize checks that an HTTP request may invoke target (a function
	// with `auth: token` wants the bearer token); nil allows everything.
	Authorize func(r *http.Request, target string) error
	// ObjectStore is the node's S3-compatible object store, for the
	// object kind (Endpoint empty: none configured).
	ObjectStore ObjectStoreConfig
}

// ObjectStoreConfig locates the node's object store (MinIO) and the way
// its bucket events reach NATS.
type ObjectStoreConfig struct {
	// Endpoint is host:port of the S3 API; Secure selects HTTPS.
	Endpoint string
	Secure   bool
	// AccessKey and SecretKey are the credentials baton uses.
	AccessKey, SecretKey string
	// Subject is the NATS subject MinIO's JetStream notification target
	// publishes to (MINIO_NOTIFY_NATS_SUBJECT_<ID>), ARN that target's
	// ARN for bucket notifications ("arn:minio:sqs::<ID>:nats").
	Subject string
	ARN     string
}

// Routes is a table of HTTP routes served by the node's listener. Handle
// adds a route under pattern (net/http.ServeMux syntax, "METHOD /path/{x}")
// and returns the function that removes it.
type Routes interface {
	Handle(pattern string, h http.Handler) (remove func(), err error)
}

// Spec describes one trigger: what users write (`baton trigger add`, the
// admin API) and what the control plane stores. Fields below Function
// belong to one kind each; a kind rejects the fields of the others.
type Spec struct {
	// ID names the trigger: [a-z0-9][a-z0-9-]{0,62}. The API makes one up
	// ("<kind>-<random>") when it is empty.
	ID string `json:"id" yaml:"id"`
	// Kind is the event source: http, nats, cron, stream, ….
	Kind string `json:"kind" yaml:"kind"`
	// Function is the target: a function reference "name[:qualifier]" or
	// "chain:NAME".
	Function string `json:"function" yaml:"function"`

	// http: the route, e.g. method POST and path "/orders/{id}".
	Method string `json:"method,omitempty" yaml:"method,omitempty"`
	Path   string `json:"path,omitempty" yaml:"path,omitempty"`

	// nats: the core NATS subject, wildcards allowed ("greet.*", "a.>").
	Subject string `json:"subject,omitempty" yaml:"subject,omitempty"`

	// cron: the schedule ("*/5 * * * *", "0 30 9 * * MON-FRI", "@hourly",
	// "@every 30s"), its time zone (IANA name, default UTC) and what to do
	// about ticks missed while no node ran ("last", the default: fire the
	// most recent one once; "skip").
	Schedule string `json:"schedule,omitempty" yaml:"schedule,omitempty"`
	Timezone string `json:"timezone,omitempty" yaml:"timezone,omitempty"`
	Missed   string `json:"missed,omitempty" yaml:"missed,omitempty"`

	// stream: an existing JetStream stream consumed through a durable
	// consumer shared by all nodes, with an optional filter subject;
	// Concurrency invocations at once per node (default 4), pulls of
	// Batch messages (default 16), MaxDeliver deliveries before the
	// dead letter (default 5), retries after Backoff doubling each time
	// (a duration, default "1s"). AckWait (a duration, default "30s",
	// 1s to 12h) is how long JetStream waits for the ack of a delivered
	// message before delivering it again, to any node: how soon the
	// messages of a node that died are processed elsewhere.
	Stream      string `json:"stream,omitempty" yaml:"stream,omitempty"`
	Filter      string `json:"filter,omitempty" yaml:"filter,omitempty"`
	Concurrency int    `json:"concurrency,omitempty" yaml:"concurrency,omitempty"`
	Batch       int    `json:"batch,omitempty" yaml:"batch,omitempty"`
	MaxDeliver  int    `json:"maxDeliver,omitempty" yaml:"maxDeliver,omitempty"`
	Backoff     string `json:"backoff,omitempty" yaml:"backoff,omitempty"`
	AckWait     string `json:"ackWait,omitempty" yaml:"ackWait,omitempty"`

	// object: events of Bucket in the node's object store (MinIO), of
	// the kinds Events ("created", "removed"; default created), on keys
	// with Prefix and Suffix; Mode "nats" (default: durable, through the
	// JetStream stream MinIO publishes into) or "listen" (MinIO's
	// ListenBucketNotification; at most once).
	Bucket string   `json:"bucket,omitempty" yaml:"bucket,omitempty"`
	Events []string `json:"events,omitempty" yaml:"events,omitempty"`
	Prefix string   `json:"prefix,omitempty" yaml:"prefix,omitempty"`
	Suffix string   `json:"suffix,omitempty" yaml:"suffix,omitempty"`
	Mode   string   `json:"mode,omitempty" yaml:"mode,omitempty"`

	// Created is set by the store.
	Created time.Time `json:"created,omitzero" yaml:"-"`
}

// kindFields lists the per-kind fields with their values; a new kind adds
// its fields here.
func (s *Spec) kindFields() []struct{ name, value string } {
	return []struct{ name, value string }{
		{"method", s.Method}, {"path", s.Path},
		{"subject", s.Subject},
		{"schedule", s.Schedule}, {"timezone", s.Timezone}, {"missed", s.Missed},
		{"stream", s.Stream}, {"filter", s.Filter}, {"concurrency", itoa(s.Concurrency)},
		{"batch", itoa(s.Batch)}, {"maxDeliver", itoa(s.MaxDeliver)}, {"backoff", s.Backoff},
		{"ackWait", s.AckWait},
		{"bucket", s.Bucket}, {"events", strings.Join(s.Events, ",")}, {"prefix", s.Prefix},
		{"suffix", s.Suffix}, {"mode", s.Mode},
	}
}

// itoa is n in decimal, "" for 0 (an unset number).
func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// Only returns a *FieldError naming the first per-kind field that is set
// although it is not one of allowed. Constructors call it so that a field
// of another kind is an error, not silently ignored.
func (s *Spec) Only(allowed ...string) error {
	for _, f := range s.kindFields() {
		if f.value != "" && !slices.Contains(allowed, f.name) {
			return Errorf(f.name, "not a field of kind %s", s.Kind)
		}
	}
	return nil
}

// FieldError is an invalid field of a Spec.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Errorf returns a *FieldError about field.
func Errorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

var (
	idRE        = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	nameRE      = idRE
	qualifierRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_$-]{0,62}$`)
)

// ValidID reports whether id is a valid trigger id.
func ValidID(id string) bool { return idRE.MatchString(id) }

// ChainPrefix starts a target that names a chain.
const ChainPrefix = "chain:"

// ParseTarget splits a target into a function name and qualifier, or a
// chain name (chain true).
func ParseTarget(target string) (name, qualifier string, chain bool, err error) {
	if c, ok := strings.CutPrefix(target, ChainPrefix); ok {
		if !nameRE.MatchString(c) {
			return "", "", false, fmt.Errorf("%q is not a chain name ([a-z0-9][a-z0-9-]*)", c)
		}
		return c, "", true, nil
	}
	name, qualifier, hasQ := strings.Cut(target, ":")
	if !nameRE.MatchString(name) {
		return "", "", false, fmt.Errorf("%q is not a function name ([a-z0-9][a-z0-9-]*) or chain:NAME", name)
	}
	if hasQ && !qualifierRE.MatchString(qualifier) {
		return "", "", false, fmt.Errorf("%q is not a version or alias", qualifier)
	}
	return name, qualifier, false, nil
}

// Validate names the first invalid field of s, checking the per-kind
// fields with the kind's constructor.
func (s Spec) Validate() error {
	if s.ID != "" && !ValidID(s.ID) {
		return Errorf("id", "%q is not a trigger id ([a-z0-9][a-z0-9-]{0,62})", s.ID)
	}
	if s.Kind == "" {
		return Errorf("kind", "required (one of %s)", strings.Join(Kinds(), ", "))
	}
	if _, ok := lookup(s.Kind); !ok {
		return Errorf("kind", "unknown trigger kind %q (one of %s)", s.Kind, strings.Join(Kinds(), ", "))
	}
	if s.Function == "" {
		return Errorf("function", "required: a function name[:qualifier] or chain:NAME")
	}
	if _, _, _, err := ParseTarget(s.Function); err != nil {
		return Errorf("function", "%v", err)
	}
	_, err := New(s)
	return err
}

// Equal reports whether a and b describe the same trigger (Created
// aside).
func Equal(a, b Spec) bool {
	a.Created, b.Created = time.Time{}, time.Time{}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// Constructor builds a trigger of one kind from its spec. It must not do
// I/O: it checks and parses the spec (returning a *FieldError) and leaves
// the rest to Start.
type Constructor func(spec Spec) (Trigger, error)

var (
	kindsMu sync.RWMutex
	kinds   = map[string]Constructor{}
)

// Register makes kind known, built by newFn. It is called from the init of
// the kind's package; registering a kind twice panics.
func Register(kind string, newFn Constructor) {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[kind]; dup {
		panic("triggers: kind " + kind + " registered twice")
	}
	kinds[kind] = newFn
}

func lookup(kind string) (Constructor, bool) {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	c, ok := kinds[kind]
	return c, ok
}

// Kinds lists the registered kinds, sorted.
func Kinds() []string {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// New builds the trigger spec describes (not started).
func New(spec Spec) (Trigger, error) {
	c, ok := lookup(spec.Kind)
	if !ok {
		return nil, Errorf("kind", "unknown trigger kind %q (one of %s)", spec.Kind, strings.Join(Kinds(), ", "))
	}
	return c(spec)
}
