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
	// AllowEmpty lets a configured path hold no file (a spool folder that may be
	// empty). By default a path with no file fails the backup: it is most often an
	// unmounted volume or a moved application, and a snapshot of nothing is not good.
	AllowEmpty bool `yaml:"allow_empty"`
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
//
// A configured path that is a symbolic link is followed: restic would store the link
// itself and nothing of what it points to ("0 B processed"), so cadang backs up the
// path the link resolves to now (stored under that path, and said in the run's notes;
// a link such as /srv/app/current that moves from one release to the next is backed up
// as the release it names at each backup). Links inside the tree stay links, as restic
// stores them.
//
// A path that holds no regular file fails the backup unless allow_empty is set, and so
// does a backup whose snapshot restic counts no file in while the source had some.
func (t *Target) Backup(ctx context.Context, w targets.Writer) (*targets.BackupResult, error) {
	paths, notes, err := t.resolvePaths()
	if err != nil {
		return nil, err
	}
	// The source as the backup starts: a sample a drill compares restored content with.
	m, err := t.manifest(ctx, paths)
	if err != nil {
		return nil, err
	}
	for _, r := range m.Roots {
		// Nothing read and an error: not an empty folder but one cadang may not read
		// (under the packaged unit, the user cadang without CAP_DAC_READ_SEARCH).
		if r.Files == 0 && r.unreadable != nil {
			return nil, fmt.Errorf("path %s cannot be read: %v (give the user cadang runs as read access, or see CAP_DAC_READ_SEARCH in docs/install.md)", r.Path, r.unreadable)
		}
	}
	if !t.cfg.AllowEmpty {
		var empty []string
		for _, r := range m.Roots {
			if r.Files == 0 {
				empty = append(empty, r.Path)
			}
		}
		if len(empty) > 0 {
			return nil, fmt.Errorf("path %s holds no file (an unmounted volume, a moved application?): a backup of it would store nothing; set files.allow_empty: true if it may be empty",
				strings.Join(empty, ", "))
		}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	err = w.Files(ctx, targets.FilesSpec{
		Paths:         paths,
		Exclude:       t.cfg.Exclude,
		OneFileSystem: t.cfg.OneFileSystem,
	})
	if err != nil {
		return nil, err
	}
	if st, ok := w.(targets.Stored); ok {
		if n, wrote := st.StoredFiles(); wrote && n == 0 && m.Files > 0 {
			return &targets.BackupResult{Manifest: raw, Notes: notes}, fmt.Errorf("restic stored no file of %s while the source held %d: the snapshot is not good",
				strings.Join(paths, ", "), m.Files)
		}
	}
	return &targets.BackupResult{Manifest: raw, Notes: notes}, nil
}

// resolvePaths checks that every configured path exists and follows those that are
// symbolic links (see Backup). It returns the paths to back up and a note for each link.
func (t *Target) resolvePaths() (paths, notes []string, err error) {
	var problems []string
	for _, p := range t.cfg.Paths {
		fi, err := os.Lstat(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("path %s does not exist", p)
			}
			problems = append(problems, err.Error())
			continue
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			paths = append(paths, p)
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			dest, _ := os.Readlink(p)
			problems = append(problems, fmt.Sprintf("path %s is a symbolic link to %s, which cannot be followed: %v", p, dest, errors.Unwrap(err)))
			continue
		}
		paths = append(paths, real)
		notes = append(notes, fmt.Sprintf("path %s is a symbolic link: backed up what it points to, %s (stored under that path)", p, real))
	}
	if len(problems) > 0 {
		return nil, nil, errors.New(strings.Join(problems, "; "))
	}
	return paths, notes, nil
}

// CheckRestore implements targets.RestoreChecker.
func (t *Target) CheckRestore(req targets.RestoreRequest) error {
	if len(req.Options) > 0 {
		return fmt.Errorf("files targets take no restore options")
	}
	for _, p := range req.Include {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("include %q must be an absolute path of the snapshot (see cadang ls)", p)
		}
	}
	return targets.CheckDir(req.To, req.Force)
}

// RestoresPart implements targets.PartRestorer: restic --include.
func (t *Target) RestoresPart() {}

// Interface guards
var (
	_ targets.RestoreChecker = (*Target)(nil)
	_ targets.PartRestorer   = (*Target)(nil)
)

// Restore writes the snapshot under req.To (a directory).
func (t *Target) Restore(ctx context.Context, r targets.Reader, req targets.RestoreRequest) error {
	if len(req.Options) > 0 {
		return fmt.Errorf("files targets take no restore options")
	}
	if err := targets.PrepareDir(req.To, req.Force); err != nil {
		return err
	}
	return r.RestoreTo(ctx, req.To, req.Include)
}
