package dbdump

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Secret is a credential file that exists in memory only: an anonymous file
// (memfd_create(2), mode 0600) that the tools a process starts inherit as file
// descriptor 3 and open as SecretPath, as they would any file (libpq's PGPASSFILE,
// MariaDB's --defaults-extra-file). No file holding a password is written to a disk, so
// none can outlive its process, be it killed.
type Secret struct{ f *os.File }

// SecretPath is where a tool started with Secret.Files finds the secret.
const SecretPath = "/dev/fd/3"

// NewSecret returns a Secret holding content; name only labels it (in /proc).
func NewSecret(name string, content []byte) (*Secret, error) {
	fd, err := unix.MemfdCreate("cadang-"+name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("cannot create an in-memory credential file: %w", err)
	}
	f := os.NewFile(uintptr(fd), "cadang-"+name)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("in-memory credential file: %w", err)
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return nil, fmt.Errorf("in-memory credential file: %w", err)
	}
	return &Secret{f: f}, nil
}

// Files are the extra files of a tool's process (exec.Cmd.ExtraFiles): the secret as
// file descriptor 3, or none for a nil Secret.
func (s *Secret) Files() []*os.File {
	if s == nil {
		return nil
	}
	return []*os.File{s.f}
}

// Close releases the secret; the tools that still run keep their copy of the descriptor.
func (s *Secret) Close() error {
	if s == nil {
		return nil
	}
	return s.f.Close()
}
