package server

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

type Handler interface {
	Handle(ctx context.Context, req *Request) (*Response, error)
}

type Server struct {
	mu       sync.Mutex
	handlers map[string]Handler
	timeout  time.Duration
}

// New builds a server whose requests time out after timeout.
func New(timeout time.Duration) *Server {
	return &Server{handlers: map[string]Handler{}, timeout: timeout}
}

// Register routes path to h, replacing any earlier handler.
func (s *Server) Register(path string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[path] = h
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	h, ok := s.lookup(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := h.Handle(ctx, &Request{Path: r.URL.Path})
		writeJSON(w, resp, err)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		http.Error(w, "timeout", http.StatusGatewayTimeout)
	}
}

func (s *Server) lookup(path string) (Handler, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.handlers[path]
	return h, ok
}

func writeJSON(w http.ResponseWriter, v any, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

type HandlerFunc func(ctx context.Context, req *Request) (*Response, error)

func (f HandlerFunc) Handle(ctx context.Context, req *Request) (*Response, error) {
	return f(ctx, req)
}
