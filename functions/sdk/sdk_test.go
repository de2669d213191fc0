package sdk_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/baton-run/baton/functions/sdk"
	"github.com/baton-run/baton/functions/sdk/sdktest"
)

func TestHeader(t *testing.T) {
	h := sdk.Header{}
	h.Set("Content-Type", "text/plain")
	h.Add("X-A", "1")
	h.Add("x-a", "2")
	if got := h.Get("content-type"); got != "text/plain" {
		t.Errorf("Get = %q", got)
	}
	if got := h.Values("X-a"); !reflect.DeepEqual(got, []string{"1", "2"}) {
		t.Errorf("Values = %q", got)
	}
	if _, ok := h["content-type"]; !ok {
		t.Errorf("keys are not lower case: %v", h)
	}
	h.Del("CONTENT-TYPE")
	if got := h.Get("content-type"); got != "" {
		t.Errorf("after Del, Get = %q", got)
	}
	c := h.Clone()
	c.Add("x-a", "3")
	if len(h["x-a"]) != 2 {
		t.Errorf("Clone shares values with the original")
	}
	var nilH sdk.Header
	if nilH.Get("a") != "" || nilH.Values("a") != nil || nilH.Clone() != nil {
		t.Errorf("nil Header misbehaves")
	}
}

func TestServe(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		h       sdk.HandlerFunc
		wantErr string
	}{
		{"ok", func(w sdk.ResponseWriter, e *sdk.Event) error { return nil }, ""},
		{"error", func(w sdk.ResponseWriter, e *sdk.Event) error { return errBoom }, "boom"},
		{"panic string", func(w sdk.ResponseWriter, e *sdk.Event) error { panic("oops") }, "panic: oops"},
		{"panic error", func(w sdk.ResponseWriter, e *sdk.Event) error { panic(errBoom) }, "panic: boom"},
		{"panic int", func(w sdk.ResponseWriter, e *sdk.Event) error { panic(42) }, "panic: 42"},
		{"runtime error", func(w sdk.ResponseWriter, e *sdk.Event) error {
			var m map[string]int
			//lint:ignore SA5000 the test wants this runtime panic
			m["x"] = 1
			return nil
		}, "panic: assignment to entry in nil map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := sdktest.Invoke(tt.h, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Invoke: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("Invoke error = %v, want %q", err, tt.wantErr)
			}
			if strings.HasPrefix(tt.wantErr, "panic: ") {
				if len(resp.Logs) != 1 || resp.Logs[0].Level != sdk.LevelError ||
					resp.Logs[0].Fields["panic"] != tt.wantErr ||
					!strings.Contains(resp.Logs[0].Fields["stack"].(string), "goroutine") {
					t.Errorf("panic not logged with its stack: %+v", resp.Logs)
				}
			}
		})
	}
}

func TestResponseRules(t *testing.T) {
	resp, err := sdktest.Invoke(func(w sdk.ResponseWriter, e *sdk.Event) error {
		w.Header().Set("a", "1")
		w.WriteHeader(201)
		w.Header().Set("b", "2") // too late
		w.WriteHeader(500)       // too late
		w.Write([]byte("x"))
		w.Write([]byte("y"))
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 201 || string(resp.Body) != "xy" || !reflect.DeepEqual(resp.Header, sdk.Header{"a": {"1"}}) {
		t.Errorf("got %d %v %q", resp.Status, resp.Header, resp.Body)
	}

	_, err = sdktest.Invoke(func(w sdk.ResponseWriter, e *sdk.Event) error {
		w.WriteHeader(999)
		return errors.New("ignored")
	}, nil)
	if !errors.Is(err, sdktest.ErrInvalidStatus) {
		t.Errorf("status 999: err = %v, want ErrInvalidStatus", err)
	}
}

func TestDataIsPoisoned(t *testing.T) {
	var kept []byte
	e := sdktest.NewEvent("POST", "/", []byte("abc"))
	if _, err := sdktest.Invoke(func(w sdk.ResponseWriter, e *sdk.Event) error {
		kept = e.Data
		return nil
	}, e); err != nil {
		t.Fatal(err)
	}
	if string(e.Data) != "abc" {
		t.Errorf("Invoke modified the caller's event: %q", e.Data)
	}
	for _, c := range kept {
		if c != sdktest.Poison {
			t.Fatalf("retained Data not poisoned: %q", kept)
		}
	}
}

func TestLog(t *testing.T) {
	resp, _ := sdktest.Invoke(func(w sdk.ResponseWriter, e *sdk.Event) error {
		sdk.Debug("d")
		sdk.Info("i", "k", "v", "n", 2)
		sdk.Warn("w", "ok", true)
		sdk.Log(sdk.LevelError, "e", "err", errors.New("x"))
		return nil
	}, nil)
	want := []sdktest.Log{
		{Level: sdk.LevelDebug, Msg: "d"},
		{Level: sdk.LevelInfo, Msg: "i", Fields: map[string]any{"k": "v", "n": 2.0}},
		{Level: sdk.LevelWarn, Msg: "w", Fields: map[string]any{"ok": true}},
		{Level: sdk.LevelError, Msg: "e", Fields: map[string]any{"err": "x"}},
	}
	if !reflect.DeepEqual(resp.Logs, want) {
		t.Errorf("logs:\n got %+v\nwant %+v", resp.Logs, want)
	}
}

func TestNoHandler(t *testing.T) {
	// The test binary registers none.
	if _, err := sdktest.Invoke(nil, nil); !errors.Is(err, sdk.ErrNoHandler) {
		t.Errorf("err = %v, want ErrNoHandler", err)
	}
}

func TestLevelString(t *testing.T) {
	for l, want := range map[sdk.Level]string{sdk.LevelDebug: "debug", sdk.LevelInfo: "info", sdk.LevelWarn: "warn", sdk.LevelError: "error", 7: "level(7)"} {
		if got := l.String(); got != want {
			t.Errorf("Level(%d).String() = %q, want %q", int(l), got, want)
		}
	}
}
