package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/internal/async"
	"github.com/baton-run/baton/internal/chain"
	"github.com/baton-run/baton/runtime"
	"github.com/baton-run/baton/scheduler/asl"
	"github.com/baton-run/baton/triggers"
	httptrigger "github.com/baton-run/baton/triggers/http"

	_ "github.com/baton-run/baton/triggers/cron"   // the cron kind
	_ "github.com/baton-run/baton/triggers/nats"   // the nats kind
	_ "github.com/baton-run/baton/triggers/object" // the object kind
	_ "github.com/baton-run/baton/triggers/stream" // the stream kind
)

// triggerState is the node's part of the triggers: the store, the manager
// running this node's triggers and the custom HTTP routes.
type triggerState struct {
	store   *triggers.Store
	manager *triggers.Manager
	routes  *httptrigger.Table
}

// chainTriggerWait bounds a synchronous chain invocation by a trigger
// (an http route or a NATS request).
const chainTriggerWait = 60 * time.Second

// startTriggers opens the trigger store and starts watching it: every
// trigger stored runs on this node until it is deleted or Close.
func (s *Server) startTriggers(ctx context.Context, js jetstream.JetStream) error {
	store, err := triggers.OpenStore(ctx, js)
	if err != nil {
		return err
	}
	routes := httptrigger.NewTable(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, event.Errorf(event.CodeNotFound, "no route for %s %s", r.Method, r.URL.Path))
	}))
	m := triggers.NewManager(triggers.Env{
		Node:        s.nodeID,
		NATS:        s.nc,
		JetStream:   js,
		Logger:      s.log,
		Invoke:      s.triggerInvoke,
		InvokeAsync: s.triggerInvokeAsync,
		Routes:      routes,
		Authorize:   s.authorizeRoute,
		ObjectStore: s.cfg.objectStoreConfig(),
	})
	s.trig = &triggerState{store: store, manager: m, routes: routes}
	runCtx := s.runCtx
	done, err := store.Watch(runCtx, func(id string, spec *triggers.Spec) {
		m.Apply(runCtx, id, spec)
	})
	if err != nil {
		return err
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); <-done }()
	return nil
}

// stopTriggers stops this node's triggers (Close).
func (s *Server) stopTriggers() error {
	if s.trig == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	return s.trig.manager.Close(ctx)
}

// serveFallback serves what no route of baton's own matches: the custom
// routes of http triggers, else 404.
func (s *Server) serveFallback(w http.ResponseWriter, r *http.Request) {
	if s.trig == nil {
		writeError(w, event.Errorf(event.CodeNotFound, "no route for %s %s", r.Method, r.URL.Path))
		return
	}
	s.trig.routes.ServeHTTP(w, r)
}

// triggerInvoke runs target on ev for a trigger and waits for the answer.
func (s *Server) triggerInvoke(ctx context.Context, target string, ev *event.Event) (*event.Response, error) {
	name, _, isChain, err := triggers.ParseTarget(target)
	if err != nil {
		return nil, event.Errorf(event.CodeBadRequest, "target: %v", err)
	}
	if ev.InvocationID == "" {
		ev.InvocationID = nuid.Next()
	}
	if isChain {
		return s.triggerChain(ctx, name, ev)
	}
	fn, v, err := s.lookup(target)
	if err != nil {
		return nil, err
	}
	f, err := s.function(ctx, fn.Name, v)
	if err != nil {
		return nil, err
	}
	resp := new(event.Response)
	resp.Reset()
	if err := f.Invoke(ctx, ev, resp); err != nil {
		if errors.Is(err, event.ErrBusy) && s.peers() != nil {
			// Every local instance is busy: let a peer serve it.
			if fresp, sent, ferr := s.forwardEvent(ctx, fn.Name+":"+strconv.Itoa(v.Version), ev, v.Spec.Limits()); sent {
				return fresp, ferr
			}
		}
		return nil, err
	}
	return resp, nil
}

// authorizeRoute lets a custom route's request through to target when
// the function's current spec (or the chain) asks for no token or the
// request has it.
// A target that does not resolve is left for the invocation to report.
func (s *Server) authorizeRoute(r *http.Request, target string) error {
	name, _, isChain, err := triggers.ParseTarget(target)
	if err != nil {
		return nil
	}
	if isChain {
		if s.chains == nil {
			return nil
		}
		return s.authorizeChain(r, name)
	}
	fn, _, err := s.lookup(target)
	if err != nil {
		return nil
	}
	if _, qual, _ := strings.Cut(target, ":"); fn.NeedsToken(qual) && !s.authorized(r) {
		return errUnauthorized
	}
	return nil
}

// forwardEvent sends a trigger's event that found this node busy to the
// least loaded peer; sent is false when there is none.
func (s *Server) forwardEvent(ctx context.Context, ref string, ev *event.Event, limits runtime.Limits) (*event.Response, bool, error) {
	req := &overflowRequest{Ref: ref, Method: ev.Method, Path: ev.Path, Query: ev.Query, Header: ev.Header, Data: ev.Data,
		ID: ev.InvocationID, Source: ev.Source, Type: ev.Type, Subject: ev.Subject,
		EventID: ev.ID, Time: ev.Time, Attempt: ev.Attempt}
	rep, sent, err := s.peers().overflow(ctx, req, limits.Timeout+limits.QueueTimeout+time.Second)
	if !sent || err != nil {
		return nil, sent, err
	}
	if rep.Code != "" {
		return nil, true, &event.Error{Code: rep.Code, Message: rep.Message, RetryAfter: time.Second}
	}
	resp := &event.Response{Status: rep.Status, Body: rep.Body}
	for k, vs := range rep.Header {
		for _, v := range vs {
			resp.Header = append(resp.Header, event.HeaderField{Key: k, Value: v})
		}
	}
	resp.Header = append(resp.Header, event.HeaderField{Key: "X-Baton-Node", Value: rep.Node})
	return resp, true, nil
}

// triggerChain starts an execution of chain with the event data as input
// and answers its output once it ends.
func (s *Server) triggerChain(ctx context.Context, name string, ev *event.Event) (*event.Response, error) {
	if s.chains == nil {
		return nil, event.Errorf(event.CodeUnavailable, "chains are not running on this node")
	}
	x, err := s.chains.Start(ctx, name, ev.Data, chain.StartOptions{})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, chainTriggerWait)
	defer cancel()
	fx, err := s.chains.Wait(wctx, x.ID)
	if err != nil {
		return nil, event.Errorf(event.CodeTimeout, "chain %s execution %s did not end within %s", name, x.ID, chainTriggerWait)
	}
	resp := &event.Response{Status: http.StatusOK, Header: []event.HeaderField{
		{Key: "Content-Type", Value: "application/json"},
		{Key: "X-Baton-Execution-Id", Value: fx.ID},
	}}
	if fx.Status != asl.StatusSucceeded {
		return nil, event.Errorf(event.CodeFunctionError, "chain %s execution %s %s: %s: %s", name, fx.ID, fx.Status, fx.Error, fx.Cause)
	}
	resp.Body = fx.Output
	return resp, nil
}

// triggerInvokeAsync queues an invocation of target on ev (an execution,
// for a chain); key makes it idempotent.
func (s *Server) triggerInvokeAsync(ctx context.Context, target string, ev *event.Event, key string) (string, error) {
	name, _, isChain, err := triggers.ParseTarget(target)
	if err != nil {
		return "", event.Errorf(event.CodeBadRequest, "target: %v", err)
	}
	if isChain {
		if s.chains == nil {
			return "", event.Errorf(event.CodeUnavailable, "chains are not running on this node")
		}
		opts := chain.StartOptions{}
		if key != "" {
			opts.Name = strings.NewReplacer(".", "-").Replace(key)
		}
		x, err := s.chains.Start(ctx, name, ev.Data, opts)
		if err != nil {
			return "", err
		}
		return x.ID, nil
	}
	if s.async == nil {
		return "", event.Errorf(event.CodeUnavailable, "async invocations are not running on this node")
	}
	id, _, err := s.async.Submit(ctx, &async.Job{
		Function: target,
		Event: async.Event{
			ID: ev.ID, Source: ev.Source, Type: ev.Type, Subject: ev.Subject, Time: ev.Time,
			Method: ev.Method, Path: ev.Path, Query: ev.Query, Header: ev.Header, Data: ev.Data,
		},
		Submitted:      time.Now(),
		IdempotencyKey: key,
	})
	return id, err
}

func (s *Server) triggerRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/triggers", s.admin(s.handleTriggers))
	mux.Handle("POST /api/v1/triggers", s.admin(s.handleAddTrigger))
	mux.Handle("GET /api/v1/triggers/{id}", s.admin(s.handleGetTrigger))
	mux.Handle("PUT /api/v1/triggers/{id}", s.admin(s.handlePutTrigger))
	mux.Handle("DELETE /api/v1/triggers/{id}", s.admin(s.handleDeleteTrigger))
}

// triggerView is the API's view of a trigger (docs/http-api.md): the spec
// and whether it runs on the node that answered.
type triggerView struct {
	triggers.Spec
	Running bool   `json:"running"`
	Error   string `json:"error,omitempty"`
}

func (s *Server) viewTrigger(spec triggers.Spec) triggerView {
	ok, reason := s.trig.manager.Status(spec.ID)
	return triggerView{Spec: spec, Running: ok, Error: reason}
}

func (s *Server) handleTriggers(w http.ResponseWriter, r *http.Request) {
	specs, err := s.trig.store.List(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]triggerView, 0, len(specs))
	for _, sp := range specs {
		out = append(out, s.viewTrigger(sp))
	}
	writeJSON(w, http.StatusOK, map[string]any{"triggers": out})
}

func (s *Server) handleGetTrigger(w http.ResponseWriter, r *http.Request) {
	spec, err := s.trig.store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.viewTrigger(spec))
}

func (s *Server) handleDeleteTrigger(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.trig.store.Delete(r.Context(), id); err != nil {
		writeError(w, err)
		return
	}
	// Stop it here at once; the watch confirms it.
	s.trig.manager.Apply(s.runCtx, id, nil)
	s.log.Info("trigger removed", "trigger", id)
	writeJSON(w, http.StatusOK, map[string]string{"deleted": id})
}

func (s *Server) handleAddTrigger(w http.ResponseWriter, r *http.Request) {
	spec, err := s.readTrigger(r, func(spec *triggers.Spec) error {
		if spec.ID == "" && spec.Kind != "" && triggers.ValidID(spec.Kind) {
			var b [3]byte
			_, _ = rand.Read(b[:])
			spec.ID = spec.Kind + "-" + hex.EncodeToString(b[:])
		}
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	spec, err = s.trig.store.Create(r.Context(), spec)
	if errors.Is(err, triggers.ErrExists) {
		writeError(w, event.Errorf(event.CodeBadRequest, "id: a trigger %q exists (remove it first)", spec.ID))
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	// Start it here at once; the watch confirms it.
	s.trig.manager.Apply(s.runCtx, spec.ID, &spec)
	s.log.Info("trigger added", "trigger", spec.ID, "kind", spec.Kind, "function", spec.Function)
	writeJSON(w, http.StatusCreated, s.viewTrigger(spec))
}

// handlePutTrigger replaces trigger {id} with the spec in the body (or
// creates it): the trigger restarts with it on every node, and a stream
// trigger keeps its consumer's place.
func (s *Server) handlePutTrigger(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	spec, err := s.readTrigger(r, func(spec *triggers.Spec) error {
		if spec.ID != "" && spec.ID != id {
			return badRequest("id: %q in the body, %q in the path", spec.ID, id)
		}
		spec.ID = id
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	spec, created, err := s.trig.store.Put(r.Context(), spec)
	if err != nil {
		writeError(w, err)
		return
	}
	s.trig.manager.Apply(s.runCtx, spec.ID, &spec)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.log.Info("trigger stored", "trigger", spec.ID, "kind", spec.Kind, "function", spec.Function, "created", created)
	writeJSON(w, status, s.viewTrigger(spec))
}

// readTrigger decodes the trigger spec of r's body, lets fix set its id,
// and checks it (fields, and the route of an http trigger against the
// stored ones).
func (s *Server) readTrigger(r *http.Request, fix func(*triggers.Spec) error) (triggers.Spec, error) {
	var spec triggers.Spec
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return spec, badRequest("trigger: %v", jsonError(err))
	}
	spec.Created = time.Time{}
	if err := fix(&spec); err != nil {
		return spec, err
	}
	if err := spec.Validate(); err != nil {
		return spec, badRequest("%v", err)
	}
	return spec, s.checkRoute(r.Context(), spec)
}

// checkRoute refuses an http trigger whose route conflicts with a stored
// one's (other than its own, when it replaces itself).
func (s *Server) checkRoute(ctx context.Context, spec triggers.Spec) error {
	if spec.Kind != httptrigger.Kind {
		return nil
	}
	specs, err := s.trig.store.List(ctx)
	if err != nil {
		return err
	}
	t := httptrigger.NewTable(http.NotFoundHandler())
	for _, o := range specs {
		if o.Kind != httptrigger.Kind || o.ID == spec.ID {
			continue
		}
		if p, _, err := httptrigger.Pattern(o.Method, o.Path); err == nil {
			_, _ = t.Handle(p, http.NotFoundHandler())
		}
	}
	p, _, _ := httptrigger.Pattern(spec.Method, spec.Path)
	if _, err := t.Handle(p, http.NotFoundHandler()); err != nil {
		return badRequest("path: %v", err)
	}
	return nil
}
