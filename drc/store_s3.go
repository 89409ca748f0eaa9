package drc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strings"
	"time"

	"github.com/cadang/cadang/internal/oneline"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3Store is a Store in an S3 bucket (MinIO or any S3), through minio-go.
type s3Store struct {
	client *minio.Client
	bucket string
	prefix string // "" or "folder/" (always ending in '/')
	loc    string
	ret    *retention // set for an immutable DRC: what Put locks, and what Delete may remove
}

var _ Store = (*s3Store)(nil) // interface guard

// S3Credentials are the keys of an S3 DRC, read from the config or its key files.
type S3Credentials struct {
	AccessKey string
	SecretKey string
}

// ReadCredentials resolves the keys of c from the config or the files it names.
func (c *S3Config) ReadCredentials() (S3Credentials, error) {
	read := func(inline, file, what string) (string, error) {
		if inline != "" {
			return inline, nil
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("cannot read %s file: %w", what, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s file %s is empty", what, file)
		}
		return v, nil
	}
	ak, err := read(c.AccessKey, c.AccessKeyFile, "access_key")
	if err != nil {
		return S3Credentials{}, err
	}
	sk, err := read(c.SecretKey, c.SecretKeyFile, "secret_key")
	if err != nil {
		return S3Credentials{}, err
	}
	return S3Credentials{AccessKey: ak, SecretKey: sk}, nil
}

// NewS3Store returns a Store rooted at the bucket (and prefix) of c.
func NewS3Store(c *S3Config, creds S3Credentials) (Store, error) {
	client, err := minio.New(c.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(creds.AccessKey, creds.SecretKey, ""),
		Secure: !c.Insecure,
		Region: c.Region,
		// A DRC that does not answer must be reported quickly; callers retry later.
		MaxRetries: 3,
		// Uploads carry a CRC32C trailer that the server checks, instead of signing every
		// chunk with SHA-256 over plain http: as safe against damage in transit, and much
		// cheaper for replication (which checks each object's SHA-256 itself).
		TrailingHeaders: true,
	})
	if err != nil {
		return nil, err
	}
	prefix := strings.Trim(c.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	scheme := "https"
	if c.Insecure {
		scheme = "http"
	}
	return &s3Store{client: client, bucket: c.Bucket, prefix: prefix, loc: fmt.Sprintf("%s://%s/%s", scheme, c.Endpoint, c.Bucket)}, nil
}

func (s *s3Store) Location() string { return s.loc + "/" + strings.TrimSuffix(s.prefix, "/") }

func (s *s3Store) Sub(folder string) Store {
	c := *s
	c.prefix = s.prefix + strings.Trim(folder, "/") + "/"
	return &c
}

func (s *s3Store) key(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name {
		return "", fmt.Errorf("invalid object name %q", name)
	}
	return s.prefix + name, nil
}

// s3Error maps minio-go errors to the Store's: NoSuchKey to ErrNotExist.
func s3Error(err error, name string) error {
	if err == nil {
		return nil
	}
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%s: %w", name, ErrNotExist)
	}
	return err
}

func (s *s3Store) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	key, err := s.key(name)
	if err != nil {
		return ObjectInfo{}, err
	}
	st, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s3Error(err, name)
	}
	return ObjectInfo{Name: name, Size: st.Size, ModTime: st.LastModified}, nil
}

func (s *s3Store) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Error(err, name)
	}
	// GetObject is lazy: ask now so that a missing object is reported here.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, s3Error(err, name)
	}
	return obj, nil
}

func (s *s3Store) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream",
		DisableContentSha256: true, // see TrailingHeaders
		PartSize:             putPartSize}
	if s.ret != nil && lockedName(name) {
		opts.Mode, opts.RetainUntilDate = s.ret.mode, s.ret.now().Add(s.ret.period).UTC()
	}
	_, err = s.client.PutObject(ctx, s.bucket, key, r, size, opts)
	return err
}

// putPartSize is the largest object sent in one request (larger ones go in parts of
// this size, each held in memory while it is sent): restic's pack files (16 MiB by
// default, a little more at times) go whole.
const putPartSize = 32 << 20

func (s *s3Store) Delete(ctx context.Context, name string) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	if s.ret != nil && lockedName(name) {
		return s.deleteLocked(ctx, key, name)
	}
	return s3Error(s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}), name)
}

// deleteLocked removes an object of an immutable DRC for good (its version, so that
// no delete marker is left and its space is freed), once its retention has expired; a
// locked object is left, with an error matching ErrRetained.
func (s *s3Store) deleteLocked(ctx context.Context, key, name string) error {
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if errors.Is(s3Error(err, name), ErrNotExist) {
			return nil
		}
		return s3Error(err, name)
	}
	if r := retentionOf(info); r.Until.After(s.ret.now()) {
		return fmt.Errorf("%s: %w until %s", name, ErrRetained, r.Until.UTC().Format(time.RFC3339))
	}
	err = s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{VersionID: info.VersionID})
	if minio.ToErrorResponse(err).Code == "AccessDenied" {
		return fmt.Errorf("%s: its retention has expired but %w (AccessDenied)", name, ErrDeleteDenied)
	}
	return s3Error(err, name)
}

func (s *s3Store) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's listing goroutine if fn fails
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if obj.Err != nil {
			return obj.Err
		}
		name := strings.TrimPrefix(obj.Key, s.prefix)
		if err := fn(ObjectInfo{Name: name, Size: obj.Size, ModTime: obj.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// checkBucket tells whether the bucket can be reached and used, as one line.
func (s *s3Store) checkBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return describeS3Error(err, s.loc)
	}
	if !ok {
		return fmt.Errorf("bucket %q does not exist at %s (create it, or set s3.create_bucket: true)", s.bucket, strings.TrimSuffix(s.loc, "/"+s.bucket))
	}
	return nil
}

func (s *s3Store) makeBucket(ctx context.Context, region string, locking bool) error {
	return s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region, ObjectLocking: locking})
}

// describeS3Error turns an S3 failure into one line that says what to check.
func describeS3Error(err error, loc string) error {
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken":
		return fmt.Errorf("access denied at %s (check access_key and secret_key): %s", loc, resp.Code)
	}
	var nerr net.Error
	var operr *net.OpError
	switch {
	case errors.As(err, &operr):
		return unreachablef("cannot reach %s: %v", loc, operr.Err)
	case errors.As(err, &nerr) && nerr.Timeout():
		return unreachablef("cannot reach %s: timed out", loc)
	case errors.Is(err, context.DeadlineExceeded):
		return unreachablef("cannot reach %s: no answer in time", loc)
	case IsUnreachable(err):
		return unreachablef("cannot reach %s: %s", loc, oneline.Of(err.Error()))
	}
	if resp.Code != "" {
		return fmt.Errorf("%s: %s: %s", loc, resp.Code, resp.Message)
	}
	return fmt.Errorf("%s: %v", loc, err)
}
