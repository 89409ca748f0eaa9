package dbdump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/cadang/cadang/targets"
)

// SnapshotFile returns the one file a database snapshot holds (its path in the snapshot).
func SnapshotFile(r targets.Reader) (string, error) {
	s := r.Snapshot()
	if len(s.Paths) != 1 || !strings.HasPrefix(s.Paths[0], "/") {
		return "", fmt.Errorf("snapshot %.8s does not hold one dump (paths %v)", s.ID, s.Paths)
	}
	return s.Paths[0], nil
}

// Tag returns the (unescaped) value of a key=value tag of the snapshot.
func Tag(r targets.Reader, key string) string {
	for _, t := range r.Snapshot().Tags {
		if k, v, ok := strings.Cut(t, "="); ok && k == key {
			if u, err := url.PathUnescape(v); err == nil {
				return u
			}
			return v
		}
	}
	return ""
}

// TagValue escapes a tag value: restic splits tags at commas, and names may hold any
// character.
func TagValue(key, value string) string { return key + "=" + url.PathEscape(value) }

// IsURL reports whether a restore destination is a URL rather than a path.
func IsURL(to string) bool { return strings.Contains(to, "://") }

// RestoreFile writes the dump src of the snapshot to the file dest, or into dest if it
// is a folder. An existing non-empty file is refused unless force. The file appears
// only when complete.
func RestoreFile(ctx context.Context, r targets.Reader, src, dest string, force bool) error {
	if err := CheckFile(dest, filepath.Base(src), force); err != nil {
		return err
	}
	if st, err := os.Stat(dest); err == nil && st.IsDir() {
		dest = filepath.Join(dest, filepath.Base(src))
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
		return fmt.Errorf("restore destination: %w", err)
	}
	rc, err := r.Open(ctx, src)
	if err != nil {
		return err
	}
	defer rc.Close()
	return writeAtomically(dest, rc)
}

func writeAtomically(dest string, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".partial-")
	if err != nil {
		return fmt.Errorf("restore destination: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}

// RestoreArchiveDir unpacks the archive src of the snapshot into the folder dir (created
// if missing; refused if it holds anything, unless force): each dump whole, its parts
// joined.
func RestoreArchiveDir(ctx context.Context, r targets.Reader, src, dir string, force bool) error {
	if err := targets.PrepareDir(dir, force); err != nil {
		return err
	}
	rc, err := r.Open(ctx, src)
	if err != nil {
		return err
	}
	defer rc.Close()
	ar := NewArchiveReader(rc)
	for {
		name, content, err := ar.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		if name != filepath.Base(name) || name == ".." || name == "." {
			return fmt.Errorf("archive entry %q is not a plain file name", name)
		}
		if err := writeAtomically(filepath.Join(dir, name), content); err != nil {
			return err
		}
	}
}
