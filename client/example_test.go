package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/baton-run/baton/client"
)

func Example() {
	// A stand-in for `baton up`, answering like the real server.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "POST" && r.URL.Path == "/api/v1/functions":
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"name":"hello","version":1,"changed":true,"sha256":"ab12","mode":"reactor"}`)
		case r.URL.Path == "/fn/hello":
			w.Header().Set("X-Baton-Version", "1")
			fmt.Fprint(w, "Hello, Ada!")
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":"function_not_found","message":"no function named \"helo\""}}`)
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	c, err := client.New(srv.URL, "token")
	if err != nil {
		panic(err)
	}
	res, err := c.Deploy(ctx, client.Spec{Name: "hello", Memory: 64}, strings.NewReader("\x00asm\x01\x00\x00\x00"))
	if err != nil {
		panic(err)
	}
	fmt.Println("deployed", res.Name, "version", res.Version)

	out, err := c.Invoke(ctx, "hello", client.InvokeRequest{Body: []byte(`{"name":"Ada"}`)})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s (version %d)\n", out.Body, out.Version)

	_, err = c.Get(ctx, "helo")
	fmt.Println(client.IsNotFound(err), err)
	// Output:
	// deployed hello version 1
	// Hello, Ada! (version 1)
	// true function_not_found: no function named "helo"
}
