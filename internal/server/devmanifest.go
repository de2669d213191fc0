package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"

	"github.com/baton-run/baton/client"
	"github.com/baton-run/baton/internal/manifest"
)

// applyDevManifest applies the examples' manifest (Config.DevManifest)
// through the admin API served in-process by handler, before the node
// listens: `up --dev` and `deploy -f` share one code path
// (manifest.Apply over a client), and the node is ready only once the
// examples are deployed.
func (s *Server) applyDevManifest(ctx context.Context, handler http.Handler) error {
	path := s.cfg.DevManifest
	if path == "" {
		path = filepath.Join(filepath.Dir(filepath.Clean(s.cfg.ExamplesDir)), "baton.yaml")
	}
	m, err := manifest.Load(path)
	if err != nil {
		return fmt.Errorf("--dev: %w (build the examples with `go tool task wasm`)", err)
	}
	cl, err := client.New("http://in-process", s.token,
		client.WithHTTPClient(&http.Client{Transport: handlerTransport{handler}}))
	if err != nil {
		return err
	}
	_, err = manifest.Apply(ctx, cl, m, manifest.Options{Report: func(r manifest.Result) {
		if r.Action != manifest.Unchanged {
			s.log.Info("--dev: "+r.String(), "manifest", path)
		}
	}})
	if err != nil {
		return fmt.Errorf("--dev: applying %s: %w", path, err)
	}
	return nil
}

// handlerTransport answers requests with a handler, in-process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}
