package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/escrow"
	"github.com/cadang/cadang/engine/export"
	"github.com/cadang/cadang/internal/oneline"
)

// State protection (state_protection): the daemon's own state (a consistent copy of the
// catalog, the configuration file, the repositories' key files) as one bundle
// encrypted to the escrow recipients (engine/escrow), written into the reserved area
// of EVERY DRC (_state/) soon after every change that matters and at least every
// interval; the last keep_last and the newest of each of the last keep_daily days are
// kept. A DRC the bundle could not be written to raises an alarm (kind state-bundle)
// until a bundle reaches it. `cadang state restore` (RestoreState) rebuilds a state dir
// from a bundle on a new machine; docs/site-loss.md is the procedure.

// AlarmStateBundle is the alarm of a DRC the state bundle could not be written to.
const AlarmStateBundle = "state-bundle"

// stateSettle is how long after a change the bundle waits for others to follow.
const stateSettle = 5 * time.Second

// stateWrite is the last bundle written (or not) to one DRC.
type stateWrite struct {
	Time   time.Time
	Bundle string
	Err    string
}

// stateChanged asks for a bundle soon.
func (d *Daemon) stateChanged() {
	select {
	case d.stateWake <- struct{}{}:
	default:
	}
}

// protectLoop writes a bundle at start, after changes (settled), and every interval,
// until ctx ends. It does nothing while state_protection has no recipients.
func (d *Daemon) protectLoop(ctx context.Context) {
	d.stateChanged() // one at start
	for {
		sp := d.conf().cfg.StateProtection
		timer := time.NewTimer(sp.Interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-d.stateWake:
			timer.Stop()
			select { // let the changes of a burst of runs settle into one bundle
			case <-ctx.Done():
				return
			case <-time.After(stateSettle):
			}
		}
		if !d.conf().cfg.StateProtection.Enabled() {
			continue
		}
		if err := d.protectState(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("state bundle not written", "err", err)
		}
	}
}

// protectState writes one bundle to every DRC, applies the retention there, and
// raises or resolves each DRC's alarm.
func (d *Daemon) protectState(ctx context.Context) error {
	_, err := d.protectStateNamed(ctx)
	return err
}

// protectStateNamed is protectState, which also says the bundle's name.
func (d *Daemon) protectStateNamed(ctx context.Context) (string, error) {
	cf := d.conf()
	sp := cf.cfg.StateProtection
	recipients, err := export.ParseRecipients(sp.EscrowRecipients)
	if err != nil {
		return "", err
	}
	now := d.now()
	dir := filepath.Join(cf.cfg.StateDir, "scratch", "state-bundle")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	f, err := os.CreateTemp(dir, "bundle-*")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sources, err := d.stateSources()
	if err != nil {
		return "", err
	}
	host, _ := os.Hostname()
	schema, _ := d.cat.Schema()
	started := time.Now()
	m, sum, err := escrow.Write(ctx, sources, escrow.Manifest{Version: Version, Created: now, Host: host, Site: cf.cfg.Daemon.Site,
		ConfigFile: cf.cfg.File, CatalogSchema: schema}, recipients, f)
	if err != nil {
		return "", err
	}
	name := escrow.BundleName(now)
	side, err := json.MarshalIndent(escrow.Sidecar{Bundle: name, Created: now, Bytes: sum.Bytes, SHA256: sum.SHA256,
		Host: host, Version: Version, Files: len(m.Files)}, "", "  ")
	if err != nil {
		return "", err
	}
	var failed []string
	for _, site := range d.sites {
		err := d.putStateBundle(ctx, site, f, name, sum.Bytes, side)
		d.stateMu.Lock()
		w := stateWrite{Time: now, Bundle: name}
		if err != nil {
			w.Err = oneline.Error(err)
			if prev, ok := d.stateLast[site.Name]; ok && prev.Err == "" {
				w.Bundle = prev.Bundle // the newest there is still the previous one
			} else {
				w.Bundle = ""
			}
		}
		d.stateLast[site.Name] = w
		d.stateMu.Unlock()
		if err != nil {
			failed = append(failed, site.Name)
			d.log.Error("state bundle not written to a DRC", "drc", site.Name, "err", err)
			if _, aerr := d.cat.RaiseAlarm(catalog.Alarm{Kind: AlarmStateBundle, DRC: site.Name,
				Message: "cadang's state bundle could not be written: " + oneline.Error(err)}, now); aerr != nil {
				d.log.Error("catalog: alarm", "err", aerr)
			}
			continue
		}
		if _, err := d.cat.ResolveAlarms("", []string{site.Name}, func(a catalog.Alarm) bool { return a.Kind != AlarmStateBundle }, now); err != nil {
			d.log.Error("catalog: alarm", "err", err)
		}
		d.pruneStateBundles(ctx, site, now)
	}
	d.log.Info("state bundle written", "bundle", name, "bytes", sum.Bytes, "files", len(m.Files),
		"took", time.Since(started).Round(time.Millisecond), "drcs", len(d.sites)-len(failed), "failed", strings.Join(failed, ","))
	if len(failed) > 0 {
		return name, fmt.Errorf("not written to drc %s", strings.Join(failed, ", "))
	}
	return name, nil
}

// stateSources are the files of a bundle: the catalog (one read transaction), the
// configuration file and every key file.
func (d *Daemon) stateSources() ([]escrow.Source, error) {
	cf := d.conf()
	out := []escrow.Source{{Name: escrow.CatalogName, Mode: 0o600, Emit: func(start func(int64) (io.Writer, error)) error {
		return d.cat.Copy(func(size int64, writeTo func(io.Writer) (int64, error)) error {
			w, err := start(size)
			if err != nil {
				return err
			}
			_, err = writeTo(w)
			return err
		})
	}}}
	if cf.cfg.File != "" {
		out = append(out, escrow.FileSource(escrow.ConfigName, cf.cfg.File))
	}
	keys := filepath.Join(cf.cfg.StateDir, "keys")
	err := filepath.WalkDir(keys, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !e.Type().IsRegular() || !strings.HasSuffix(p, ".key") {
			return nil
		}
		rel, err := filepath.Rel(keys, p)
		if err != nil {
			return err
		}
		out = append(out, escrow.FileSource(escrow.KeysDir+filepath.ToSlash(rel), p))
		return nil
	})
	return out, err
}

// putStateBundle stores the bundle (f, size bytes) and its sidecar at site, and reads
// the bundle's size back.
func (d *Daemon) putStateBundle(ctx context.Context, site *drc.Site, f *os.File, name string, size int64, side []byte) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := site.Store.Put(ctx, name, f, size); err != nil {
		return err
	}
	if info, err := site.Store.Stat(ctx, name); err != nil || info.Size != size {
		return fmt.Errorf("the bundle stored is not whole (%d of %d bytes): %v", info.Size, size, err)
	}
	return site.Store.Put(ctx, name+".json", strings.NewReader(string(side)), int64(len(side)))
}

// stateBundles lists the bundles at site, newest first.
func stateBundles(ctx context.Context, site *drc.Site) ([]time.Time, error) {
	var out []time.Time
	err := site.Store.List(ctx, escrow.Prefix, func(o drc.ObjectInfo) error {
		if t, ok := escrow.ParseName(o.Name); ok {
			out = append(out, t)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].After(out[j]) })
	return out, err
}

// pruneStateBundles applies the retention at site.
func (d *Daemon) pruneStateBundles(ctx context.Context, site *drc.Site, now time.Time) {
	cf := d.conf()
	sp := cf.cfg.StateProtection
	times, err := stateBundles(ctx, site)
	if err != nil {
		d.log.Warn("state bundles: cannot list", "drc", site.Name, "err", err)
		return
	}
	for _, t := range escrow.Retention(times, now, sp.KeepLast, sp.KeepDaily, cf.sched.Loc()) {
		name := escrow.BundleName(t)
		for _, obj := range []string{name, name + ".json"} {
			if err := site.Store.Delete(ctx, obj); errors.Is(err, drc.ErrRetained) {
				continue // an immutable DRC: it goes once its retention has expired
			} else if err != nil {
				d.log.Warn("state bundles: cannot delete an old one", "drc", site.Name, "bundle", obj, "err", err)
			}
		}
	}
}

// StateStatus says, per DRC, the newest state bundle there, its age, and whether its
// bytes are whole (their SHA-256 is the sidecar's; opening it needs an escrow identity,
// which the daemon does not have).
func (s service) StateStatus(ctx context.Context) (api.StateStatus, error) {
	d := s.d
	cf := d.conf()
	sp := cf.cfg.StateProtection
	out := api.StateStatus{Enabled: sp.Enabled(), Interval: sp.Interval.String(), Recipients: len(sp.EscrowRecipients), DRCs: []api.StateDRC{}}
	now := d.now()
	for _, site := range d.sites {
		st := api.StateDRC{DRC: site.Name}
		d.stateMu.Lock()
		if w, ok := d.stateLast[site.Name]; ok && w.Err != "" {
			st.LastError, st.LastErrorTime = w.Err, w.Time
		}
		d.stateMu.Unlock()
		times, err := stateBundles(ctx, site)
		if err != nil {
			st.Problem = oneline.Error(err)
			out.DRCs = append(out.DRCs, st)
			continue
		}
		st.Bundles = len(times)
		if len(times) > 0 {
			name := escrow.BundleName(times[0])
			st.Newest, st.Time = name, times[0]
			st.Age = now.Sub(times[0]).Round(time.Second).String()
			st.Bytes, st.Whole, st.Problem = checkStateBundle(ctx, site, name)
		}
		out.DRCs = append(out.DRCs, st)
	}
	return out, nil
}

// checkStateBundle reads a bundle at site and compares its SHA-256 with its sidecar's.
func checkStateBundle(ctx context.Context, site *drc.Site, name string) (int64, bool, string) {
	b, err := drc.ReadObject(ctx, site.Store, name+".json")
	if err != nil {
		return 0, false, "its sidecar: " + oneline.Error(err)
	}
	var side escrow.Sidecar
	if err := json.Unmarshal(b, &side); err != nil {
		return 0, false, "its sidecar: " + err.Error()
	}
	rc, err := site.Store.Get(ctx, name)
	if err != nil {
		return side.Bytes, false, oneline.Error(err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	switch {
	case err != nil:
		return side.Bytes, false, oneline.Error(err)
	case n != side.Bytes || hex.EncodeToString(h.Sum(nil)) != side.SHA256:
		return side.Bytes, false, fmt.Sprintf("%d bytes of SHA-256 %s, its sidecar says %d bytes of %s", n, hex.EncodeToString(h.Sum(nil)), side.Bytes, side.SHA256)
	}
	return side.Bytes, true, ""
}

// RestoreStateOptions are what `cadang state restore` asks.
type RestoreStateOptions struct {
	DRC      string    // the DRC to read the bundle from
	Identity []byte    // an escrow identity file's content (age or SSH private key)
	At       time.Time // the newest bundle made at or before At (zero: the newest)
	Force    bool      // move an existing state dir aside instead of refusing
	Now      func() time.Time
	Timeout  time.Duration // 0: none
}

// RestoredState says what RestoreState did.
type RestoredState struct {
	DRC      string          `json:"drc"`
	Bundle   string          `json:"bundle"`
	Created  time.Time       `json:"created"`
	Host     string          `json:"host"`
	Version  string          `json:"version"`
	Files    int             `json:"files"`
	Keys     int             `json:"keys"`
	StateDir string          `json:"state_dir"`
	MovedTo  string          `json:"moved_aside,omitempty"` // the state dir that was there, with --force
	Skipped  []SkippedBundle `json:"skipped,omitempty"`     // newer bundles refused, and why
	Config   string          `json:"config"`                // where the bundle's configuration was put, for reference
}

// SkippedBundle is a bundle passed over.
type SkippedBundle struct {
	Bundle string `json:"bundle"`
	Why    string `json:"why"`
}

// RestoreState rebuilds the state dir of cfg (catalog and keys) from the newest state
// bundle at a DRC (at or before opts.At), on a machine where the main site's is lost.
// Only the DRCs of cfg are needed. A bundle whose bytes are not its sidecar's, or that
// does not open with the identity, or whose files are not its manifest's, is refused
// with the reason; with At, an older one can be chosen. Nothing is written to the
// state dir until a bundle is whole; an existing state dir is refused unless Force
// (then it is moved aside, never deleted).
func RestoreState(ctx context.Context, cfg *config.Config, opts RestoreStateOptions) (RestoredState, error) {
	out := RestoredState{DRC: opts.DRC, StateDir: cfg.StateDir}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	ids, err := age.ParseIdentities(strings.NewReader(string(opts.Identity)))
	if err != nil {
		return out, fmt.Errorf("identity file: %v (an age identity, AGE-SECRET-KEY-1...)", err)
	}
	var site *drc.Site
	_, sites, err := Sites(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return out, err
	}
	names := []string{}
	for _, s := range sites {
		names = append(names, s.Name)
		if s.Name == opts.DRC {
			site = s
		}
	}
	if site == nil {
		return out, fmt.Errorf("unknown drc %q (the configuration has %s)", opts.DRC, strings.Join(names, ", "))
	}
	catalogPath := filepath.Join(cfg.StateDir, "catalog.db")
	if _, err := os.Stat(catalogPath); err == nil && !opts.Force {
		return out, fmt.Errorf("state dir %s holds a catalog already: give --force to move it aside", cfg.StateDir)
	}
	times, err := stateBundles(ctx, site)
	if err != nil {
		return out, fmt.Errorf("drc %q: listing the state bundles: %v", site.Name, oneline.Error(err))
	}
	parent := filepath.Dir(filepath.Clean(cfg.StateDir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return out, err
	}
	for _, t := range times {
		if !opts.At.IsZero() && t.After(opts.At) {
			continue
		}
		name := escrow.BundleName(t)
		tmp, err := os.MkdirTemp(parent, ".cadang-state-restore-")
		if err != nil {
			return out, err
		}
		m, err := openStateBundle(ctx, site, name, ids, tmp)
		if err != nil {
			_ = os.RemoveAll(tmp)
			out.Skipped = append(out.Skipped, SkippedBundle{Bundle: name, Why: oneline.Error(err)})
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			if opts.At.IsZero() && errors.Is(err, escrow.ErrDamaged) {
				// The newest is damaged: say so, and let the operator choose an older one with --at.
				return out, fmt.Errorf("state bundle %s at drc %q is refused: %v (give --at %s to take the one before)",
					name, site.Name, oneline.Error(err), olderThan(times, t))
			}
			if opts.At.IsZero() {
				return out, fmt.Errorf("state bundle %s at drc %q: %v", name, site.Name, oneline.Error(err))
			}
			continue
		}
		if err := installState(cfg.StateDir, tmp, opts, &out); err != nil {
			_ = os.RemoveAll(tmp)
			return out, err
		}
		out.Bundle, out.Created, out.Host, out.Version, out.Files = name, m.Created, m.Host, m.Version, len(m.Files)
		for _, f := range m.Files {
			if strings.HasPrefix(f.Name, escrow.KeysDir) {
				out.Keys++
			}
		}
		return out, nil
	}
	if !opts.At.IsZero() {
		return out, fmt.Errorf("drc %q holds no usable state bundle made at or before %s", site.Name, opts.At.Format(time.RFC3339))
	}
	return out, fmt.Errorf("drc %q holds no state bundle (%s): was state_protection on at the main site?", site.Name, escrow.Prefix)
}

// olderThan names the time just before t for --at, or "" when no bundle is older.
func olderThan(times []time.Time, t time.Time) string {
	for _, x := range times {
		if x.Before(t) {
			return x.UTC().Format(time.RFC3339Nano)
		}
	}
	return "(no older bundle)"
}

// openStateBundle checks a bundle's bytes against its sidecar, then opens it into dir.
func openStateBundle(ctx context.Context, site *drc.Site, name string, ids []age.Identity, dir string) (escrow.Manifest, error) {
	_, whole, problem := checkStateBundle(ctx, site, name)
	if !whole {
		return escrow.Manifest{}, fmt.Errorf("%w: %s", escrow.ErrDamaged, problem)
	}
	rc, err := site.Store.Get(ctx, name)
	if err != nil {
		return escrow.Manifest{}, err
	}
	defer rc.Close()
	return escrow.Open(rc, ids, dir)
}

// installState moves the files opened into tmp into stateDir: the catalog, the keys,
// and the bundle's configuration (as restored-cadang.yaml, for reference: the daemon
// runs the configuration it is given).
func installState(stateDir, tmp string, opts RestoreStateOptions, out *RestoredState) error {
	if _, err := os.Stat(stateDir); err == nil {
		if !opts.Force {
			if entries, _ := os.ReadDir(stateDir); len(entries) > 0 {
				return fmt.Errorf("state dir %s is not empty: give --force to move it aside", stateDir)
			}
			if err := os.Remove(stateDir); err != nil {
				return err
			}
		} else {
			now := time.Now
			if opts.Now != nil {
				now = opts.Now
			}
			aside := fmt.Sprintf("%s.replaced-%s", filepath.Clean(stateDir), now().UTC().Format("20060102T150405Z"))
			if err := os.Rename(stateDir, aside); err != nil {
				return err
			}
			out.MovedTo = aside
		}
	}
	if cfgFile := filepath.Join(tmp, escrow.ConfigName); fileExists(cfgFile) {
		if err := os.Rename(cfgFile, filepath.Join(tmp, "restored-"+escrow.ConfigName)); err != nil {
			return err
		}
		out.Config = filepath.Join(stateDir, "restored-"+escrow.ConfigName)
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		return err
	}
	return os.Rename(tmp, stateDir)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
