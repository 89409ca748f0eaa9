package drc

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotExist is returned by a Store for an object that does not exist.
var ErrNotExist = errors.New("object does not exist")

// ObjectInfo describes one object of a Store.
type ObjectInfo struct {
	Name    string // relative to the store's root, '/'-separated: "data/3f/3f9a..."
	Size    int64
	ModTime time.Time
}

// Store is the object storage of a DRC as cadang sees it: flat names below a root.
// Both kinds (a directory and an S3 bucket) pass the suite in drc/storetest.
type Store interface {
	// Stat returns the object's info, or an error matching ErrNotExist.
	Stat(ctx context.Context, name string) (ObjectInfo, error)
	// Get opens the object for reading, or returns an error matching ErrNotExist.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// Put stores size bytes from r under name. A reader may not see a partial object:
	// it sees the old one, none, or the whole new one.
	Put(ctx context.Context, name string, r io.Reader, size int64) error
	// Delete removes the object; deleting a missing object is not an error.
	Delete(ctx context.Context, name string) error
	// List calls fn for every object whose name starts with prefix, in no fixed order.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	// Sub returns the same store rooted at a folder below this root.
	Sub(folder string) Store
	// Location names the root for messages, without credentials.
	Location() string
}

// ReadObject reads a whole object.
func ReadObject(ctx context.Context, st Store, name string) ([]byte, error) {
	rc, err := st.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
