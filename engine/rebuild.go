package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
)

// ErrRebuildRefused is a `cadang state rebuild` that cannot start as asked: an unknown
// DRC, or a state dir that holds a catalog already (without Force).
var ErrRebuildRefused = errors.New("state rebuild refused")

// refusal is an error that is ErrRebuildRefused and says why, in one line.
type refusal struct{ error }

func (refusal) Is(target error) bool { return target == ErrRebuildRefused }

func refuse(format string, args ...any) error { return refusal{fmt.Errorf(format, args...)} }

// RebuildOptions say what `cadang state rebuild` rebuilds from.
type RebuildOptions struct {
	FromDRC string // the DRC whose repositories are read
	KeysDir string // laid out as state_dir/keys: <dir>/<drc>/<agency>.key
	Force   bool   // move an existing catalog aside instead of refusing
}

// RebuildAgency is what the rebuild found of one agency's repository at the DRC.
type RebuildAgency struct {
	Agency  string `json:"agency"`
	Key     bool   `json:"key"`  // its key for the DRC was in the keys folder
	Read    bool   `json:"read"` // its repository was read
	Found   int    `json:"found"`
	Good    int    `json:"good"`
	Partial int    `json:"partial"`
	Bad     int    `json:"bad"`
	Skipped int    `json:"skipped"` // snapshots without cadang's tags
	Error   string `json:"error,omitempty"`
}

// RebuildResult is the outcome of a rebuild.
type RebuildResult struct {
	DRC        string          `json:"drc"`
	StateDir   string          `json:"state_dir"`
	Catalog    string          `json:"catalog"`
	MovedAside string          `json:"moved_aside,omitempty"` // where the old catalog went (Force)
	KeysCopied int             `json:"keys_copied"`
	Agencies   []RebuildAgency `json:"agencies"`
}

// OK tells whether every agency that had a key was read.
func (r *RebuildResult) OK() bool {
	for _, a := range r.Agencies {
		if a.Key && !a.Read {
			return false
		}
	}
	return true
}

// Rebuild builds a new state dir for cfg from the agencies' keys alone, when the site
// and its state dir are lost and no state bundle exists: it copies the keys of the
// config's DRCs found in opts.KeysDir into state_dir/keys, reads every agency's
// repository at opts.FromDRC, and records each snapshot cadang wrote (by its tags:
// target, agency, kind, run, status) in a new catalog, so that a daemon started on the
// state dir knows which snapshots are good. It refuses a state dir that holds a
// catalog unless opts.Force, which moves the old catalog aside (it is never deleted).
//
// The error is for a rebuild that could not be done; an agency whose repository could
// not be read is in the result (see RebuildResult.OK), its key and password never.
func Rebuild(ctx context.Context, cfg *config.Config, opts RebuildOptions, log *slog.Logger) (*RebuildResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var names []string
	found := false
	for _, d := range cfg.DRCs {
		names = append(names, d.Name)
		found = found || d.Name == opts.FromDRC
	}
	if !found {
		return nil, refuse("unknown drc %q (the config has %s)", opts.FromDRC, strings.Join(names, ", "))
	}
	if opts.KeysDir == "" {
		return nil, refuse("give the folder of the keys (--keys DIR)")
	}
	if st, err := os.Stat(opts.KeysDir); err != nil || !st.IsDir() {
		return nil, refuse("keys folder %s is not a readable folder", opts.KeysDir)
	}
	res := &RebuildResult{DRC: opts.FromDRC, StateDir: cfg.StateDir, Catalog: filepath.Join(cfg.StateDir, "catalog.db")}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir %s: %w", cfg.StateDir, err)
	}
	stamp := time.Now().UTC().Format("20060102T150405Z")
	if _, err := os.Stat(res.Catalog); err == nil {
		if !opts.Force {
			return nil, refuse("state dir %s holds a catalog already (%s); use --force to move it aside", cfg.StateDir, res.Catalog)
		}
		// Not under a running daemon: it would go on writing to the moved file.
		old, err := catalog.Open(res.Catalog, time.Second)
		if errors.Is(err, catalog.ErrInUse) {
			return nil, refuse("%w (%s): stop it first", ErrAlreadyRunning, cfg.StateDir)
		}
		if err == nil {
			old.Close()
		}
		aside, err := asideName(res.Catalog + ".before-rebuild-" + stamp)
		if err == nil {
			err = os.Rename(res.Catalog, aside)
		}
		if err != nil {
			return nil, fmt.Errorf("catalog %s: cannot move it aside: %w", res.Catalog, err)
		}
		res.MovedAside = aside
		log.Info("moved the old catalog aside", "catalog", aside)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("catalog %s: %w", res.Catalog, err)
	}

	// The keys: every agency's key for every DRC of the config that the folder has.
	keysDir := filepath.Join(cfg.StateDir, "keys")
	byAgency := map[string]*RebuildAgency{}
	for _, a := range cfg.Agencies {
		res.Agencies = append(res.Agencies, RebuildAgency{Agency: a.ID})
	}
	for i := range res.Agencies {
		byAgency[res.Agencies[i].Agency] = &res.Agencies[i]
	}
	for _, d := range cfg.DRCs {
		for _, a := range cfg.Agencies {
			ra := byAgency[a.ID]
			src := filepath.Join(opts.KeysDir, d.Name, a.ID+".key")
			copied, err := copyKey(src, filepath.Join(keysDir, d.Name, a.ID+".key"), stamp)
			switch {
			case err != nil && d.Name == opts.FromDRC:
				ra.Error = err.Error()
			case err != nil:
				log.Warn("key not copied", "drc", d.Name, "agency", a.ID, "err", err)
			case !copied && d.Name == opts.FromDRC:
				ra.Error = fmt.Sprintf("no key for agency %q at drc %q (%s)", a.ID, d.Name, src)
			case copied:
				res.KeysCopied++
				ra.Key = ra.Key || d.Name == opts.FromDRC
			}
		}
	}

	// The repositories.
	_, sites, err := Sites(cfg, log)
	if err != nil {
		return nil, err
	}
	var site *drc.Site
	for _, s := range sites {
		if s.Name == opts.FromDRC {
			site = s
		}
	}
	var snaps []catalog.Snapshot
	for i := range res.Agencies {
		ra := &res.Agencies[i]
		if !ra.Key {
			continue
		}
		list, err := site.Repo(ra.Agency).Snapshots(ctx)
		if err != nil {
			ra.Error = fmt.Sprintf("agency %q: %v", ra.Agency, err) // restic's error names the DRC
			continue
		}
		ra.Read = true
		for _, s := range list {
			ra.Found++
			rec, ok := rebuiltSnapshot(s, ra.Agency, opts.FromDRC)
			if !ok {
				ra.Skipped++
				continue
			}
			switch rec.Status {
			case catalog.SnapshotGood:
				ra.Good++
			case catalog.SnapshotPartial:
				ra.Partial++
			default:
				ra.Bad++
			}
			snaps = append(snaps, rec)
		}
		log.Info("repository read", "drc", opts.FromDRC, "agency", ra.Agency, "snapshots", ra.Found, "skipped", ra.Skipped)
	}

	// The new catalog, created as the daemon creates it, then filled; it takes the
	// catalog's name only once whole, so that a rebuild that stops half-way leaves no
	// catalog that looks complete.
	tmp := res.Catalog + ".rebuilding"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("catalog %s: %w", tmp, err)
	}
	cat, err := catalog.Open(tmp, time.Second)
	if err != nil {
		return nil, err
	}
	if err := cat.RecordRebuilt(snaps); err != nil {
		cat.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("catalog %s: %w", res.Catalog, err)
	}
	if err := cat.Close(); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("catalog %s: %w", res.Catalog, err)
	}
	if err := os.Rename(tmp, res.Catalog); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", res.Catalog, err)
	}
	return res, nil
}

// rebuiltSnapshot is the catalog record of a snapshot of agency's repository at the
// DRC, from its tags; false when cadang did not write it (no cadang tag, no target, or
// the agency of another repository).
func rebuiltSnapshot(s drc.Snapshot, agency, drcName string) (catalog.Snapshot, bool) {
	target := s.Tag("target")
	if !slices.Contains(s.Tags, "cadang") || target == "" || s.Tag("agency") != agency {
		return catalog.Snapshot{}, false
	}
	status := s.Tag(catalog.StatusTag)
	switch status {
	case "":
		status = catalog.SnapshotGood
	case catalog.SnapshotGood, catalog.SnapshotPartial, catalog.SnapshotBad:
	default:
		status = catalog.SnapshotBad // a state this cadang does not know is not good
	}
	rec := catalog.Snapshot{ID: s.ID, Target: target, Agency: agency, Kind: s.Tag("kind"), Time: s.Time,
		Status: status, DRC: drcName, Sites: map[string]time.Time{drcName: s.Time}}
	if n, err := strconv.ParseUint(s.Tag("run"), 10, 64); err == nil {
		rec.RunID = n
	}
	if s.Summary != nil {
		rec.Bytes = s.Summary.TotalBytesProcessed
	}
	return rec, true
}

// copyKey copies a password file into the state dir (mode 0600 in 0700 folders). It
// reports false without error when src does not exist. A different key already at dst
// is moved aside first, never overwritten. The key's content is never in an error.
func copyKey(src, dst, stamp string) (bool, error) {
	data, err := os.ReadFile(src)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("key file %s: cannot read it: %w", src, errors.Unwrap(err))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return false, fmt.Errorf("key file %s is empty", src)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return false, fmt.Errorf("key file %s: %w", dst, err)
	}
	// keys/ and keys/<drc>/ are the operator's alone, whatever the umask made them.
	for _, d := range []string{filepath.Dir(filepath.Dir(dst)), filepath.Dir(dst)} {
		if err := os.Chmod(d, 0o700); err != nil {
			return false, fmt.Errorf("key folder %s: %w", d, err)
		}
	}
	if old, err := os.ReadFile(dst); err == nil {
		if bytes.Equal(old, data) {
			return true, os.Chmod(dst, 0o600)
		}
		aside, err := asideName(dst + ".before-rebuild-" + stamp)
		if err == nil {
			err = os.Rename(dst, aside)
		}
		if err != nil {
			return false, fmt.Errorf("key file %s: cannot move it aside: %w", dst, err)
		}
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return false, fmt.Errorf("key file %s: %w", dst, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil { // whatever the umask
		os.Remove(tmp)
		return false, fmt.Errorf("key file %s: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("key file %s: %w", dst, err)
	}
	return true, nil
}

// asideName is name, or name.N for the first N that does not exist: what is moved
// aside never replaces what an earlier rebuild moved aside.
func asideName(name string) (string, error) {
	for i := 1; ; i++ {
		p := name
		if i > 1 {
			p = fmt.Sprintf("%s.%d", name, i)
		}
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return p, nil
		} else if err != nil {
			return "", err
		}
	}
}
