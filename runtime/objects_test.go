package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/baton-run/baton/event"
	"github.com/baton-run/baton/internal/testutil"
	"github.com/baton-run/baton/runtime"
)

// memStore is an in-memory runtime.ObjectStore counting its gets.
type memStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	ctypes  map[string]string
	gets    int
	fail    error
}

func (m *memStore) GetObject(_ context.Context, bucket, key string, max int) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	if m.fail != nil {
		return nil, m.fail
	}
	b, ok := m.objects[bucket+"/"+key]
	if !ok {
		return nil, fmt.Errorf("%s/%s: %w", bucket, key, runtime.ErrObjectNotFound)
	}
	if len(b) > max {
		return nil, runtime.ErrObjectTooLarge
	}
	return b, nil
}

func (m *memStore) PutObject(_ context.Context, bucket, key string, data []byte, ctype string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.objects[bucket+"/"+key] = append([]byte(nil), data...)
	m.ctypes[bucket+"/"+key] = ctype
	return nil
}

func TestObjectHostFunctions(t *testing.T) {
	e := newEngine(t, nil)
	// A CSV larger than the SDK's first 64 KiB buffer: object_get is
	// called twice, the store read once.
	var csv strings.Builder
	csv.WriteString("n\n")
	for i := range 20000 {
		fmt.Fprintf(&csv, "%d\n", i)
	}
	store := &memStore{objects: map[string][]byte{"uploads/big.csv": []byte(csv.String())}, ctypes: map[string]string{}}
	newFn := func(buckets []string, objects runtime.ObjectStore) *runtime.Function {
		f, err := e.Load(context.Background(), testutil.Module(t, "csv2json"), runtime.Options{Name: "csv2json", Version: 1, Buckets: buckets, Objects: objects})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close(context.Background()) })
		return f
	}

	f := newFn([]string{"uploads", "converted"}, store)
	resp, err := invoke(t, f, `{"bucket":"uploads","key":"big.csv"}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"bucket":"converted","key":"big.json","rows":20000}` + "\n"; string(resp.Body) != want {
		t.Fatalf("body = %s, want %s", resp.Body, want)
	}
	out := store.objects["converted/big.json"]
	if !strings.HasPrefix(string(out), `[{"n":"0"},{"n":"1"}`) || store.ctypes["converted/big.json"] != "application/json" {
		t.Fatalf("converted object: %.60s… (%q)", out, store.ctypes["converted/big.json"])
	}
	if store.gets != 1 {
		t.Fatalf("the store was read %d times, want 1", store.gets)
	}

	tests := []struct {
		name    string
		buckets []string
		objects runtime.ObjectStore
		data    string
		want    string
	}{
		{"bucket not in spec", []string{"converted"}, store, `{"bucket":"uploads","key":"big.csv"}`, "get uploads/big.csv: bucket not allowed"},
		{"output bucket not in spec", []string{"uploads"}, store, `{"bucket":"uploads","key":"big.csv"}`, "put converted/big.json: bucket not allowed"},
		{"missing", []string{"uploads", "converted"}, store, `{"bucket":"uploads","key":"none.csv"}`, "get uploads/none.csv: object not found"},
		{"no store", []string{"uploads", "converted"}, nil, `{"bucket":"uploads","key":"big.csv"}`, "no object store on this node"},
		{"store fails", []string{"uploads", "converted"}, &memStore{fail: errors.New("disk on fire")}, `{"bucket":"uploads","key":"big.csv"}`, "object store failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFn(tt.buckets, tt.objects)
			_, err := invoke(t, f, tt.data)
			if event.CodeOf(err) != event.CodeFunctionError || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a function error with %q", err, tt.want)
			}
		})
	}
}
