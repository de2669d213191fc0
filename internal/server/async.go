package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/internal/async"
	"github.com/baton-run/baton/internal/registry"
)

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 256

// startAsync opens the async queue and starts this node's workers, owned by
// s.wg and stopped by Close.
func (s *Server) startAsync(ctx context.Context, js jetstream.JetStream) error {
	q, err := async.Open(ctx, js, async.Options{
		Node:          s.nodeID,
		Workers:       s.cfg.AsyncWorkers,
		AckWait:       s.cfg.AsyncAckWait,
		Retention:     s.cfg.ResultRetention,
		ShutdownGrace: s.cfg.ShutdownTimeout,
		Invoke:        s.invokeAsync,
		Policy:        s.asyncPolicy,
		Logger:        s.log,
	})
	if err != nil {
		return err
	}
	s.async = q
	runCtx := s.runCtx
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := q.Run(runCtx); err != nil {
			s.log.Error("async workers stopped", "err", err)
		}
	}()
	return nil
}

func (s *Server) asyncRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/invocations/{id}", s.admin(s.handleInvocation))
	mux.Handle("GET /api/v1/dlq", s.admin(s.handleDLQ))
	mux.Handle("POST /api/v1/dlq/redrive", s.admin(s.handleRedriveAll))
	mux.Handle("POST /api/v1/dlq/{id}/redrive", s.admin(s.handleRedrive))
}

// wantsAsync reports whether the request asks to be answered at once
// (Prefer: respond-async, RFC 7240).
func wantsAsync(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			tok, _, _ := strings.Cut(strings.TrimSpace(p), ";")
			if strings.EqualFold(strings.TrimSpace(tok), "respond-async") {
				return true
			}
		}
	}
	return false
}

// asyncLimit is the largest body an async invocation of a function with
// the given input limit accepts.
func (s *Server) asyncLimit(limit int) int {
	if s.async == nil {
		return limit
	}
	return min(limit, s.async.MaxData())
}

// acceptedView is the 202 answer to an async invocation.
type acceptedView struct {
	ID     string       `json:"id"`
	Status async.Status `json:"status"`
}

// submitAsync queues an invocation of ref and answers 202 once it is
// stored.
func (s *Server) submitAsync(w http.ResponseWriter, r *http.Request, ref string, body []byte) {
	if s.async == nil {
		writeError(w, event.Errorf(event.CodeUnavailable, "async invocations are not running on this node"))
		return
	}
	key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if len(key) > maxIdempotencyKey {
		writeError(w, event.Errorf(event.CodeBadRequest, "Idempotency-Key is longer than %d bytes", maxIdempotencyKey))
		return
	}
	header := r.Header.Clone()
	header.Del("Authorization") // the admin token is for baton, never for guest code
	now := time.Now()
	job := &async.Job{
		ID:       nuid.Next(),
		Function: ref,
		Event: async.Event{
			ID: nuid.Next(), Source: "http", Type: "baton.http.request", Subject: r.URL.Path, Time: now,
			Method: r.Method, Path: "/" + r.PathValue("rest"), Query: r.URL.RawQuery, Header: header, Data: body,
		},
		Submitted:      now,
		IdempotencyKey: key,
	}
	id, dup, err := s.async.Submit(r.Context(), job)
	if err != nil {
		writeError(w, err)
		return
	}
	status := async.StatusQueued
	if dup {
		if rec, err := s.async.Get(r.Context(), id); err == nil {
			status = rec.Status
		}
	}
	w.Header().Set("Location", "/api/v1/invocations/"+id)
	w.Header().Set("X-Baton-Invocation-Id", id)
	w.Header().Set("Preference-Applied", "respond-async")
	writeJSON(w, http.StatusAccepted, acceptedView{ID: id, Status: status})
}

// invokeAsync runs one attempt of an async invocation through the same
// path as a synchronous call: when every local instance is busy, the least
// loaded peer runs it (forwardEvent). Only when no peer takes it, or the
// peer is busy too, is the answer busy, which the queue does not count as
// an attempt.
func (s *Server) invokeAsync(ctx context.Context, job *async.Job, attempt int) (*async.Result, error) {
	fn, v, err := s.lookup(job.Function)
	if err != nil {
		return nil, err
	}
	f, err := s.function(ctx, fn.Name, v)
	if err != nil {
		return nil, err
	}
	ev := job.ToEvent(attempt)
	resp := respPool.Get().(*event.Response)
	defer respPool.Put(resp)
	if err := f.Invoke(ctx, &ev, resp); err != nil {
		// The workers start before the node joins its cluster: peers()
		// is nil until then.
		if errors.Is(err, event.ErrBusy) && s.peers() != nil {
			fresp, sent, ferr := s.forwardEvent(ctx, fn.Name+":"+strconv.Itoa(v.Version), &ev, v.Spec.Limits())
			if sent {
				if ferr != nil {
					return nil, ferr
				}
				res := async.NewResult(fresp)
				if node := res.Header["X-Baton-Node"]; len(node) > 0 {
					res.Node = node[0]
				}
				return res, nil
			}
		}
		return nil, err
	}
	res := async.NewResult(resp)
	if cap(resp.Body) > 1<<20 {
		resp.Body = nil
	}
	return res, nil
}

// asyncPolicy is the async policy of the version ref runs now.
func (s *Server) asyncPolicy(ref string) async.Policy {
	_, v, err := s.lookup(ref)
	if err != nil {
		return async.DefaultPolicy
	}
	return async.Policy{
		MaxRetries: v.Spec.Retries(),
		Backoff:    v.Spec.Backoff(),
		OnSuccess:  destination(v.Spec.OnSuccess),
		OnFailure:  destination(v.Spec.OnFailure),
	}
}

func destination(d *registry.Destination) *async.Destination {
	if d == nil {
		return nil
	}
	return &async.Destination{Subject: d.Subject, Function: d.Function}
}

func (s *Server) handleInvocation(w http.ResponseWriter, r *http.Request) {
	rec, err := s.async.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, async.ErrNotFound) {
		writeError(w, event.Errorf(event.CodeNotFound, "no invocation %q (unknown, or older than the result retention)", r.PathValue("id")))
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (s *Server) handleDLQ(w http.ResponseWriter, r *http.Request) {
	fn := r.URL.Query().Get("function")
	if fn != "" && !registry.ValidName(fn) {
		writeError(w, badRequest("function: %q is not a function name", fn))
		return
	}
	dls, err := s.async.DeadLetters(r.Context(), fn)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"dead_letters": dls})
}

func (s *Server) handleRedrive(w http.ResponseWriter, r *http.Request) {
	rec, err := s.async.Redrive(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (s *Server) handleRedriveAll(w http.ResponseWriter, r *http.Request) {
	fn := r.URL.Query().Get("function")
	if !registry.ValidName(fn) {
		writeError(w, badRequest("function: redriving all needs ?function=NAME, got %q", fn))
		return
	}
	n, err := s.async.RedriveAll(r.Context(), fn)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"function": fn, "redriven": n})
}
