package files

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cadang/cadang/targets"
)

// Config is the `files:` section of a target.
type Config struct {
	Paths         []string `yaml:"paths"`
	Exclude       []string `yaml:"exclude"`
	OneFileSystem bool     `yaml:"one_file_system"`
}

// Validate reports problems through report(field, message).
func (c *Config) Validate(report func(field, msg string)) {
	if len(c.Paths) == 0 {
		report("paths", "required: at least one absolute path")
	}
	for i, p := range c.Paths {
		if !filepath.IsAbs(p) {
			report(fmt.Sprintf("paths[%d]", i), fmt.Sprintf("%q must be an absolute path", p))
		}
	}
	for i, e := range c.Exclude {
		if e == "" {
			report(fmt.Sprintf("exclude[%d]", i), "empty pattern")
		} else if _, err := filepath.Match(e, ""); err != nil {
			report(fmt.Sprintf("exclude[%d]", i), fmt.Sprintf("%q: %v", e, err))
		}
	}
}

func init() {
	targets.Register(targets.Kind{
		Name:      "files",
		NewConfig: func() any { return &Config{} },
		New: func(s targets.Spec) (targets.Target, error) {
			return &Target{name: s.Name, cfg: *s.Config.(*Config)}, nil
		},
	})
}

// Target backs up paths of the local file system.
type Target struct {
	name string
	cfg  Config
}

var _ targets.Target = (*Target)(nil) // interface guard

// Backup stores the configured paths. Every path must exist: restic would skip a
// missing one and call the snapshot partial, but a missing path is a mistake (a moved
// application, an unmounted volume) that must fail loudly instead.
func (t *Target) Backup(ctx context.Context, w targets.Writer) (*targets.BackupResult, error) {
	var missing []string
	for _, p := range t.cfg.Paths {
		if _, err := os.Lstat(p); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("path %s does not exist", p)
			}
			missing = append(missing, err.Error())
		}
	}
	if len(missing) > 0 {
		return nil, errors.New(strings.Join(missing, "; "))
	}
	// The source as the backup starts: a sample a drill compares restored content with.
	m, err := t.manifest(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	err = w.Files(ctx, targets.FilesSpec{
		Paths:         t.cfg.Paths,
		Exclude:       t.cfg.Exclude,
		OneFileSystem: t.cfg.OneFileSystem,
	})
	if err != nil {
		return nil, err
	}
	return &targets.BackupResult{Manifest: raw}, nil
}

// Restore writes the snapshot under req.To (a directory).
func (t *Target) Restore(ctx context.Context, r targets.Reader, req targets.RestoreRequest) error {
	if len(req.Options) > 0 {
		return fmt.Errorf("files targets take no restore options")
	}
	if err := targets.PrepareDir(req.To, req.Force); err != nil {
		return err
	}
	return r.RestoreTo(ctx, req.To, nil)
}
