//go:build !wasip1

package sdk

import "github.com/baton-run/baton/functions/sdk/internal/objstore"

func getObject(bucket, key string) ([]byte, error) {
	o, ok := objstore.Get(bucket, key)
	if !ok {
		return nil, objectErr("get", bucket, key, -1)
	}
	return o.Data, nil
}

func putObject(bucket, key string, data []byte, contentType string) error {
	objstore.Put(bucket, key, data, contentType)
	return nil
}
