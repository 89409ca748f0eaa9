package drc

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/minio/minio-go/v7"
)

// rangeGetter is a Store that can read part of an object.
type rangeGetter interface {
	GetRange(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error)
}

// GetRange reads length bytes of an object from offset: with one ranged request where
// the store can, else by skipping through the whole object.
func GetRange(ctx context.Context, st Store, name string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("%s: invalid range %d+%d", name, offset, length)
	}
	if rg, ok := st.(rangeGetter); ok {
		return rg.GetRange(ctx, name, offset, length)
	}
	rc, err := st.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, rc, offset); err != nil {
		rc.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(rc, length), rc}, nil
}

func (s *dirStore) GetRange(_ context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notExist(err, name)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, offset, length), f}, nil
}

func (s *s3Store) GetRange(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	if length == 0 {
		return io.NopCloser(&io.LimitedReader{}), nil
	}
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(offset, offset+length-1); err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, s3Error(err, name)
	}
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, s3Error(err, name)
	}
	return obj, nil
}
