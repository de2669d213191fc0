package sdk

import (
	"errors"
	"fmt"
)

// Errors of GetObject and PutObject, matched with errors.Is.
var (
	// ErrObjectNotFound: no such object (or bucket).
	ErrObjectNotFound = errors.New("object not found")
	// ErrObjectDenied: the bucket is not in the function's spec (buckets:).
	ErrObjectDenied = errors.New("bucket not allowed: add it to the function's spec (buckets:)")
	// ErrObjectTooLarge: the object is larger than baton moves (32 MiB).
	ErrObjectTooLarge = errors.New("object too large")
	// ErrObjectUnavailable: the node has no object store configured.
	ErrObjectUnavailable = errors.New("no object store on this node (baton up --minio-endpoint)")
	// ErrObjectFailed: the store failed; the node's log says why.
	ErrObjectFailed = errors.New("object store failed (see the node log)")
)

// ObjectError is the error of a failed GetObject or PutObject.
type ObjectError struct {
	Op, Bucket, Key string
	// Err is one of the ErrObject… errors.
	Err error
}

func (e *ObjectError) Error() string {
	return fmt.Sprintf("sdk: %s %s/%s: %v", e.Op, e.Bucket, e.Key, e.Err)
}

func (e *ObjectError) Unwrap() error { return e.Err }

// objectErr maps a result code of the object host functions (docs/abi.md).
func objectErr(op, bucket, key string, code int32) error {
	var err error
	switch code {
	case -1:
		err = ErrObjectNotFound
	case -2:
		err = ErrObjectDenied
	case -3:
		err = ErrObjectTooLarge
	case -4:
		err = ErrObjectUnavailable
	default:
		err = ErrObjectFailed
	}
	return &ObjectError{Op: op, Bucket: bucket, Key: key, Err: err}
}

// GetObject reads the object key of bucket from the node's object store.
// The function's spec must list the bucket (buckets:). Natively (go
// test) it reads the in-memory store of sdktest.
func GetObject(bucket, key string) ([]byte, error) { return getObject(bucket, key) }

// PutObject writes data as the object key of bucket, with contentType
// (default application/octet-stream). The function's spec must list the
// bucket.
func PutObject(bucket, key string, data []byte, contentType string) error {
	return putObject(bucket, key, data, contentType)
}
