package drc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cadang/cadang/internal/oneline"
)

// Repo is one agency's restic repository at one DRC.
type Repo struct {
	DRC    string
	Agency string
	URL    string // restic's repository string; it holds no credentials
	Store  Store  // the repository's objects (config, keys/, data/, index/, snapshots/, locks/)

	site         *Site
	passwordFile string
}

// env is the whole environment restic runs with: a minimal base (no RESTIC_* or AWS_*
// leaking in from the daemon's own environment), the repository, its password file,
// the cache and the store's credentials.
func (r *Repo) env(passwordFile string) []string {
	env := baseEnv()
	env = append(env,
		"RESTIC_REPOSITORY="+r.URL,
		"RESTIC_PASSWORD_FILE="+passwordFile,
		"RESTIC_CACHE_DIR="+r.site.cacheDir,
		"RESTIC_PROGRESS_FPS=2",
	)
	return append(env, r.site.credEnv...)
}

// baseEnv is the part of the daemon's environment a child process may see.
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func (r *Repo) run(ctx context.Context, c call) error {
	c.drc = r.DRC
	if c.env == nil {
		if _, err := os.Stat(r.passwordFile); err != nil {
			return &Error{Op: c.op, DRC: r.DRC, Code: 10, Message: fmt.Sprintf(
				"agency %q has no repository here yet (no password file %s): run `cadang init`", r.Agency, r.passwordFile)}
		}
		c.env = r.env(r.passwordFile)
	}
	err := r.site.restic.run(ctx, c)
	var se *StallError
	if errors.As(err, &se) {
		se.Agency = r.Agency
		se.resolve(ctx, r.Store)
	}
	return err
}

// Exists reports whether the repository exists (its config object is there).
func (r *Repo) Exists(ctx context.Context) (bool, error) {
	_, err := r.Store.Stat(ctx, "config")
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("drc %q: %w", r.DRC, err)
}

// Init creates the repository.
func (r *Repo) Init(ctx context.Context) error {
	return r.run(ctx, call{op: "init", args: []string{"init"}, onLine: func([]byte) {}})
}

// Open checks that the repository exists and that its password opens it.
func (r *Repo) Open(ctx context.Context) error {
	return r.run(ctx, call{op: "open", args: []string{"cat", "config"}, stdout: io.Discard})
}

// StdinCommand is a command whose standard output restic stores as one file.
type StdinCommand struct {
	Filename string
	Argv     []string
	Env      []string // added to a minimal environment; never secrets (visible in argv of env(1))
}

// BackupOptions say what a backup stores.
type BackupOptions struct {
	Paths         []string
	Exclude       []string
	OneFileSystem bool
	Stdin         *StdinCommand // instead of Paths
	Host          string
	Tags          []string

	// Dir is the working directory of restic: relative Paths are stored relative to it.
	Dir string
	// Parent is the snapshot restic compares files with (--parent); inode and ctime are
	// ignored (--ignore-inode), so that a file with Parent's path, size and time is taken
	// from Parent without being read.
	Parent string
	// Force has restic read every file, trusting no parent snapshot (--force).
	Force bool
	// MinUnmodified fails a backup in which restic took fewer files unchanged from Parent.
	MinUnmodified int
}

// Progress is a restic status message of a backup or a restore.
type Progress struct {
	PercentDone      float64 `json:"percent_done"`
	SecondsElapsed   uint64  `json:"seconds_elapsed,omitempty"`
	SecondsRemaining uint64  `json:"seconds_remaining,omitempty"`
	TotalFiles       uint64  `json:"total_files,omitempty"`
	FilesDone        uint64  `json:"files_done,omitempty"`
	TotalBytes       uint64  `json:"total_bytes,omitempty"`
	BytesDone        uint64  `json:"bytes_done,omitempty"`
	ErrorCount       uint64  `json:"error_count,omitempty"`
	// Restore reports these instead of FilesDone/BytesDone.
	FilesRestored uint64 `json:"files_restored,omitempty"`
	BytesRestored uint64 `json:"bytes_restored,omitempty"`
}

// BackupSummary is restic's summary of a backup.
type BackupSummary struct {
	SnapshotID          string    `json:"snapshot_id"`
	FilesNew            uint64    `json:"files_new"`
	FilesChanged        uint64    `json:"files_changed"`
	FilesUnmodified     uint64    `json:"files_unmodified"`
	DataAdded           uint64    `json:"data_added"`
	DataAddedPacked     uint64    `json:"data_added_packed"`
	TotalFilesProcessed uint64    `json:"total_files_processed"`
	TotalBytesProcessed uint64    `json:"total_bytes_processed"`
	TotalDuration       float64   `json:"total_duration"`
	BackupStart         time.Time `json:"backup_start"`
	BackupEnd           time.Time `json:"backup_end"`
}

// FileError is a file restic could not read during a backup (or write during a restore).
type FileError struct {
	Item    string `json:"item"`
	During  string `json:"during"`
	Message string `json:"message"`
}

type message struct {
	MessageType string `json:"message_type"`
	Error       struct {
		Message string `json:"message"`
	} `json:"error"`
	During string `json:"during"`
	Item   string `json:"item"`
}

// maxFileErrors bounds the file errors kept for a run's record.
const maxFileErrors = 50

// jsonLines decodes restic's --json stdout: status lines go to progress, error lines
// are collected, the summary is decoded into summary.
func jsonLines(progress func(Progress), summary any, errs *[]FileError) func([]byte) {
	return func(line []byte) {
		var m message
		if json.Unmarshal(line, &m) != nil {
			return // not JSON (restic prints some plain lines even with --json)
		}
		switch m.MessageType {
		case "status":
			if progress != nil {
				var p Progress
				if json.Unmarshal(line, &p) == nil {
					progress(p)
				}
			}
		case "error":
			if errs != nil && len(*errs) < maxFileErrors {
				*errs = append(*errs, FileError{Item: m.Item, During: m.During, Message: m.Error.Message})
			}
		case "summary":
			if summary != nil {
				_ = json.Unmarshal(line, summary)
			}
		}
	}
}

// Backup runs `restic backup`. When restic could not read some files (exit 3) the
// snapshot exists but is incomplete: Backup returns the summary together with an error
// matching ErrPartial and the files it skipped.
func (r *Repo) Backup(ctx context.Context, o BackupOptions, progress func(Progress)) (*BackupSummary, []FileError, error) {
	args := []string{"backup"}
	if o.Host != "" {
		args = append(args, "--host", o.Host)
	}
	for _, t := range o.Tags {
		args = append(args, "--tag", t)
	}
	for _, e := range o.Exclude {
		args = append(args, "--exclude="+e)
	}
	if o.OneFileSystem {
		args = append(args, "--one-file-system")
	}
	if o.Parent != "" {
		args = append(args, "--parent", o.Parent, "--ignore-inode")
	}
	if o.Force {
		args = append(args, "--force")
	}
	switch {
	case o.Stdin != nil:
		if len(o.Stdin.Argv) == 0 || o.Stdin.Filename == "" {
			return nil, nil, errors.New("backup: a stdin command needs argv and a file name")
		}
		// env -i: the command must not see restic's environment (the repository
		// password file and the store's credentials).
		cmd := append([]string{"env", "-i"}, baseEnv()...)
		cmd = append(cmd, o.Stdin.Env...)
		cmd = append(cmd, o.Stdin.Argv...)
		args = append(args, "--stdin-from-command", "--stdin-filename", o.Stdin.Filename, "--")
		args = append(args, cmd...)
	case len(o.Paths) > 0:
		args = append(args, "--")
		args = append(args, o.Paths...)
	default:
		return nil, nil, errors.New("backup: nothing to back up")
	}

	var sum BackupSummary
	var ferrs []FileError
	err := r.run(ctx, call{op: "backup", args: args, dir: o.Dir, onLine: jsonLines(progress, &sum, &ferrs)})
	if err != nil {
		if errors.Is(err, ErrPartial) && sum.SnapshotID != "" {
			return &sum, ferrs, &Error{Op: "backup", DRC: r.DRC, Code: 3, Message: partialMessage(ferrs)}
		}
		return nil, ferrs, err
	}
	if sum.SnapshotID == "" {
		return nil, ferrs, &Error{Op: "backup", DRC: r.DRC, Code: -1, Message: "restic reported no snapshot"}
	}
	if int(sum.FilesUnmodified) < o.MinUnmodified {
		// The snapshot exists but holds content that was never meant to be read: the
		// caller must not count it as good.
		return &sum, ferrs, &Error{Op: "backup", DRC: r.DRC, Code: -1, Message: fmt.Sprintf(
			"restic took %d files unchanged from parent snapshot %.8s, %d expected: its data may be missing (run restic check)",
			sum.FilesUnmodified, o.Parent, o.MinUnmodified)}
	}
	return &sum, ferrs, nil
}

func partialMessage(errs []FileError) string {
	switch len(errs) {
	case 0:
		return "some source files could not be read"
	case 1:
		return fmt.Sprintf("1 file could not be read: %s: %s", errs[0].Item, oneline.Of(errs[0].Message))
	}
	more := ""
	if len(errs) == maxFileErrors {
		more = " or more"
	}
	return fmt.Sprintf("%d%s files could not be read, first %s: %s", len(errs), more, errs[0].Item, oneline.Of(errs[0].Message))
}

// Snapshot is a restic snapshot as `restic snapshots --json` lists it.
type Snapshot struct {
	ID       string    `json:"id"`
	ShortID  string    `json:"short_id"`
	Time     time.Time `json:"time"`
	Paths    []string  `json:"paths"`
	Hostname string    `json:"hostname"`
	Tags     []string  `json:"tags"`
	Summary  *struct {
		TotalBytesProcessed uint64 `json:"total_bytes_processed"`
		DataAdded           uint64 `json:"data_added"`
		DataAddedPacked     uint64 `json:"data_added_packed"`
	} `json:"summary,omitempty"`
}

// Tag returns the value of a "key=value" tag of the snapshot.
func (s Snapshot) Tag(key string) string {
	for _, t := range s.Tags {
		if k, v, ok := strings.Cut(t, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// Snapshots lists the snapshots that carry all of tags.
func (r *Repo) Snapshots(ctx context.Context, tags ...string) ([]Snapshot, error) {
	// No lock: listing is read-only and must work while a prune or check holds the
	// repository's exclusive lock.
	args := []string{"snapshots", "--no-lock"}
	if len(tags) > 0 {
		args = append(args, "--tag", strings.Join(tags, ","))
	}
	var out strings.Builder
	if err := r.run(ctx, call{op: "snapshots", args: args, stdout: &out}); err != nil {
		return nil, err
	}
	var snaps []Snapshot
	if err := json.Unmarshal([]byte(out.String()), &snaps); err != nil {
		return nil, &Error{Op: "snapshots", DRC: r.DRC, Code: -1, Message: "cannot read restic's snapshot list: " + err.Error()}
	}
	return snaps, nil
}

// RestoreSummary is restic's summary of a restore.
type RestoreSummary struct {
	SecondsElapsed uint64 `json:"seconds_elapsed"`
	TotalFiles     uint64 `json:"total_files"`
	FilesRestored  uint64 `json:"files_restored"`
	TotalBytes     uint64 `json:"total_bytes"`
	BytesRestored  uint64 `json:"bytes_restored"`
}

// Restore runs `restic restore` of snapshot into dir (files keep their absolute paths
// below dir). A file restic could not write fails the restore.
//
// Files are restored sparse (restic --sparse): runs of zeros become holes, so that a
// VM image or a database file that was sparse at the source does not come back fully
// allocated (the content is the same byte for byte).
func (r *Repo) Restore(ctx context.Context, snapshot, dir string, include []string, progress func(Progress)) (*RestoreSummary, error) {
	args := []string{"restore", snapshot, "--target", dir, "--sparse"}
	for _, in := range include {
		args = append(args, "--include="+in)
	}
	var sum RestoreSummary
	var ferrs []FileError
	err := r.run(ctx, call{op: "restore", args: args, onLine: jsonLines(progress, &sum, &ferrs)})
	var re *Error
	if errors.As(err, &re) {
		// With --json restic prints its per-file errors to stderr.
		for line := range strings.SplitSeq(re.stderr, "\n") {
			jsonLines(nil, nil, &ferrs)([]byte(line))
		}
	}
	if len(ferrs) > 0 {
		fe := &Error{Op: "restore", DRC: r.DRC, Code: 1, Message: fmt.Sprintf("%s: %s", ferrs[0].Item, oneline.Of(ferrs[0].Message))}
		switch {
		case err == nil:
			err = fe
		case re != nil && strings.HasPrefix(re.Message, "There were"):
			// "There were 1 errors" says less than the first of them.
			re.Message = fe.Message + fmt.Sprintf(" (%d file error(s) in all)", len(ferrs))
		}
		msgs := make([]string, len(ferrs))
		for i, f := range ferrs {
			msgs[i] = f.Message
		}
		if objs := r.damagedPacks(ctx, msgs); len(objs) > 0 {
			err = &DamagedPacksError{DRC: r.DRC, Objects: objs, Err: err}
		}
	}
	if err != nil {
		return nil, err
	}
	return &sum, nil
}

// Dump writes the content of one file of a snapshot to w.
func (r *Repo) Dump(ctx context.Context, snapshot, path string, w io.Writer) error {
	return r.run(ctx, call{op: "dump", args: []string{"dump", snapshot, path}, stdout: w})
}

// DumpTar writes a folder of a snapshot ("/" for all of it) to w as a tar archive
// (restic dump --archive tar).
func (r *Repo) DumpTar(ctx context.Context, snapshot, path string, w io.Writer) error {
	return r.run(ctx, call{op: "dump", args: []string{"dump", "--archive", "tar", snapshot, path}, stdout: w})
}

// Tag adds tags to a snapshot and returns its new id (restic rewrites the snapshot).
func (r *Repo) Tag(ctx context.Context, snapshot string, add ...string) (string, error) {
	args := []string{"tag", snapshot}
	for _, t := range add {
		args = append(args, "--add", t)
	}
	var newID string
	err := r.run(ctx, call{op: "tag", args: args, onLine: func(line []byte) {
		var m struct {
			MessageType string `json:"message_type"`
			New         string `json:"new_snapshot_id"`
		}
		if json.Unmarshal(line, &m) == nil && m.MessageType == "changed" {
			newID = m.New
		}
	}})
	if err != nil {
		return "", err
	}
	if newID == "" {
		return snapshot, nil
	}
	return newID, nil
}

// Key is a key of the repository as `restic key list --json` shows it.
type Key struct {
	ID      string `json:"id"`
	Current bool   `json:"current"`
}

// keys lists the keys of the repository, opening it with passwordFile.
func (r *Repo) keys(ctx context.Context, passwordFile string) ([]Key, error) {
	var out strings.Builder
	if err := r.run(ctx, call{op: "key list", args: []string{"key", "list"}, env: r.env(passwordFile), stdout: &out}); err != nil {
		return nil, err
	}
	var keys []Key
	if err := json.Unmarshal([]byte(out.String()), &keys); err != nil {
		return nil, &Error{Op: "key list", DRC: r.DRC, Code: -1, Message: "cannot read restic's key list: " + err.Error()}
	}
	return keys, nil
}

// currentKey returns the id of the key that passwordFile opens.
func (r *Repo) currentKey(ctx context.Context, passwordFile string) (string, error) {
	keys, err := r.keys(ctx, passwordFile)
	if err != nil {
		return "", err
	}
	for _, k := range keys {
		if k.Current {
			return k.ID, nil
		}
	}
	return "", &Error{Op: "key list", DRC: r.DRC, Code: -1, Message: "restic marked no key as current"}
}

// addKey adds a key whose password is in newPasswordFile.
func (r *Repo) addKey(ctx context.Context, newPasswordFile string) error {
	return r.run(ctx, call{op: "key add", args: []string{"key", "add", "--new-password-file", newPasswordFile}, stdout: io.Discard})
}

// removeKey removes a key other than the one in use.
func (r *Repo) removeKey(ctx context.Context, id string) error {
	return r.run(ctx, call{op: "key remove", args: []string{"key", "remove", id}, stdout: io.Discard})
}

// Node is one entry of a snapshot as `restic ls --json` lists it.
type Node struct {
	Path  string    `json:"path"`
	Type  string    `json:"type"` // file, dir, symlink, dev, ...
	Size  uint64    `json:"size"`
	MTime time.Time `json:"mtime"`
}

// List lists every entry of a snapshot (`restic ls`), without a lock. With dirs, only
// those folders and what they hold directly (restic ls SNAPSHOT DIR...).
func (r *Repo) List(ctx context.Context, snapshot string, dirs ...string) ([]Node, error) {
	var nodes []Node
	var bad error
	args := append([]string{"ls", "--no-lock", snapshot, "--"}, dirs...)
	err := r.run(ctx, call{op: "ls", args: args, onLine: func(line []byte) {
		var n struct {
			Node
			StructType string `json:"struct_type"`
		}
		if err := json.Unmarshal(line, &n); err != nil {
			if bad == nil {
				bad = fmt.Errorf("restic ls: unexpected output: %w", err)
			}
			return
		}
		if n.StructType == "node" {
			nodes = append(nodes, n.Node)
		}
	}})
	if err == nil {
		err = bad
	}
	return nodes, err
}

// Hand runs restic with args, as an operator would by hand, with the repository's
// environment (its password through a file, never argv): restic's text output and
// its error output go to out. The caller decides which commands are allowed.
func (r *Repo) Hand(ctx context.Context, args []string, out io.Writer) error {
	return r.run(ctx, call{op: "restic " + strings.Join(args, " "), args: args, stdout: out, human: true})
}
