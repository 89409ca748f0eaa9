package targets

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrDestinationNotEmpty is returned when a restore would write into a place that
// already holds data and the request does not say Force.
var ErrDestinationNotEmpty = errors.New("destination exists and is not empty")

// PrepareDir makes dir ready to receive a restore: it creates it (0700) if missing and
// refuses it if it holds anything, unless force is set.
func PrepareDir(dir string, force bool) error {
	if err := CheckDir(dir, force); err != nil {
		return err
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o700)
	}
	return nil
}

// CheckDir says, without changing anything, whether PrepareDir would accept dir: an
// absolute path that does not exist, or an empty directory (any directory with force).
func CheckDir(dir string, force bool) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("restore destination %q must be an absolute path", dir)
	}
	f, err := os.Open(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("restore destination: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("restore destination: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("restore destination %s is not a directory", dir)
	}
	if _, err := f.Readdirnames(1); err == io.EOF || force {
		return nil
	}
	return fmt.Errorf("restore destination %s: %w (choose an empty directory or use --force)", dir, ErrDestinationNotEmpty)
}
