package targets

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"
)

// Driller is implemented by kinds whose restores a drill can prove. A drill restores
// the newest good snapshot into scratch resources that the kind creates and removes
// (a folder, a scratch database, an isolated domain), never into production, and
// checks what it restored against what the backup recorded.
type Driller interface {
	// DrillSteps returns the kind's steps of a drill of the snapshot r reads: restore,
	// the verifications, and a clean-up step marked Always that removes every scratch
	// resource the others created, whatever happened. The engine runs them in order,
	// after its own steps (the snapshot chosen, its pack files read back).
	DrillSteps(r Reader, env *DrillEnv) []DrillStep
}

// DrillEnv is what a drill gives a kind.
type DrillEnv struct {
	// Scratch is a private folder (0700) for this drill, removed after it.
	Scratch string
	// Name is unique to this drill and safe in database and domain names
	// ("cadang_drill_42"): scratch resources are named after it.
	Name string
	// Manifest is what the backup recorded (BackupResult.Manifest), or nil.
	Manifest json.RawMessage
	// Checks are the target's own drill checks (drill.checks; SQL returning true for
	// the database kinds).
	Checks []string
	// BootSeconds is how long a restored VM must stay running (drill.boot_seconds).
	BootSeconds int
	// Server is where a database drill restores (drill.server, a URL); empty: the
	// target's own server, which a kind refuses unless AllowProduction is set.
	Server          string
	AllowProduction bool
	Log             *slog.Logger

	// Check records a verification for the report.
	Check func(DrillCheck)
	// Restored adds bytes restored, for the throughput.
	Restored func(n int64)
}

// DrillStep is one step of a kind's drill.
type DrillStep struct {
	Key     string // "restore", "verify", "cleanup", ...
	Title   string // English
	TitleID string // Bahasa Indonesia
	Timeout time.Duration
	Always  bool // runs even after a failed step (clean-up)
	// Verify marks the steps whose end is "verified": the RTO is measured to the end
	// of the last of them.
	Verify bool
	Run    func(ctx context.Context) (summary string, err error)
}

// DrillCheck is one verification a drill made.
type DrillCheck struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail,omitempty"`
}

// Entry is one file of a snapshot as restic lists it.
type Entry struct {
	Path  string    `json:"path"`
	Type  string    `json:"type"` // file, dir, symlink, ...
	Size  uint64    `json:"size"`
	MTime time.Time `json:"mtime"`
}

// Lister is implemented by Readers that can list a snapshot's files (restic ls).
type Lister interface {
	List(ctx context.Context) ([]Entry, error)
}
