package server

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"

	"github.com/baton-run/baton/runtime"
	"github.com/baton-run/baton/triggers"
	objecttrigger "github.com/baton-run/baton/triggers/object"
)

// objectStoreConfig is the node's object store as the triggers see it.
func (c *Config) objectStoreConfig() triggers.ObjectStoreConfig {
	m := c.MinIO
	return triggers.ObjectStoreConfig{
		Endpoint: m.Endpoint, Secure: m.Secure, AccessKey: m.AccessKey, SecretKey: m.SecretKey,
		Subject: m.Subject, ARN: m.ARN,
	}
}

// newObjectStore returns the store behind the object host functions, nil
// when the node has none.
func newObjectStore(cfg *Config) (runtime.ObjectStore, error) {
	if cfg.MinIO.Endpoint == "" {
		return nil, nil
	}
	c, err := objecttrigger.NewClient(cfg.objectStoreConfig())
	if err != nil {
		return nil, fmt.Errorf("minio: %w", err)
	}
	return &minioStore{c: c}, nil
}

// minioStore is a runtime.ObjectStore on MinIO.
type minioStore struct{ c *minio.Client }

func notFound(err error) bool {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey", "NoSuchBucket":
		return true
	}
	return false
}

func (m *minioStore) GetObject(ctx context.Context, bucket, key string, max int) ([]byte, error) {
	obj, err := m.c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("%s/%s: %w", bucket, key, runtime.ErrObjectNotFound)
		}
		return nil, err
	}
	defer obj.Close()
	st, err := obj.Stat()
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("%s/%s: %w", bucket, key, runtime.ErrObjectNotFound)
		}
		return nil, err
	}
	if st.Size > int64(max) {
		return nil, fmt.Errorf("%s/%s is %d bytes, more than %d: %w", bucket, key, st.Size, max, runtime.ErrObjectTooLarge)
	}
	data, err := io.ReadAll(io.LimitReader(obj, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > max {
		return nil, fmt.Errorf("%s/%s: %w", bucket, key, runtime.ErrObjectTooLarge)
	}
	return data, nil
}

func (m *minioStore) PutObject(ctx context.Context, bucket, key string, data []byte, contentType string) error {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	_, err := m.c.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ContentType: contentType})
	if notFound(err) {
		return fmt.Errorf("bucket %s: %w", bucket, runtime.ErrObjectNotFound)
	}
	return err
}
