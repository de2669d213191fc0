// Package objstore is the in-memory object store the sdk's GetObject and
// PutObject use when a function runs natively (go test) instead of in
// baton. It is shared by sdk, which reads and writes it, and sdktest,
// which fills and inspects it.
package objstore

import "sync"

// Object is one stored object.
type Object struct {
	Data        []byte
	ContentType string
}

var (
	mu      sync.Mutex
	objects = map[[2]string]Object{}
)

// Get returns the object bucket/key.
func Get(bucket, key string) (Object, bool) {
	mu.Lock()
	defer mu.Unlock()
	o, ok := objects[[2]string{bucket, key}]
	return o, ok
}

// Put stores the object bucket/key (a copy of data).
func Put(bucket, key string, data []byte, contentType string) {
	mu.Lock()
	defer mu.Unlock()
	objects[[2]string{bucket, key}] = Object{Data: append([]byte(nil), data...), ContentType: contentType}
}

// Reset forgets every object.
func Reset() {
	mu.Lock()
	defer mu.Unlock()
	clear(objects)
}
