package dbdump

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/cadang/cadang/targets"
)

// CheckFile says, without changing anything, whether RestoreFile would accept dest for
// the snapshot's dump named file: an absolute path, that is a missing or empty regular
// file (any regular file with force), or a folder where file is such a file.
func CheckFile(dest, file string, force bool) error {
	if !filepath.IsAbs(dest) {
		return fmt.Errorf("restore destination %q must be an absolute path or a URL", dest)
	}
	if st, err := os.Stat(dest); err == nil && st.IsDir() {
		dest = filepath.Join(dest, file)
	}
	st, err := os.Stat(dest)
	if err != nil {
		return nil
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("restore destination %s is not a regular file", dest)
	}
	if st.Size() > 0 && !force {
		return fmt.Errorf("restore destination %s: %w (choose another file or use --force)", dest, targets.ErrDestinationNotEmpty)
	}
	return nil
}

// CheckPath says, without changing anything, whether a restore to the path dest would
// be accepted: a folder for the archive of a whole server (all), else a file (CheckFile).
func CheckPath(dest, file string, all, force bool) error {
	if all {
		return targets.CheckDir(dest, force)
	}
	return CheckFile(dest, file, force)
}

// CheckWhole refuses a partial restore: a database dump is restored whole.
func CheckWhole(kind string, include []string) error {
	if len(include) > 0 {
		return fmt.Errorf("a %s target restores whole snapshots: include (%s) is for files targets", kind, include[0])
	}
	return nil
}

// CheckPasswordFile says whether the password file a restore destination names can be
// read (and holds a password), as the restore will read it.
func CheckPasswordFile(path string) error {
	if path == "" {
		return nil
	}
	_, err := ReadSecret(path)
	return err
}
