package runtime

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/baton-run/baton/event"
)

// callState is what the host functions see of the call in progress.
type callState struct {
	ev     *event.Event
	resp   *event.Response
	errMsg []byte
	// fail, when set, is why the host stopped the guest.
	fail *event.Error
	// outBytes counts what the guest wrote (resp.Body may be reused).
	meta []byte
	// object is the last object object_get fetched, until it is delivered.
	object *objectCache
}

// maxErrorMessage caps what error_set keeps.
const maxErrorMessage = 4 << 10

// hostStop is panicked by host functions to stop the guest at once; the
// reason is in callState.fail.
type hostStop struct{}

func (hostStop) Error() string { return "stopped by the host" }

func (inst *instance) stop(err *event.Error) {
	inst.call.fail = err
	panic(hostStop{})
}

// read returns a view of guest memory, stopping the guest when the range
// is out of bounds.
func (inst *instance) read(mod api.Module, ptr, n uint32) []byte {
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		inst.stop(event.Errorf(event.CodeFunctionTrap, "out of bounds memory access: %d bytes at %d", n, ptr))
	}
	return b
}

// copyOut copies src into the guest buffer (ptr, n) as far as it fits and
// returns len(src).
func (inst *instance) copyOut(mod api.Module, ptr, n uint32, src []byte) uint64 {
	if n > 0 && len(src) > 0 {
		dst := inst.read(mod, ptr, n)
		copy(dst, src)
	}
	return uint64(uint32(len(src)))
}

type hostFunc struct {
	name    string
	params  int
	results int
	fn      func(inst *instance, mod api.Module, stack []uint64)
}

var hostFuncs = []hostFunc{
	{"input_len", 0, 1, func(inst *instance, _ api.Module, stack []uint64) {
		stack[0] = uint64(uint32(len(inst.call.ev.Data)))
	}},
	{"input_read", 2, 1, func(inst *instance, mod api.Module, stack []uint64) {
		data := inst.call.ev.Data
		n := min(uint32(stack[1]), uint32(len(data)))
		if n > 0 {
			copy(inst.read(mod, uint32(stack[0]), n), data)
		}
		stack[0] = uint64(n)
	}},
	{"meta_get", 4, 1, func(inst *instance, mod api.Module, stack []uint64) {
		key := inst.read(mod, uint32(stack[0]), uint32(stack[1]))
		val, ok := inst.metaValue(key)
		if !ok {
			stack[0] = api.EncodeI32(-1)
			return
		}
		stack[0] = inst.copyOut(mod, uint32(stack[2]), uint32(stack[3]), val)
	}},
	{"meta_json", 2, 1, func(inst *instance, mod api.Module, stack []uint64) {
		if inst.call.meta == nil {
			inst.call.meta = metaJSON(inst)
		}
		stack[0] = inst.copyOut(mod, uint32(stack[0]), uint32(stack[1]), inst.call.meta)
	}},
	{"output_write", 2, 1, func(inst *instance, mod api.Module, stack []uint64) {
		b := inst.read(mod, uint32(stack[0]), uint32(stack[1]))
		resp := inst.call.resp
		if limit := inst.fn.opts.Limits.MaxOutputBytes; len(resp.Body)+len(b) > limit {
			inst.stop(event.Errorf(event.CodeOutputTooLarge, "the function wrote more than %d bytes", limit))
		}
		resp.Body = append(resp.Body, b...)
		stack[0] = 0
	}},
	{"set_status", 1, 0, func(inst *instance, _ api.Module, stack []uint64) {
		code := api.DecodeI32(stack[0])
		if code < 100 || code > 599 {
			inst.stop(event.Errorf(event.CodeInvalidStatus, "status %d is outside 100-599", code))
		}
		inst.call.resp.Status = int(code)
	}},
	{"set_header", 4, 0, func(inst *instance, mod api.Module, stack []uint64) {
		k := inst.read(mod, uint32(stack[0]), uint32(stack[1]))
		v := inst.read(mod, uint32(stack[2]), uint32(stack[3]))
		inst.call.resp.Header = append(inst.call.resp.Header, event.HeaderField{Key: string(k), Value: string(v)})
	}},
	{"error_set", 2, 0, func(inst *instance, mod api.Module, stack []uint64) {
		b := inst.read(mod, uint32(stack[0]), uint32(stack[1]))
		if len(b) > maxErrorMessage {
			b = b[:maxErrorMessage]
		}
		inst.call.errMsg = append(inst.call.errMsg[:0], b...)
	}},
	{"log", 5, 0, func(inst *instance, mod api.Module, stack []uint64) {
		level := api.DecodeI32(stack[0])
		msg := inst.read(mod, uint32(stack[1]), uint32(stack[2]))
		fields := inst.read(mod, uint32(stack[3]), uint32(stack[4]))
		inst.guestLog(level, string(msg), fields)
	}},
}

// instantiateHost adds the "baton" host module to r.
func instantiateHost(ctx context.Context, r wazero.Runtime, _ *slog.Logger) error {
	b := r.NewHostModuleBuilder(hostModule)
	for _, h := range hostFuncs {
		h := h
		params := make([]api.ValueType, h.params)
		results := make([]api.ValueType, h.results)
		for i := range params {
			params[i] = api.ValueTypeI32
		}
		for i := range results {
			results[i] = api.ValueTypeI32
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				inst := instanceFrom(ctx)
				if inst == nil || inst.call.ev == nil {
					// Called outside baton_handle (e.g. from _initialize).
					for i := range results {
						stack[i] = 0
					}
					if h.name == "log" && inst != nil {
						h.fn(inst, mod, stack)
					}
					return
				}
				h.fn(inst, mod, stack)
			}), params, results).
			Export(h.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// metaValue looks up one metadata key (docs/abi.md).
func (inst *instance) metaValue(key []byte) ([]byte, bool) {
	ev := inst.call.ev
	var s string
	switch string(key) {
	case "method":
		s = ev.Method
	case "path":
		s = ev.Path
	case "query":
		s = ev.Query
	case "event.id":
		s = ev.ID
	case "event.source":
		s = ev.Source
	case "event.type":
		s = ev.Type
	case "event.subject":
		s = ev.Subject
	case "event.time":
		if ev.Time.IsZero() {
			return nil, false
		}
		s = ev.Time.UTC().Format(time.RFC3339Nano)
	case "function":
		s = inst.fn.opts.Name
	case "version":
		s = strconv.Itoa(inst.fn.opts.Version)
	case "invocation.id":
		s = ev.InvocationID
	case "attempt":
		s = strconv.Itoa(max(ev.Attempt, 1))
	default:
		k := string(key)
		name, ok := strings.CutPrefix(k, "header.")
		if !ok {
			return nil, false
		}
		vals := ev.Header.Values(name)
		if len(vals) == 0 {
			return nil, false
		}
		s = strings.Join(vals, ", ")
	}
	return []byte(s), true
}

type metaEvent struct {
	ID      string `json:"id"`
	Source  string `json:"source"`
	Type    string `json:"type"`
	Subject string `json:"subject"`
	Time    string `json:"time,omitempty"`
}

type metaDoc struct {
	Method       string              `json:"method"`
	Path         string              `json:"path"`
	Query        string              `json:"query"`
	Headers      map[string][]string `json:"headers"`
	Event        metaEvent           `json:"event"`
	Function     string              `json:"function"`
	Version      int                 `json:"version"`
	InvocationID string              `json:"invocation_id"`
	Attempt      int                 `json:"attempt"`
}

func metaJSON(inst *instance) []byte {
	ev := inst.call.ev
	doc := metaDoc{
		Method: ev.Method, Path: ev.Path, Query: ev.Query,
		Headers:      make(map[string][]string, len(ev.Header)),
		Event:        metaEvent{ID: ev.ID, Source: ev.Source, Type: ev.Type, Subject: ev.Subject},
		Function:     inst.fn.opts.Name,
		Version:      inst.fn.opts.Version,
		InvocationID: ev.InvocationID,
		Attempt:      max(ev.Attempt, 1),
	}
	if !ev.Time.IsZero() {
		doc.Event.Time = ev.Time.UTC().Format(time.RFC3339Nano)
	}
	for k, v := range ev.Header {
		doc.Headers[strings.ToLower(k)] = v
	}
	b, _ := json.Marshal(doc)
	return b
}

var guestLevels = [...]slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}

func (inst *instance) guestLog(level int32, msg string, fields []byte) {
	lvl := slog.LevelInfo
	if level >= 0 && int(level) < len(guestLevels) {
		lvl = guestLevels[level]
	}
	logger := inst.fn.log
	if !logger.Enabled(context.Background(), lvl) {
		return
	}
	attrs := make([]slog.Attr, 0, 8)
	if inst.call.ev != nil {
		attrs = append(attrs, slog.String("invocation_id", inst.call.ev.InvocationID))
	}
	if len(fields) > 0 {
		var m map[string]any
		if err := json.Unmarshal(fields, &m); err != nil {
			attrs = append(attrs, slog.String("fields", string(fields)))
		} else {
			for _, k := range sortedAnyKeys(m) {
				attrs = append(attrs, slog.Any(k, m[k]))
			}
		}
	}
	logger.LogAttrs(context.Background(), lvl, msg, attrs...)
}

func sortedAnyKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// guestOutput turns a guest's stdout or stderr into log lines and keeps
// the last bytes written during the current call for error messages.
type guestOutput struct {
	inst   *instance
	log    *slog.Logger
	stream string
	mu     sync.Mutex
	line   []byte
	last   []byte
	logged int
	// invocationID is set for command instances, which have no callState.
	invocationID string
}

const (
	maxTail       = 4 << 10
	maxLoggedCall = 64 << 10
	maxLine       = 4 << 10
)

func (g *guestOutput) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.last = append(g.last, p...)
	if len(g.last) > 2*maxTail {
		g.last = append(g.last[:0], g.last[len(g.last)-maxTail:]...)
	}
	for _, c := range p {
		if c == '\n' || len(g.line) >= maxLine {
			g.flushLocked()
			if c == '\n' {
				continue
			}
		}
		g.line = append(g.line, c)
	}
	return len(p), nil
}

func (g *guestOutput) flushLocked() {
	if len(g.line) == 0 {
		return
	}
	if g.logged < maxLoggedCall {
		g.logged += len(g.line)
		id := g.invocationID
		if g.inst != nil && g.inst.call.ev != nil {
			id = g.inst.call.ev.InvocationID
		}
		log := g.log
		if log == nil && g.inst != nil {
			log = g.inst.fn.log
		}
		if log != nil {
			log.Info(string(g.line), "stream", g.stream, "invocation_id", id)
		}
	}
	g.line = g.line[:0]
}

// tail returns the last text written, trimmed, at most maxTail bytes.
func (g *guestOutput) tail() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.last
	if len(b) > maxTail {
		b = b[len(b)-maxTail:]
	}
	return strings.TrimSpace(string(b))
}

// reset starts a new call: flushes the partial line, forgets the tail.
func (g *guestOutput) reset() {
	g.mu.Lock()
	g.flushLocked()
	g.last = g.last[:0]
	g.logged = 0
	g.mu.Unlock()
}
