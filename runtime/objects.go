package runtime

import (
	"context"
	"errors"
	"slices"

	"github.com/tetratelabs/wazero/api"
)

// ObjectStore is what the object host functions (object_get, object_put;
// docs/abi.md) read and write through. The runtime knows nothing of the
// store behind it; the node implements it (with an S3 client). Errors
// wrapping [ErrObjectNotFound] or [ErrObjectTooLarge] reach the guest as
// their own codes, any other error as ObjectFailed.
type ObjectStore interface {
	// GetObject returns the object's bytes, or an error wrapping
	// ErrObjectTooLarge when it is larger than max bytes.
	GetObject(ctx context.Context, bucket, key string, max int) ([]byte, error)
	// PutObject stores data as the object.
	PutObject(ctx context.Context, bucket, key string, data []byte, contentType string) error
}

// Errors of an ObjectStore.
var (
	ErrObjectNotFound = errors.New("object not found")
	ErrObjectTooLarge = errors.New("object too large")
)

// MaxObjectBytes caps the objects object_get and object_put move.
const MaxObjectBytes = 32 << 20

// The negative results of object_get and object_put (docs/abi.md).
const (
	ObjectNotFound    = -1 // no such object (or bucket)
	ObjectDenied      = -2 // the bucket is not in the function's buckets
	ObjectTooLarge    = -3 // larger than MaxObjectBytes
	ObjectUnavailable = -4 // the node has no object store
	ObjectFailed      = -5 // the store failed; the node logs why
)

// objectCache keeps the last object object_get fetched during a call, so
// that the guest's second call with a buffer large enough does not fetch
// it again.
type objectCache struct {
	bucket, key string
	data        []byte
}

// objectAllowed decides whether a function may use bucket.
func objectAllowed(opts *Options, bucket string) int32 {
	switch {
	case !slices.Contains(opts.Buckets, bucket):
		return ObjectDenied
	case opts.Objects == nil:
		return ObjectUnavailable
	}
	return 0
}

// objectCode maps an ObjectStore error to a result code.
func objectCode(err error) int32 {
	switch {
	case errors.Is(err, ErrObjectNotFound):
		return ObjectNotFound
	case errors.Is(err, ErrObjectTooLarge):
		return ObjectTooLarge
	}
	return ObjectFailed
}

var objectHostFuncs = []hostFunc{
	// object_get(bucket_ptr, bucket_len, key_ptr, key_len, buf_ptr, buf_len) -> size or code
	{"object_get", 6, 1, func(inst *instance, mod api.Module, stack []uint64) {
		bucket := string(inst.read(mod, uint32(stack[0]), uint32(stack[1])))
		key := string(inst.read(mod, uint32(stack[2]), uint32(stack[3])))
		ptr, n := uint32(stack[4]), uint32(stack[5])
		opts := &inst.fn.opts
		if rc := objectAllowed(opts, bucket); rc != 0 {
			inst.objectLog("object_get", bucket, key, rc, nil)
			stack[0] = api.EncodeI32(rc)
			return
		}
		c := inst.call.object
		if c == nil || c.bucket != bucket || c.key != key {
			data, err := opts.Objects.GetObject(inst.ctx, bucket, key, MaxObjectBytes)
			if err != nil {
				rc := objectCode(err)
				inst.objectLog("object_get", bucket, key, rc, err)
				stack[0] = api.EncodeI32(rc)
				return
			}
			c = &objectCache{bucket: bucket, key: key, data: data}
			inst.call.object = c
		}
		size := inst.copyOut(mod, ptr, n, c.data)
		if uint64(n) >= size {
			inst.call.object = nil // delivered whole
		}
		stack[0] = size
	}},
	// object_put(bucket_ptr, bucket_len, key_ptr, key_len, data_ptr, data_len, ctype_ptr, ctype_len) -> 0 or code
	{"object_put", 8, 1, func(inst *instance, mod api.Module, stack []uint64) {
		bucket := string(inst.read(mod, uint32(stack[0]), uint32(stack[1])))
		key := string(inst.read(mod, uint32(stack[2]), uint32(stack[3])))
		opts := &inst.fn.opts
		if rc := objectAllowed(opts, bucket); rc != 0 {
			inst.objectLog("object_put", bucket, key, rc, nil)
			stack[0] = api.EncodeI32(rc)
			return
		}
		if uint32(stack[5]) > MaxObjectBytes {
			inst.objectLog("object_put", bucket, key, ObjectTooLarge, nil)
			stack[0] = api.EncodeI32(ObjectTooLarge)
			return
		}
		data := inst.read(mod, uint32(stack[4]), uint32(stack[5]))
		ctype := string(inst.read(mod, uint32(stack[6]), uint32(stack[7])))
		if err := opts.Objects.PutObject(inst.ctx, bucket, key, data, ctype); err != nil {
			rc := objectCode(err)
			inst.objectLog("object_put", bucket, key, rc, err)
			stack[0] = api.EncodeI32(rc)
			return
		}
		stack[0] = 0
	}},
}

func init() { hostFuncs = append(hostFuncs, objectHostFuncs...) }

// objectLog records why an object call failed in the function's log.
func (inst *instance) objectLog(call, bucket, key string, rc int32, err error) {
	args := []any{"bucket", bucket, "key", key, "code", rc}
	if inst.call.ev != nil {
		args = append(args, "invocation_id", inst.call.ev.InvocationID)
	}
	if err != nil {
		args = append(args, "err", err)
	}
	if rc == ObjectDenied {
		args = append(args, "hint", "add the bucket to the function's spec (buckets:)")
	}
	inst.fn.log.Warn(call+" failed", args...)
}
