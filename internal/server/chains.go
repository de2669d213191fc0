package server

import (
	"context"
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
	"github.com/baton-run/baton/internal/chain"
	"github.com/baton-run/baton/scheduler/asl"
)

// maxChainBody caps a chain definition or an execution input.
const maxChainBody = 1 << 20

// defaultChainWait bounds a start that waits for the result (?wait=true)
// when the caller gives no ?timeout.
const defaultChainWait = 60 * time.Second

// startChains opens the chain engine and starts this node's workers,
// owned by s.wg and stopped by Close.
func (s *Server) startChains(ctx context.Context, js jetstream.JetStream) error {
	invoke := s.cfg.ChainInvoke
	if invoke == nil {
		invoke = s.InvokeTask
	}
	e, err := chain.Open(ctx, js, chain.Options{
		Workers:          s.cfg.ChainWorkers,
		AckWait:          s.cfg.ChainAckWait,
		HistoryRetention: s.cfg.ChainHistoryRetention,
		Invoke:           invoke,
		Clock:            s.cfg.ChainClock,
		Logger:           s.log,
	})
	if err != nil {
		return err
	}
	s.chains = e
	runCtx := s.runCtx
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := e.Run(runCtx); err != nil {
			s.log.Error("chain workers stopped", "err", err)
		}
	}()
	return nil
}

// InvokeTask runs the function of a chain Task state on this node: the
// task input is the event data (POST, content-type application/json), the
// idempotency key is the event id and the Idempotency-Key header. Errors
// are mapped to ASL error names by chain.TaskError.
func (s *Server) InvokeTask(ctx context.Context, call *asl.TaskCall, key string) (json.RawMessage, error) {
	if call.Function == "" {
		return nil, &asl.TaskError{Name: asl.ErrorTaskFailed, Cause: "resource " + call.Resource + " is not supported: use fn:NAME or a Lambda function ARN"}
	}
	ref := call.Function
	if q := call.Qualifier; q != "" && q != "$LATEST" {
		ref += ":" + q
	}
	fn, v, err := s.lookup(ref)
	if err != nil {
		return nil, chain.TaskError(ref, err)
	}
	f, err := s.function(ctx, fn.Name, v)
	if err != nil {
		return nil, chain.TaskError(ref, err)
	}
	ev := event.Event{
		ID:      key,
		Source:  "chain",
		Type:    "baton.chain.task",
		Subject: call.Resource,
		Time:    time.Now(),
		Method:  http.MethodPost,
		Path:    "/",
		Header: http.Header{
			"Content-Type":    []string{"application/json"},
			"Idempotency-Key": []string{key},
		},
		Data:         call.Input,
		InvocationID: nuid.Next(),
		Attempt:      call.Attempt + 1,
	}
	var resp event.Response
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err = f.Invoke(ctx, &ev, &resp)
		if !errors.Is(err, event.ErrBusy) {
			break
		}
		// Every instance is busy: a chain step waits its turn.
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	if err != nil {
		if ctx.Err() != nil && event.CodeOf(err) == event.CodeCanceled {
			return nil, ctx.Err()
		}
		return nil, chain.TaskError(ref, err)
	}
	return chain.TaskOutput(resp.Body), nil
}

func (s *Server) chainRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/chains", s.admin(s.handleChains))
	mux.Handle("POST /api/v1/chains", s.admin(s.handleDeployChain))
	mux.Handle("GET /api/v1/chains/{name}", s.admin(s.handleGetChain))
	mux.Handle("PUT /api/v1/chains/{name}", s.admin(s.handleDeployChain))
	mux.Handle("DELETE /api/v1/chains/{name}", s.admin(s.handleDeleteChain))
	mux.Handle("GET /api/v1/chains/{name}/executions", s.admin(s.handleExecutions))
	mux.Handle("POST /api/v1/chains/{name}/executions", s.admin(s.handleStartExecution))
	mux.Handle("GET /api/v1/executions/{id}", s.admin(s.handleExecution))
	mux.Handle("GET /api/v1/executions/{id}/history", s.admin(s.handleHistory))
	mux.Handle("POST /api/v1/executions/{id}/stop", s.admin(s.handleStopExecution))
	mux.Handle("POST /api/v1/executions/{id}/redrive", s.admin(s.handleRedriveExecution))
	mux.HandleFunc("POST /chains/{name}", s.handleStartExecution)
}

// chainError writes err; a definition that does not validate is a 400
// whose body also lists every problem with its path.
func chainError(w http.ResponseWriter, err error) {
	var ve *asl.ValidationError
	if errors.As(err, &ve) {
		var body struct {
			errorBody
			Problems []asl.Problem `json:"problems"`
		}
		body.Error.Code = event.CodeBadRequest
		body.Error.Message = ve.Error()
		body.Problems = ve.Problems
		writeJSON(w, http.StatusBadRequest, body)
		return
	}
	writeError(w, err)
}

// chainView is the API's view of a chain (docs/http-api.md).
type chainView struct {
	*chain.Chain
	Changed *bool `json:"changed,omitempty"`
}

func (s *Server) handleChains(w http.ResponseWriter, r *http.Request) {
	cs, err := s.chains.Chains(r.Context())
	if err != nil {
		chainError(w, err)
		return
	}
	if cs == nil {
		cs = []*chain.Chain{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"chains": cs})
}

// handleDeployChain deploys a definition: PUT /api/v1/chains/{name} with
// the definition (JSON or YAML) as the body, or POST /api/v1/chains with
// {"name": …, "definition": {…} or "YAML text"}.
func (s *Server) handleDeployChain(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxChainBody))
	if err != nil {
		chainError(w, event.Errorf(event.CodeInputTooLarge, "definition: %v", err))
		return
	}
	name := r.PathValue("name")
	def := body
	auth := r.URL.Query().Get("auth")
	if name == "" {
		var req struct {
			Name       string          `json:"name"`
			Definition json.RawMessage `json:"definition"`
			Auth       string          `json:"auth"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			chainError(w, badRequest("body: want {\"name\": …, \"definition\": …}: %v", jsonError(err)))
			return
		}
		name, def = req.Name, req.Definition
		if req.Auth != "" {
			auth = req.Auth
		}
		var text string
		if json.Unmarshal(req.Definition, &text) == nil {
			def = []byte(text) // YAML (or JSON) as a string
		}
	}
	c, changed, err := s.chains.DeployWith(r.Context(), name, def, chain.DeployOptions{Auth: auth})
	if err != nil {
		chainError(w, err)
		return
	}
	status := http.StatusOK
	if changed {
		status = http.StatusCreated
		s.log.Info("chain deployed", "chain", c.Name, "version", c.Version)
	}
	writeJSON(w, status, chainView{Chain: c, Changed: &changed})
}

func (s *Server) handleGetChain(w http.ResponseWriter, r *http.Request) {
	c, err := s.chains.Chain(r.Context(), r.PathValue("name"))
	if err != nil {
		chainError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, chainView{Chain: c})
}

func (s *Server) handleDeleteChain(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.chains.DeleteChain(r.Context(), name); err != nil {
		chainError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"deleted": name})
}

// executionView is the API's view of an execution (docs/http-api.md).
type executionView struct {
	ID          string          `json:"id"`
	Chain       string          `json:"chain"`
	Version     int             `json:"version"`
	Status      asl.Status      `json:"status"`
	State       string          `json:"state,omitempty"`
	Transitions int64           `json:"transitions"`
	Input       json.RawMessage `json:"input"`
	Output      json.RawMessage `json:"output,omitempty"`
	Error       string          `json:"error,omitempty"`
	Cause       string          `json:"cause,omitempty"`
	Started     time.Time       `json:"started"`
	Stopped     time.Time       `json:"stopped,omitzero"`
	Redrives    int             `json:"redrives,omitempty"`
}

func viewExecution(x *chain.Execution) executionView {
	v := executionView{ID: x.ID, Chain: x.Chain, Version: x.Version, Status: x.Status, Input: x.Input, Output: x.Output,
		Error: x.Error, Cause: x.Cause, Started: x.Started, Stopped: x.Stopped, Redrives: x.Redrives}
	if x.State != nil {
		v.State, v.Transitions = x.State.State, x.State.Transitions
	}
	return v
}

func (s *Server) handleExecutions(w http.ResponseWriter, r *http.Request) {
	xs, err := s.chains.Executions(r.Context(), r.PathValue("name"))
	if err != nil {
		chainError(w, err)
		return
	}
	out := make([]executionView, 0, len(xs))
	for _, x := range xs {
		out = append(out, viewExecution(x))
	}
	writeJSON(w, http.StatusOK, map[string]any{"executions": out})
}

// wantsWait reports whether a start asks for the result: ?wait=true or
// "Prefer: wait" / "Prefer: wait=SECONDS" (RFC 7240), and for how long.
func wantsWait(r *http.Request) (bool, time.Duration, error) {
	d := defaultChainWait
	if t := r.URL.Query().Get("timeout"); t != "" {
		v, err := time.ParseDuration(t)
		if err != nil || v <= 0 {
			return false, 0, badRequest("timeout: %q is not a positive duration (e.g. 30s)", t)
		}
		d = v
	}
	if w := r.URL.Query().Get("wait"); w != "" {
		b, err := strconv.ParseBool(w)
		if err != nil {
			return false, 0, badRequest("wait: %q is not true or false", w)
		}
		return b, d, nil
	}
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if p == "wait" {
				return true, d, nil
			}
			if secs, ok := strings.CutPrefix(p, "wait="); ok {
				if n, err := strconv.Atoi(secs); err == nil && n > 0 {
					return true, time.Duration(n) * time.Second, nil
				}
			}
		}
	}
	return false, 0, nil
}

// handleStartExecution starts an execution with the body as input: 202
// with the execution at once, or with ?wait=true the final execution
// (200) — 202 still when it has not ended within the wait.
func (s *Server) handleStartExecution(w http.ResponseWriter, r *http.Request) {
	wait, d, err := wantsWait(r)
	if err != nil {
		chainError(w, err)
		return
	}
	if err := s.authorizeChain(r, r.PathValue("name")); err != nil {
		if event.CodeOf(err) == event.CodeUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="baton"`)
		}
		chainError(w, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxChainBody))
	if err != nil {
		chainError(w, event.Errorf(event.CodeInputTooLarge, "input: %v", err))
		return
	}
	x, err := s.chains.Start(r.Context(), r.PathValue("name"), body, chain.StartOptions{Name: r.URL.Query().Get("name")})
	if err != nil {
		chainError(w, err)
		return
	}
	w.Header().Set("Location", "/api/v1/executions/"+x.ID)
	if wait {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		if fx, err := s.chains.Wait(ctx, x.ID); err == nil {
			writeJSON(w, http.StatusOK, viewExecution(fx))
			return
		} else if r.Context().Err() != nil {
			return
		}
	}
	writeJSON(w, http.StatusAccepted, viewExecution(x))
}

// authorizeChain lets a request start chain name when the chain asks for
// no token or the request has it (an unknown chain is left for Start to
// report).
func (s *Server) authorizeChain(r *http.Request, name string) error {
	if s.authorized(r) {
		return nil
	}
	c, err := s.chains.Chain(r.Context(), name)
	if event.CodeOf(err) == event.CodeNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if c.AuthMode() == chain.AuthToken && !s.authorized(r) {
		return errUnauthorized
	}
	return nil
}

func (s *Server) handleExecution(w http.ResponseWriter, r *http.Request) {
	x, err := s.chains.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		chainError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, viewExecution(x))
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	h, err := s.chains.History(r.Context(), r.PathValue("id"))
	if err != nil {
		chainError(w, err)
		return
	}
	if h == nil {
		h = []chain.HistoryEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": h})
}

func (s *Server) handleStopExecution(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Error string `json:"error"`
		Cause string `json:"cause"`
	}
	if body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10)); len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			chainError(w, badRequest("body: %v", jsonError(err)))
			return
		}
	}
	if req.Cause == "" {
		req.Cause = "stopped through the API"
	}
	x, err := s.chains.Stop(r.Context(), r.PathValue("id"), req.Error, req.Cause)
	if err != nil {
		chainError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, viewExecution(x))
}

func (s *Server) handleRedriveExecution(w http.ResponseWriter, r *http.Request) {
	x, err := s.chains.Redrive(r.Context(), r.PathValue("id"))
	if err != nil {
		chainError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, viewExecution(x))
}

// ChainExecution returns the durable record of execution id (a child
// included: the conformance runner reads whether it is detached).
func (s *Server) ChainExecution(ctx context.Context, id string) (*chain.Execution, error) {
	return s.chains.Get(ctx, id)
}
