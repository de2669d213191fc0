package main

import (
	"reflect"
	"testing"

	"github.com/baton-run/baton/functions/sdk"
	"github.com/baton-run/baton/functions/sdk/sdktest"
)

func TestEcho(t *testing.T) {
	e := sdktest.NewEvent("PUT", "/a/b?x=1&y=2", []byte("hello\x00world"))
	e.Header.Set("Content-Type", "application/octet-stream")
	resp, err := sdktest.Invoke(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Header{
		"content-type":  {"application/octet-stream"},
		"x-echo-method": {"PUT"},
		"x-echo-path":   {"/a/b"},
		"x-echo-query":  {"x=1&y=2"},
	}
	if resp.Status != 200 || string(resp.Body) != "hello\x00world" || !reflect.DeepEqual(resp.Header, want) {
		t.Errorf("got %d %v %q", resp.Status, resp.Header, resp.Body)
	}
}

func TestEchoNoContentType(t *testing.T) {
	resp, err := sdktest.Invoke(nil, &sdk.Event{Path: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := resp.Header["content-type"]; ok || len(resp.Body) != 0 {
		t.Errorf("got %v %q", resp.Header, resp.Body)
	}
}
