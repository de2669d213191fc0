package httptrigger

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestPattern(t *testing.T) {
	tests := []struct {
		method, path string
		pattern      string
		params       []string
		bad          string // field
	}{
		{"POST", "/orders/{id}", "POST /orders/{id}", []string{"id"}, ""},
		{"get", "/a/{x}/b/{rest...}", "GET /a/{x}/b/{rest...}", []string{"x", "rest"}, ""},
		{"", "/exact/{$}", "/exact/{$}", nil, ""},
		{"ANY", "/x", "/x", nil, ""},
		{"BREW", "/x", "", nil, "method"},
		{"GET", "", "", nil, "path"},
		{"GET", "x", "", nil, "path"},
		{"GET", "/fn/a", "", nil, "path"},
		{"GET", "/api/v1/x", "", nil, "path"},
		{"GET", "/healthz", "", nil, "path"},
		{"GET", "/a/{b", "", nil, "path"},
		{"GET", "/a/{x}/{x}", "", nil, "path"},
		{"GET", "/a/{x-y}", "", nil, "path"},
		{"GET", "/a/{x...}/b", "", nil, "path"},
		{"GET", "/a b", "", nil, "path"},
	}
	for _, tt := range tests {
		p, params, err := Pattern(tt.method, tt.path)
		if tt.bad != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.bad+":") {
				t.Errorf("%s %s: got %v, want an error about %s", tt.method, tt.path, err, tt.bad)
			}
			continue
		}
		if err != nil || p != tt.pattern || !slices.Equal(params, tt.params) {
			t.Errorf("%s %s: got %q %v %v, want %q %v", tt.method, tt.path, p, params, err, tt.pattern, tt.params)
		}
	}
}

func TestTable(t *testing.T) {
	tab := NewTable(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404) }))
	ok := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(name + ":" + r.PathValue("id"))) })
	}
	rmA, err := tab.Handle("GET /a/{id}", ok("a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Handle("GET /a/{id}", ok("dup")); err == nil {
		t.Fatal("a duplicate route was accepted")
	}
	if _, err := tab.Handle("GET /a/{other}", ok("conflict")); err == nil {
		t.Fatal("a conflicting route was accepted")
	}
	if _, err := tab.Handle("GET /a/special", ok("b")); err != nil {
		t.Fatalf("a more specific route: %v", err)
	}
	serve := func(method, path string) (int, string) {
		w := httptest.NewRecorder()
		tab.ServeHTTP(w, httptest.NewRequest(method, path, nil))
		return w.Code, w.Body.String()
	}
	if c, b := serve("GET", "/a/1"); c != 200 || b != "a:1" {
		t.Fatalf("GET /a/1: %d %q", c, b)
	}
	if c, b := serve("GET", "/a/special"); c != 200 || b != "b:" {
		t.Fatalf("GET /a/special: %d %q", c, b)
	}
	if c, _ := serve("POST", "/a/1"); c != 405 {
		t.Fatalf("POST /a/1: %d", c)
	}
	rmA()
	rmA() // twice is fine
	if c, _ := serve("GET", "/a/1"); c != 404 {
		t.Fatalf("after remove: %d", c)
	}
	if tab.Len() != 1 {
		t.Fatalf("len %d", tab.Len())
	}
}

// FuzzPattern: Pattern never panics, and what it accepts a ServeMux
// accepts, with the parameters it names.
func FuzzPattern(f *testing.F) {
	for _, s := range []string{"/orders/{id}", "/a/{b...}", "/{$}", "/x/{", "/a/{x}/{x}", "/fn/x", "/é/{ü}"} {
		f.Add("GET", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		p, params, err := Pattern(method, path)
		if err != nil {
			return
		}
		mux := http.NewServeMux()
		mux.Handle(p, http.NotFoundHandler()) // must not panic
		for _, name := range params {
			if !strings.Contains(path, "{"+name) {
				t.Fatalf("param %q not in %q", name, path)
			}
		}
	})
}
