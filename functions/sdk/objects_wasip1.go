//go:build wasip1

package sdk

import "unsafe"

//go:wasmimport baton object_get
func hostObjectGet(bucketPtr unsafe.Pointer, bucketLen int32, keyPtr unsafe.Pointer, keyLen int32, bufPtr unsafe.Pointer, bufLen int32) int32

//go:wasmimport baton object_put
func hostObjectPut(bucketPtr unsafe.Pointer, bucketLen int32, keyPtr unsafe.Pointer, keyLen int32, dataPtr unsafe.Pointer, dataLen int32, ctypePtr unsafe.Pointer, ctypeLen int32) int32

func strPtr(s string) (unsafe.Pointer, int32) {
	return unsafe.Pointer(unsafe.StringData(s)), int32(len(s))
}

func getObject(bucket, key string) ([]byte, error) {
	bp, bn := strPtr(bucket)
	kp, kn := strPtr(key)
	buf := make([]byte, 64<<10)
	for {
		n := hostObjectGet(bp, bn, kp, kn, unsafe.Pointer(unsafe.SliceData(buf)), int32(len(buf)))
		if n < 0 {
			return nil, objectErr("get", bucket, key, n)
		}
		if int(n) <= len(buf) {
			return buf[:n], nil
		}
		// The host keeps the object: the second call copies it, no fetch.
		buf = make([]byte, n)
	}
}

func putObject(bucket, key string, data []byte, contentType string) error {
	bp, bn := strPtr(bucket)
	kp, kn := strPtr(key)
	cp, cn := strPtr(contentType)
	if rc := hostObjectPut(bp, bn, kp, kn, unsafe.Pointer(unsafe.SliceData(data)), int32(len(data)), cp, cn); rc != 0 {
		return objectErr("put", bucket, key, rc)
	}
	return nil
}
