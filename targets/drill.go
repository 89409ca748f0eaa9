package targets

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/cadang/cadang/runbooks/msg"
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
	// WAL is set for a target protected continuously (a base and the log archived
	// after it, postgres and mysql mode: continuous): the Reader is then the newest good
	// base at the DRC (a base backup, a dump), and the kind restores to a point in time
	// it chooses.
	WAL WALArchive

	// Check records a verification for the report.
	Check func(DrillCheck)
	// Restored adds bytes restored, for the throughput.
	Restored func(n int64)
}

// WALArchive is the log archived at the DRC drilled after the base backup being
// drilled.
type WALArchive interface {
	// RestoreWAL waits until good snapshots at the DRC hold the archived log up to
	// the file last (a WAL segment name, a binlog file name) included, then restores
	// every log snapshot a restore from the base needs into dir (which it creates). It
	// returns how many snapshots it restored.
	RestoreWAL(ctx context.Context, last, dir string) (int, error)
}

// DrillStep is one step of a kind's drill. What it says goes into a report written
// in Bahasa Indonesia or English: Activity and Do say it as messages of the catalog
// (runbooks/msg), rendered in the report's language. Title, TitleID and Run are the
// plain-text form that kinds not yet on the catalog use: Title and TitleID are
// shown in their language, Run's summary and errors as they are.
type DrillStep struct {
	Key      string      // "restore", "verify", "cleanup", ...
	Activity msg.Message // what the step does; replaces Title and TitleID
	Title    string      // English (plain-text form)
	TitleID  string      // Bahasa Indonesia (plain-text form)
	Timeout  time.Duration
	Always   bool // runs even after a failed step (clean-up)
	// Verify marks the steps whose end is "verified": the RTO is measured to the end
	// of the last of them.
	Verify bool
	// Do runs the step and says what it found; an error made with msg.Fail says in
	// the report's language what went wrong. It replaces Run.
	Do  func(ctx context.Context) (summary msg.Message, err error)
	Run func(ctx context.Context) (summary string, err error) // plain-text form
}

// DrillCheck is one verification a drill made. What and Found say what was checked
// and what was found as messages of the catalog; Name and Detail are the plain-text
// form of kinds not yet on the catalog.
type DrillCheck struct {
	What   msg.Message `json:"what,omitzero"`
	Found  msg.Message `json:"found,omitzero"`
	Name   string      `json:"name,omitempty"`
	Passed bool        `json:"passed"`
	Detail string      `json:"detail,omitempty"`
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

// Exec runs the step in whichever form it has: Do, or Run (its summary a plain
// text).
func (s DrillStep) Exec(ctx context.Context) (msg.Message, error) {
	switch {
	case s.Do != nil:
		return s.Do(ctx)
	case s.Run != nil:
		summary, err := s.Run(ctx)
		return msg.Plain(summary), err
	}
	return msg.Message{}, msg.Fail("step.no_action")
}

// Heading is what the step does: Activity, or Title and TitleID.
func (s DrillStep) Heading() msg.Message {
	if !s.Activity.IsZero() {
		return s.Activity
	}
	return msg.Bilingual(s.Title, s.TitleID)
}

// Checked is what the check verified: What, or Name as plain text.
func (c DrillCheck) Checked() msg.Message {
	if !c.What.IsZero() {
		return c.What
	}
	return msg.Plain(c.Name)
}

// Result is what the check found: Found, or Detail as plain text.
func (c DrillCheck) Result() msg.Message {
	if !c.Found.IsZero() {
		return c.Found
	}
	return msg.Plain(c.Detail)
}
