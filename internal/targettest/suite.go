// Package targettest is the contract every target kind passes, against a real restic
// repository (a filesystem DRC in a temporary folder): the kind is registered and its
// config validates; a backup writes exactly one snapshot; restoring each snapshot gives
// back the source as it was at that backup; a destination that holds data is refused
// without Force; a broken source and a cancelled backup fail.
//
// It is a test harness: it imports drc to provide the real repository, which targets'
// production packages never do.
package targettest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
)

// Case describes a kind's fixture for the suite.
type Case struct {
	Kind string
	// Config returns a config (as the kind's NewConfig returns, filled) for a source
	// the case owns.
	Config func(t *testing.T) any
	// State returns what the source holds now, comparable with reflect.DeepEqual.
	State func(t *testing.T) any
	// Change changes the source, so that the next backup differs.
	Change func(t *testing.T)
	// Destination returns a new, empty restore destination.
	Destination func(t *testing.T) targets.RestoreRequest
	// Restored returns what a restore to req produced, comparable with State's result.
	Restored func(t *testing.T, req targets.RestoreRequest) any
	// Occupy puts data in the destination of req.
	Occupy func(t *testing.T, req targets.RestoreRequest)
	// Broken returns a config whose backup must fail (a source that is missing or
	// cannot be reached).
	Broken func(t *testing.T) any
	// DrillEnv, for a kind that drills (targets.Driller), fills the kind's part of a
	// drill's environment (drill server, checks, boot seconds); may be nil.
	DrillEnv func(t *testing.T, env *targets.DrillEnv)
	// Leftovers lists the scratch resources of the kind that exist now (databases,
	// domains, folders): a drill must leave none behind.
	Leftovers func(t *testing.T) []string
}

// Run runs the suite.
func Run(t *testing.T, c Case) {
	kind, ok := targets.Lookup(c.Kind)
	if !ok {
		t.Fatalf("kind %q is not registered", c.Kind)
	}
	repo := NewRepo(t)
	build := func(t *testing.T, cfg any) targets.Target {
		t.Helper()
		if v, ok := cfg.(interface{ Validate(func(string, string)) }); ok {
			v.Validate(func(field, msg string) { t.Errorf("config: %s: %s", field, msg) })
		}
		tg, err := kind.New(targets.Spec{Name: "contract", Agency: "test", Config: cfg, Logger: logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}

	t.Run("config", func(t *testing.T) {
		cfg := kind.NewConfig()
		if cfg == nil || reflect.TypeOf(cfg).Kind() != reflect.Pointer {
			t.Fatalf("NewConfig must return a pointer, got %T", cfg)
		}
		if got := reflect.TypeOf(c.Config(t)); got != reflect.TypeOf(cfg) {
			t.Fatalf("the case's config is a %v, the kind's a %T", got, cfg)
		}
	})

	t.Run("backup and restore each snapshot", func(t *testing.T) {
		tg := build(t, c.Config(t))
		state1 := c.State(t)
		snap1 := Backup(t, repo, tg)
		c.Change(t)
		state2 := c.State(t)
		if reflect.DeepEqual(state1, state2) {
			t.Fatal("Change did not change the source")
		}
		snap2 := Backup(t, repo, tg)
		for _, tc := range []struct {
			snap  string
			state any
		}{{snap2, state2}, {snap1, state1}} {
			req := c.Destination(t)
			if err := tg.Restore(context.Background(), repo.Reader(t, tc.snap), req); err != nil {
				t.Fatalf("restore of %s: %v", tc.snap[:8], err)
			}
			if got := c.Restored(t, req); !reflect.DeepEqual(got, tc.state) {
				t.Errorf("restore of %s:\n got %+v\nwant %+v", tc.snap[:8], got, tc.state)
			}
		}
	})

	t.Run("occupied destination is refused without force", func(t *testing.T) {
		tg := build(t, c.Config(t))
		snap := Backup(t, repo, tg)
		req := c.Destination(t)
		c.Occupy(t, req)
		err := tg.Restore(context.Background(), repo.Reader(t, snap), req)
		if !errors.Is(err, targets.ErrDestinationNotEmpty) {
			t.Fatalf("want ErrDestinationNotEmpty, got %v", err)
		}
		req.Force = true
		if err := tg.Restore(context.Background(), repo.Reader(t, snap), req); err != nil {
			t.Fatalf("with force: %v", err)
		}
	})

	t.Run("broken source fails", func(t *testing.T) {
		w := repo.Writer(t)
		_, err := build(t, c.Broken(t)).Backup(context.Background(), w)
		if err == nil {
			t.Fatal("backup of a broken source succeeded")
		}
		if w.Snapshot != "" && !w.Failed {
			t.Fatalf("a failed backup left a snapshot that looks good: %s", w.Snapshot)
		}
	})

	t.Run("drill", func(t *testing.T) {
		tg := build(t, c.Config(t))
		dr, ok := tg.(targets.Driller)
		if !ok {
			t.Fatalf("kind %s has no drill (targets.Driller)", c.Kind)
		}
		w := repo.Writer(t)
		res, err := tg.Backup(context.Background(), w)
		if err != nil || w.Snapshot == "" {
			t.Fatalf("backup: %v", err)
		}
		var before []string
		if c.Leftovers != nil {
			before = c.Leftovers(t)
		}
		env := &targets.DrillEnv{Scratch: t.TempDir(), Name: "cadang_drill_contract", Manifest: res.Manifest,
			BootSeconds: 2, Log: logger(t)}
		var checks []targets.DrillCheck
		var restored int64
		env.Check = func(ch targets.DrillCheck) { checks = append(checks, ch) }
		env.Restored = func(n int64) { restored += n }
		if c.DrillEnv != nil {
			c.DrillEnv(t, env)
		}
		failed := RunDrill(context.Background(), dr.DrillSteps(repo.Reader(t, w.Snapshot), env))
		if failed != nil {
			t.Errorf("drill failed: %v", failed)
		}
		if len(checks) == 0 || restored <= 0 {
			t.Errorf("a drill must verify something and restore something: %d checks, %d bytes", len(checks), restored)
		}
		for _, ch := range checks {
			if !ch.Passed {
				t.Errorf("check %q failed: %s", ch.Checked(), ch.Result())
			}
		}
		if c.Leftovers != nil {
			if after := c.Leftovers(t); !reflect.DeepEqual(after, before) {
				t.Errorf("the drill left scratch resources: before %v, after %v", before, after)
			}
		}
	})

	t.Run("cancelled backup fails", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := build(t, c.Config(t)).Backup(ctx, repo.Writer(t)); err == nil {
			t.Fatal("a cancelled backup succeeded")
		}
	})
}

func logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) { l.t.Log(string(p)); return len(p), nil }

// Repo is a real restic repository for a kind's tests.
type Repo struct {
	*drc.Repo
	failed map[string]bool // snapshots written by a backup that failed
}

// NewRepo creates a repository in a temporary filesystem DRC, with bin/restic.
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	r := &drc.Restic{Binary: testenv.Restic(t), Logger: logger(t)}
	site, err := drc.Open(drc.Config{Name: "test", Role: drc.RolePrimary, Path: filepath.Join(t.TempDir(), "drc")}, r, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if res := drc.Ensure(context.Background(), []*drc.Site{site}, "test"); res[0].Error != "" {
		t.Fatal(res[0].Error)
	}
	return &Repo{Repo: site.Repo("test"), failed: map[string]bool{}}
}

// Writer is a targets.Writer over the repository that records what a backup did.
type Writer struct {
	t        testing.TB
	repo     *Repo
	Calls    int                // calls of Files and Stream
	Snapshot string             // the snapshot written, if any
	Summary  *drc.BackupSummary // restic's summary of it
	Failed   bool               // restic reported a failure
	scratch  string
}

// Writer returns a new Writer.
func (r *Repo) Writer(t testing.TB) *Writer { return &Writer{t: t, repo: r} }

func (w *Writer) backup(ctx context.Context, o drc.BackupOptions) error {
	w.Calls++
	o.Host, o.Tags = "contract", append(o.Tags, "target=contract")
	sum, _, err := w.repo.Backup(ctx, o, nil)
	if sum != nil {
		w.Snapshot, w.Summary = sum.SnapshotID, sum
	}
	w.Failed = err != nil
	if w.Failed && w.Snapshot != "" {
		w.repo.failed[w.Snapshot] = true // as the engine tags it status=bad
	}
	return err
}

// Files implements targets.Writer.
func (w *Writer) Files(ctx context.Context, s targets.FilesSpec) error {
	return w.backup(ctx, drc.BackupOptions{Paths: s.Paths, Exclude: s.Exclude, OneFileSystem: s.OneFileSystem, Tags: s.Tags,
		Dir: s.Dir, Parent: s.Parent, MinUnmodified: s.Unmodified})
}

// Last implements targets.History over the snapshots this repository's writers wrote
// and that did not fail.
func (w *Writer) Last(ctx context.Context, tags ...string) (targets.Reader, error) {
	snaps, err := w.repo.Snapshots(ctx, append([]string{"target=contract"}, tags...)...)
	if err != nil {
		return nil, err
	}
	var last *drc.Snapshot
	for i, s := range snaps {
		if w.repo.failed[s.ID] || s.Tag("status") != "" {
			continue
		}
		if last == nil || s.Time.After(last.Time) {
			last = &snaps[i]
		}
	}
	if last == nil {
		return nil, nil
	}
	return &reader{t: w.t, repo: w.repo, snap: *last}, nil
}

// Stream implements targets.Writer.
func (w *Writer) Stream(ctx context.Context, s targets.StreamSpec) error {
	return w.backup(ctx, drc.BackupOptions{Stdin: &drc.StdinCommand{Filename: s.Filename, Argv: s.Argv, Env: s.Env}, Tags: s.Tags})
}

// Interface guards
var (
	_ targets.Writer  = (*Writer)(nil)
	_ targets.History = (*Writer)(nil)
	_ targets.Stored  = (*Writer)(nil)
)

// StoredFiles implements targets.Stored.
func (w *Writer) StoredFiles() (uint64, bool) {
	if w.Summary == nil || w.Snapshot == "" {
		return 0, false
	}
	return w.Summary.TotalFilesProcessed, true
}

// Scratch implements targets.Writer.
func (w *Writer) Scratch() (string, error) {
	if w.scratch == "" {
		w.scratch = w.t.TempDir()
	}
	return w.scratch, nil
}

// Logger implements targets.Writer.
func (w *Writer) Logger() *slog.Logger { return logger(w.t) }

// Backup runs a backup of tg and checks the contract: one snapshot, written once.
func Backup(t testing.TB, repo *Repo, tg targets.Target) string {
	t.Helper()
	w := repo.Writer(t)
	res, err := tg.Backup(context.Background(), w)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if res == nil || w.Calls != 1 || w.Snapshot == "" {
		t.Fatalf("a backup must write exactly one snapshot: result %v, %d calls, snapshot %q", res, w.Calls, w.Snapshot)
	}
	return w.Snapshot
}

// Reader returns a targets.Reader of a snapshot.
func (r *Repo) Reader(t testing.TB, snapshot string) targets.Reader {
	t.Helper()
	snaps, err := r.Snapshots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		if s.ID == snapshot {
			return &reader{t: t, repo: r, snap: s}
		}
	}
	t.Fatalf("snapshot %s not in the repository", snapshot)
	return nil
}

type reader struct {
	t    testing.TB
	repo *Repo
	snap drc.Snapshot
}

func (rd *reader) Snapshot() targets.Snapshot {
	return targets.Snapshot{ID: rd.snap.ID, Time: rd.snap.Time, Paths: rd.snap.Paths, Tags: rd.snap.Tags}
}

func (rd *reader) RestoreTo(ctx context.Context, dir string, include []string) error {
	_, err := rd.repo.Restore(ctx, rd.snap.ID, dir, include, nil)
	return err
}

func (rd *reader) Open(ctx context.Context, path string) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(rd.repo.Dump(ctx, rd.snap.ID, path, pw)) }()
	return pr, nil
}

func (rd *reader) Logger() *slog.Logger { return logger(rd.t) }

func (rd *reader) List(ctx context.Context) ([]targets.Entry, error) {
	nodes, err := rd.repo.List(ctx, rd.snap.ID)
	out := make([]targets.Entry, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, targets.Entry(n))
	}
	return out, err
}

// RunDrill runs a kind's drill steps as the engine does: in order, the remaining ones
// skipped after a failure except those marked Always. It returns the first failure.
func RunDrill(ctx context.Context, steps []targets.DrillStep) error {
	var first error
	for _, st := range steps {
		if first != nil && !st.Always {
			continue
		}
		if _, err := st.Exec(ctx); err != nil && first == nil {
			first = fmt.Errorf("step %s: %w", st.Key, err)
		}
	}
	return first
}

// PausingWriter is a targets.Writer that runs a backup's stream command itself, without
// restic, and calls During once the command has written its first bytes and while it
// still runs: its output is not read meanwhile, so a dump tool behind it waits in the
// middle of its dump. What the command wrote is discarded.
type PausingWriter struct {
	T      testing.TB
	During func()
	// Bytes is how much the command wrote.
	Bytes   int64
	scratch string
}

// Stream implements targets.Writer.
func (w *PausingWriter) Stream(ctx context.Context, s targets.StreamSpec) error {
	cmd := exec.CommandContext(ctx, s.Argv[0], s.Argv[1:]...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Stderr = testLog{w.T}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	n, _ := io.ReadFull(out, make([]byte, 64<<10))
	if w.During != nil {
		w.During()
	}
	m, _ := io.Copy(io.Discard, out)
	w.Bytes = int64(n) + m
	return cmd.Wait()
}

// Files implements targets.Writer: a PausingWriter only streams.
func (w *PausingWriter) Files(context.Context, targets.FilesSpec) error {
	return errors.New("PausingWriter only streams")
}

// Scratch implements targets.Writer.
func (w *PausingWriter) Scratch() (string, error) {
	if w.scratch == "" {
		w.scratch = w.T.TempDir()
	}
	return w.scratch, nil
}

// Logger implements targets.Writer.
func (w *PausingWriter) Logger() *slog.Logger { return logger(w.T) }

var _ targets.Writer = (*PausingWriter)(nil)

// FilesHolding lists the regular files under the folders dirs that contain secret.
func FilesHolding(t testing.TB, secret string, dirs ...string) []string {
	t.Helper()
	var found []string
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			if b, rerr := os.ReadFile(p); rerr == nil && bytes.Contains(b, []byte(secret)) {
				found = append(found, p)
			}
			return nil
		})
	}
	return found
}
