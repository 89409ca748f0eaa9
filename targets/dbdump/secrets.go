package dbdump

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Private is a private folder (0700) for the files of one backup or restore (the job
// and result files of a dump, MariaDB's HOME), and the secrets (Secret) the run holds.
// Close removes the folder with everything in it and releases the secrets.
type Private struct {
	Dir     string
	secrets []*Secret
}

// Secret returns a new Secret (NewSecret) that Close releases.
func (p *Private) Secret(name string, content []byte) (*Secret, error) {
	s, err := NewSecret(name, content)
	if err != nil {
		return nil, err
	}
	p.secrets = append(p.secrets, s)
	return s, nil
}

// NewPrivate creates a private folder under parent ("" for the system's temporary folder).
func NewPrivate(parent string) (*Private, error) {
	dir, err := os.MkdirTemp(parent, "cadang-db-")
	if err != nil {
		return nil, fmt.Errorf("cannot create a private folder for credentials: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Private{Dir: dir}, nil
}

// WriteFile writes a file readable by its owner only and returns its path.
func (p *Private) WriteFile(name string, data []byte) (string, error) {
	path := filepath.Join(p.Dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

// Close removes the folder and releases the secrets.
func (p *Private) Close() error {
	if p == nil {
		return nil
	}
	for _, s := range p.secrets {
		s.Close()
	}
	p.secrets = nil
	return os.RemoveAll(p.Dir)
}

// ReadSecret reads a password from the first line of a file (a trailing newline is not
// part of it). The error names the file, never its content.
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("password_file %s does not exist", path)
		}
		return "", fmt.Errorf("password_file: %w", err)
	}
	s, _, _ := strings.Cut(string(b), "\n")
	s = strings.TrimSuffix(s, "\r")
	if s == "" {
		return "", fmt.Errorf("password_file %s is empty", path)
	}
	return s, nil
}

// BaseEnv is the environment the database tools run with: only what a tool needs to
// find itself and format text (never the daemon's PG*, MYSQL_* or RESTIC_* variables),
// plus extra.
func BaseEnv(extra ...string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, extra...)
}
