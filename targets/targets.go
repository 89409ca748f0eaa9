package targets

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"
)

// Target is one protected thing of cadang.yaml's `targets:`.
type Target interface {
	// Backup writes exactly one snapshot of the target through w: it calls exactly one
	// of w.Files and w.Stream, once. An error means no good snapshot; if a snapshot was
	// written anyway, the engine marks it bad.
	Backup(ctx context.Context, w Writer) (*BackupResult, error)
	// Restore restores the snapshot that r reads to the destination in req. It refuses
	// a destination that already holds data unless req.Force is set.
	Restore(ctx context.Context, r Reader, req RestoreRequest) error
}

// Writer writes one snapshot into a repository. The engine adds the tags that say which
// target, agency, kind and run the snapshot belongs to.
type Writer interface {
	// Files stores files and directories, each under its absolute path.
	Files(ctx context.Context, spec FilesSpec) error
	// Stream stores the standard output of a command as one file. A command that exits
	// non-zero fails the snapshot: nothing is stored.
	Stream(ctx context.Context, spec StreamSpec) error
	// Scratch returns a private directory (0700) for this run, removed when it ends.
	Scratch() (string, error)
	// Logger logs with the run's fields.
	Logger() *slog.Logger
}

// FilesSpec says which files a snapshot holds.
type FilesSpec struct {
	Paths         []string // absolute paths, or relative to Dir
	Exclude       []string // restic exclude patterns
	OneFileSystem bool
	Tags          []string // extra "key=value" tags

	// Dir, if set, is the directory the backup runs in: relative Paths are stored under
	// the root of the snapshot as given ("disks/vda" is /disks/vda in the snapshot), so
	// that a tree a kind builds in a different scratch directory at every run keeps the
	// same paths from one snapshot to the next.
	Dir string
	// Parent, if set, is the id of an earlier snapshot of the same target (found through
	// History) that restic compares the files with: a file whose path, size and
	// modification time are those it has in Parent is not read again, its content is
	// taken from Parent (restic --parent, --ignore-inode).
	Parent string
	// Unmodified is how many files must be taken unchanged from Parent. A kind that puts
	// a placeholder (a sparse file with Parent's size and time) where content did not
	// change sets it to the number of placeholders: if restic read any of them again
	// (because Parent's data is missing), the backup fails instead of storing the
	// placeholder as content.
	Unmodified int
}

// StreamSpec says which command's output a snapshot holds. Secrets never go in Argv or
// Env (they are visible to other local users): pass files instead (PGPASSFILE, ...).
type StreamSpec struct {
	Filename string   // name of the file in the snapshot, e.g. "simpus.pgc"
	Argv     []string // the command; Argv[0] is looked up in PATH
	Env      []string // "KEY=value" added to a minimal environment (PATH, HOME, LANG, TZ)
	Tags     []string
}

// History is implemented by Writers that can read earlier snapshots of the same target
// in the repository the backup goes to. A kind whose backup builds on the previous one
// (an incremental disk backup) asserts it; without it, every backup is a full one.
type History interface {
	// Last returns a Reader of the newest good snapshot of this target that carries all
	// of tags, or nil (and no error) if there is none.
	Last(ctx context.Context, tags ...string) (Reader, error)
}

// BackupResult is what a target reports about a snapshot it wrote.
// Stored is implemented by Writers that can say what the snapshot they wrote holds: a
// kind checks with it that its backup stored what it meant to (a files backup that
// stored no file is not good, whatever restic's exit status).
type Stored interface {
	// StoredFiles is the number of files restic's summary counted in the snapshot the
	// writer wrote; ok is false when no snapshot was written.
	StoredFiles() (files uint64, ok bool)
}

type BackupResult struct {
	// Manifest holds kind-specific facts recorded at backup time (row counts, checksums,
	// server version, ...) that a restore can be checked against; stored with the run.
	Manifest json.RawMessage `json:"manifest,omitempty"`
	// Notes are short remarks shown with the run ("crash-consistent", ...).
	Notes []string `json:"notes,omitempty"`
}

// Snapshot describes the snapshot a Reader reads.
type Snapshot struct {
	ID    string    `json:"id"`
	Time  time.Time `json:"time"`
	Paths []string  `json:"paths"`
	Tags  []string  `json:"tags"`
}

// Reader reads one snapshot from a repository.
type Reader interface {
	Snapshot() Snapshot
	// RestoreTo writes the snapshot's files (all of them, or those matching include)
	// under dir, each at its original absolute path below dir.
	RestoreTo(ctx context.Context, dir string, include []string) error
	// Open streams the content of one file of the snapshot.
	Open(ctx context.Context, path string) (io.ReadCloser, error)
	// Logger logs with the run's fields.
	Logger() *slog.Logger
}

// PartRestorer is implemented by kinds that can restore part of a snapshot
// (RestoreRequest.Include): files. A database dump or a disk image is one file, whole
// or not at all.
type PartRestorer interface {
	RestoresPart()
}

// RestoreChecker is implemented by kinds that can tell, before a restore is queued and
// without changing anything, that a request cannot succeed (a destination of the wrong
// form, an unknown option, a folder that holds data without force): the API then
// refuses it at once (400) instead of accepting it and failing the run later.
type RestoreChecker interface {
	CheckRestore(req RestoreRequest) error
}

// RestoreRequest says where a snapshot is restored to.
type RestoreRequest struct {
	// To is the destination: a directory, a file, or a URL the kind understands
	// (postgres://host:port/db, ...).
	To    string
	Force bool // allow a destination that already holds data
	// Include, when set, restores only these paths of the snapshot (restic
	// --include). Only kinds that implement PartRestorer get it; the engine refuses it
	// for the others.
	Include []string
	// Options are kind-specific settings from the command line (e.g. "define": "NAME").
	Options map[string]string
}
