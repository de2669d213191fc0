package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/baton-run/baton/internal/registry"
)

// versionView is one version in GET /api/v1/functions/{name}/versions.
type versionView struct {
	registry.Version
	// Aliases names the aliases whose own version this is.
	Aliases []string `json:"aliases"`
	// Weights maps the aliases that send a canary share here to its percent.
	Weights map[string]int `json:"weights,omitempty"`
}

func (s *Server) handleVersions(w http.ResponseWriter, r *http.Request) {
	fn, err := s.reg.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]versionView, 0, len(fn.Versions))
	for _, v := range fn.Versions {
		vv := versionView{Version: v, Aliases: []string{}}
		for _, a := range fn.AliasList() {
			if a.Version == v.Version {
				vv.Aliases = append(vv.Aliases, a.Name)
			}
			if p, ok := a.Weights[v.Version]; ok {
				if vv.Weights == nil {
					vv.Weights = map[string]int{}
				}
				vv.Weights[a.Name] = p
			}
		}
		out = append(out, vv)
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": fn.Name, "latest": fn.Latest, "versions": out})
}

func (s *Server) handleAliases(w http.ResponseWriter, r *http.Request) {
	fn, err := s.reg.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": fn.Name, "aliases": fn.AliasList()})
}

// aliasRequest is the body of PUT /api/v1/functions/{name}/aliases/{alias}.
type aliasRequest struct {
	Version *int           `json:"version"`
	Weights map[string]int `json:"weights"`
}

func (s *Server) handleSetAlias(w http.ResponseWriter, r *http.Request) {
	name, alias := r.PathValue("name"), r.PathValue("alias")
	var req aliasRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, badRequest("body: %s", jsonError(err)))
		return
	}
	if req.Version == nil {
		writeError(w, badRequest("version: required"))
		return
	}
	var weights map[int]int
	if len(req.Weights) > 0 {
		weights = make(map[int]int, len(req.Weights))
		for k, p := range req.Weights {
			v, err := strconv.Atoi(k)
			if err != nil || strconv.Itoa(v) != k {
				writeError(w, badRequest("weights: key %q is not a version number", k))
				return
			}
			weights[v] = p
		}
	}
	fn, err := s.reg.SetAlias(r.Context(), name, alias, *req.Version, weights)
	if err != nil {
		writeError(w, err)
		return
	}
	s.onChange(registry.Change{Name: fn.Name, Function: fn})
	a, _ := fn.Alias(alias)
	s.log.Info("alias set", "function", name, "alias", alias, "version", a.Version, "weights", a.Weights)
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) handleDeleteAlias(w http.ResponseWriter, r *http.Request) {
	name, alias := r.PathValue("name"), r.PathValue("alias")
	fn, err := s.reg.DeleteAlias(r.Context(), name, alias)
	if err != nil {
		writeError(w, err)
		return
	}
	s.onChange(registry.Change{Name: fn.Name, Function: fn})
	writeJSON(w, http.StatusOK, map[string]string{"deleted": alias})
}

// rollbackResult is the answer of POST /api/v1/functions/{name}/rollback.
type rollbackResult struct {
	Name  string `json:"name"`
	Alias string `json:"alias"`
	From  int    `json:"from"`
	To    int    `json:"to"`
}

func (s *Server) handleRollback(w http.ResponseWriter, r *http.Request) {
	rb, err := s.reg.Rollback(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	s.onChange(registry.Change{Name: rb.Function.Name, Function: rb.Function})
	s.log.Info("rolled back", "function", rb.Function.Name, "from", rb.From, "to", rb.To)
	writeJSON(w, http.StatusOK, rollbackResult{Name: rb.Function.Name, Alias: registry.AliasLive, From: rb.From, To: rb.To})
}
