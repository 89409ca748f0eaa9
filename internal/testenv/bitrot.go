package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bitrot flips one byte of an object on the MinIO server's disk, as a failing drive
// would: in the object's part file (part.1) when it has one, else in the data kept
// inline in its xl.meta. MinIO then fails reads of the object (its bitrot checksums),
// which a client sees as an error or a short stream, not as other bytes. It returns
// the file it changed.
func (m *MinIO) Bitrot(t testing.TB, bucket, object string) string {
	t.Helper()
	root := filepath.Join(m.Dir, bucket, filepath.FromSlash(object))
	var target string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), "part.") && target == "" {
			target = p
		}
		return nil
	})
	if err != nil {
		t.Fatalf("bitrot: %s: %v", object, err)
	}
	if target == "" {
		target = filepath.Join(root, "xl.meta")
	}
	data, err := os.ReadFile(target)
	if err != nil {
		t.Fatalf("bitrot: %v", err)
	}
	data[len(data)*2/3] ^= 0x40
	if err := os.WriteFile(target, data, 0o600); err != nil {
		t.Fatalf("bitrot: %v", err)
	}
	return target
}
