package server

import (
	"context"
	"errors"
)

// TokenFile is the name of the admin token file inside the data directory.
const TokenFile = "token"

// Server is one running baton node.
type Server struct {
	cfg Config
}

// New validates cfg and prepares a node; Start brings it up.
func New(cfg Config) (*Server, error) {
	return &Server{cfg: cfg}, errors.New("server: not implemented yet")
}

// Start starts NATS (or connects to it), the registry and the HTTP listener.
// It returns once the node is ready.
func (s *Server) Start(ctx context.Context) error { return errors.New("server: not implemented yet") }

// HTTPAddr is the address the HTTP listener is bound to (after Start).
func (s *Server) HTTPAddr() string { return "" }

// Token is the admin bearer token (after Start).
func (s *Server) Token() string { return "" }

// Close stops the node gracefully.
func (s *Server) Close() error { return nil }

// Run starts a node and serves until ctx is cancelled, then stops it.
func Run(ctx context.Context, cfg Config) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}
