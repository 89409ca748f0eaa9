package drc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Site is one DRC opened for use: its config, its object store, and what restic needs
// to reach it.
type Site struct {
	Config
	Store Store // rooted at the DRC's base (bucket/prefix or directory)

	restic   *Restic
	keysDir  string   // <state_dir>/keys/<drc>: one password file per agency
	cacheDir string   // <state_dir>/cache/<drc>: restic's cache for this DRC
	credEnv  []string // the store's credentials for restic
	s3       *s3Store
}

// CheckTimeout bounds a reachability check of a DRC.
const CheckTimeout = 15 * time.Second

// Open prepares a DRC for use without contacting it. Its key files are read now, so a
// missing one is reported before any run starts.
func Open(cfg Config, r *Restic, stateDir string) (*Site, error) {
	s := &Site{
		Config:   cfg,
		restic:   r,
		keysDir:  filepath.Join(stateDir, "keys", cfg.Name),
		cacheDir: filepath.Join(stateDir, "cache", cfg.Name),
	}
	if cfg.S3 == nil {
		s.Store = NewDirStore(cfg.Path)
		return s, nil
	}
	creds, err := cfg.S3.ReadCredentials()
	if err != nil {
		return nil, fmt.Errorf("drc %q: %w", cfg.Name, err)
	}
	st, err := NewS3Store(cfg.S3, creds)
	if err != nil {
		return nil, fmt.Errorf("drc %q: %w", cfg.Name, err)
	}
	s.s3 = st.(*s3Store)
	s.s3.ret = cfg.retention(time.Now)
	s.Store = s.s3
	s.credEnv = []string{"AWS_ACCESS_KEY_ID=" + creds.AccessKey, "AWS_SECRET_ACCESS_KEY=" + creds.SecretKey}
	if cfg.S3.Region != "" {
		s.credEnv = append(s.credEnv, "AWS_DEFAULT_REGION="+cfg.S3.Region)
	}
	return s, nil
}

// Repo returns agency's repository at this DRC.
func (s *Site) Repo(agency string) *Repo {
	var url string
	if c := s.S3; c != nil {
		scheme := "https"
		if c.Insecure {
			scheme = "http"
		}
		parts := []string{c.Bucket}
		if p := strings.Trim(c.Prefix, "/"); p != "" {
			parts = append(parts, p)
		}
		url = fmt.Sprintf("s3:%s://%s/%s", scheme, c.Endpoint, strings.Join(append(parts, agency), "/"))
	} else {
		url = filepath.Join(s.Path, agency)
	}
	return &Repo{
		DRC:          s.Name,
		Agency:       agency,
		URL:          url,
		Store:        s.Store.Sub(agency),
		site:         s,
		passwordFile: s.passwordFile(agency),
	}
}

// Check tells whether the DRC can be used now; its error is one line that names the
// DRC and says what is wrong.
func (s *Site) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	var err error
	if s.s3 != nil {
		err = s.s3.checkBucket(ctx)
	} else {
		err = checkDir(s.Path)
	}
	if err != nil {
		return fmt.Errorf("drc %q: %w", s.Name, err)
	}
	return nil
}

// MissingDirError is a path DRC whose directory does not exist (yet).
type MissingDirError struct{ Dir string }

func (e *MissingDirError) Error() string {
	return fmt.Sprintf("directory %s does not exist (run `cadang init`, or mount it)", e.Dir)
}

func (e *MissingDirError) Unwrap() error { return fs.ErrNotExist }

func checkDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &MissingDirError{Dir: dir}
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	probe, err := os.CreateTemp(dir, tmpPrefix+"probe-*")
	if err != nil {
		return fmt.Errorf("cannot write to %s: %w", dir, errors.Unwrap(err))
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// prepare makes the DRC's base exist (a directory, or a bucket if create_bucket is set).
func (s *Site) prepare(ctx context.Context) error {
	if s.s3 == nil {
		if err := os.MkdirAll(s.Path, 0o700); err != nil {
			return fmt.Errorf("drc %q: %w", s.Name, err)
		}
		return s.Check(ctx)
	}
	err := s.Check(ctx)
	if err != nil && s.S3.CreateBucket && strings.Contains(err.Error(), "does not exist") {
		// An immutable DRC's bucket is created with object lock (which turns versioning
		// on): it cannot be added later.
		if err := s.s3.makeBucket(ctx, s.S3.Region, s.Immutable()); err != nil {
			return fmt.Errorf("drc %q: cannot create bucket %q: %w", s.Name, s.S3.Bucket, err)
		}
		err = s.Check(ctx)
	}
	if err != nil {
		return err
	}
	// Never a silent downgrade: an immutable DRC whose bucket cannot lock is refused.
	return s.CheckLock(ctx)
}

func (s *Site) passwordFile(agency string) string {
	return filepath.Join(s.keysDir, agency+".key")
}

// ensurePassword creates agency's password file at this DRC if it does not exist: 32
// random bytes, base64, mode 0600, in a 0700 folder. An existing file is never replaced.
func (s *Site) ensurePassword(agency string) (string, error) {
	path := s.passwordFile(agency)
	if err := os.MkdirAll(s.keysDir, 0o700); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return path, nil
	}
	if err != nil {
		return "", err
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		f.Close()
		return "", err
	}
	_, err = f.WriteString(base64.RawURLEncoding.EncodeToString(buf) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(s.keysDir)
	}
	if err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

// hasPassword reports whether agency's password file exists at this DRC.
func (s *Site) hasPassword(agency string) bool {
	_, err := os.Stat(s.passwordFile(agency))
	return err == nil
}
