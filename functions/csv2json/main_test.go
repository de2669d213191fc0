package main

import (
	"errors"
	"testing"

	"github.com/baton-run/baton/functions/sdk"
	"github.com/baton-run/baton/functions/sdk/sdktest"
)

func TestConvert(t *testing.T) {
	tests := []struct {
		name, in, want string
		rows           int
		wantErr        bool
	}{
		{"empty", "", `[]`, 0, false},
		{"header only", "a,b\n", `[]`, 0, false},
		{"rows", "name,qty\nbolt,3\n\"nut, hex\",10\n", `[{"name":"bolt","qty":"3"},{"name":"nut, hex","qty":"10"}]`, 2, false},
		{"quotes", "q\n\"say \"\"hi\"\"\"\n", `[{"q":"say \"hi\""}]`, 1, false},
		{"ragged", "a,b\n1\n", ``, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, rows, err := Convert([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (string(out) != tt.want || rows != tt.rows) {
				t.Errorf("got %s (%d rows), want %s (%d)", out, rows, tt.want, tt.rows)
			}
		})
	}
}

func TestHandle(t *testing.T) {
	sdktest.ResetObjects()
	t.Cleanup(sdktest.ResetObjects)
	sdktest.PutObject("uploads", "in/parts.csv", []byte("name,qty\nbolt,3\n"))
	resp, err := sdktest.Invoke(nil, sdktest.NewEvent("POST", "/", []byte(`{"bucket":"uploads","key":"in/parts.csv","size":16}`)))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"bucket":"converted","key":"in/parts.json","rows":1}` + "\n"; string(resp.Body) != want {
		t.Errorf("body = %s, want %s", resp.Body, want)
	}
	data, ctype, ok := sdktest.Object("converted", "in/parts.json")
	if !ok || string(data) != `[{"name":"bolt","qty":"3"}]` || ctype != "application/json" {
		t.Errorf("converted object = %q %q %v", data, ctype, ok)
	}

	_, err = sdktest.Invoke(nil, sdktest.NewEvent("POST", "/", []byte(`{"bucket":"uploads","key":"missing.csv"}`)))
	if !errors.Is(err, sdk.ErrObjectNotFound) {
		t.Errorf("missing object: err = %v, want ErrObjectNotFound", err)
	}
}
