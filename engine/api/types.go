package api

import (
	"encoding/json"
	"time"
)

// Error is every error answer: {"error": "one line"}.
type Error struct {
	Error string `json:"error"`
	// Code is a stable word for the kind of refusal, for programs (the network API's
	// unauthenticated, invalid_token, forbidden, rate_limited, too_many_failures).
	Code string `json:"code,omitempty"`
}

// RunStatus is the status of a run.
type RunStatus string

// Run statuses. A run is good only when it Succeeded.
const (
	Queued      RunStatus = "queued"
	Running     RunStatus = "running"
	Succeeded   RunStatus = "succeeded"
	Failed      RunStatus = "failed"
	Partial     RunStatus = "partial"     // a backup that could not read some files
	Interrupted RunStatus = "interrupted" // the daemon stopped (or died) while it ran
	Cancelled   RunStatus = "cancelled"
)

// Done reports whether a run with this status has ended.
func (s RunStatus) Done() bool { return s != Queued && s != Running }

// Run is one piece of work the daemon did or does: a backup, a restore, a check, ...
type Run struct {
	ID     uint64    `json:"id"`
	Op     string    `json:"op"` // backup, restore, forget, prune, check, unlock, replicate, verify, drill
	Target string    `json:"target,omitempty"`
	Agency string    `json:"agency,omitempty"`
	Kind   string    `json:"kind,omitempty"`
	DRC    string    `json:"drc,omitempty"`
	Reason string    `json:"reason,omitempty"` // on-demand, schedule, catch-up, recovery, ...
	Agent  string    `json:"agent,omitempty"`  // the cadang agent that executed it; empty: the daemon
	Status RunStatus `json:"status"`

	Queued  time.Time `json:"queued"`
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	// Time is when the run started, or was queued if it has not started: every list
	// of cadang has a "time".
	Time time.Time `json:"time"`

	SnapshotID     string          `json:"snapshot_id,omitempty"`
	Destination    string          `json:"destination,omitempty"` // of a restore, secrets redacted
	BytesProcessed uint64          `json:"bytes_processed,omitempty"`
	BytesAdded     uint64          `json:"bytes_added"`            // new data, before compression
	BytesStored    uint64          `json:"bytes_stored,omitempty"` // what it took in the repository
	FilesProcessed uint64          `json:"files_processed,omitempty"`
	FilesNew       uint64          `json:"files_new,omitempty"`
	FilesChanged   uint64          `json:"files_changed,omitempty"`
	Error          string          `json:"error,omitempty"` // one line
	Notes          []string        `json:"notes,omitempty"`
	Manifest       json.RawMessage `json:"manifest,omitempty"` // kind-specific facts
	PID            int             `json:"pid,omitempty"`      // the daemon that ran it
}

// RunInfo is a run with its live state: GET /v1/runs/{id}, and every answer that
// queues runs.
type RunInfo struct {
	Run
	Progress *Progress `json:"progress,omitempty"`
	Waiting  string    `json:"waiting,omitempty"` // why a queued run waits
}

// Progress is what a running run is doing.
type Progress struct {
	Phase            string  `json:"phase,omitempty"` // before-hooks, backup, after-hooks, restore, ...
	PercentDone      float64 `json:"percent_done"`
	BytesDone        uint64  `json:"bytes_done,omitempty"`
	TotalBytes       uint64  `json:"total_bytes,omitempty"`
	FilesDone        uint64  `json:"files_done,omitempty"`
	TotalFiles       uint64  `json:"total_files,omitempty"`
	SecondsRemaining uint64  `json:"seconds_remaining,omitempty"`
	Errors           uint64  `json:"errors,omitempty"`
}

// CancelAnswer is the answer of POST /v1/runs/{id}/cancel.
type CancelAnswer struct {
	Cancelled uint64 `json:"cancelled"`
}

// Status is the answer of GET /v1/status.
type Status struct {
	Version  string    `json:"version"`
	PID      int       `json:"pid"`
	Started  time.Time `json:"started"`
	StateDir string    `json:"state_dir"`
	Config   string    `json:"config"`
	Restic   string    `json:"restic"`
	Queued   int       `json:"queued"`
	Running  []RunInfo `json:"running"`
	DRCs     []DRCInfo `json:"drcs"`
	Targets  int       `json:"targets"`

	Now          time.Time        `json:"now"`
	TimeZone     string           `json:"timezone"`
	Blackout     *Window          `json:"blackout,omitempty"` // the maintenance window open now
	Waiting      []RunInfo        `json:"waiting"`            // queued runs, first to start first (at most 200)
	Next         []PlannedRun     `json:"next"`               // the next scheduled runs
	TargetStatus []TargetStatus   `json:"target_status"`
	Repositories []RepoState      `json:"repositories"` // last check and prune of each repository
	Replication  []ReplicationLag `json:"replication"`  // how far each secondary is behind
	// Problems are what monitoring must hear about, one line each: failed last
	// backups, targets without a good snapshot or over their rpo, secondaries over
	// their max_lag, failed checks. DRCs are not probed for a status: their own
	// problems are in GET /v1/drcs.
	Problems []string `json:"problems"`
	// Site is this cadang's role among the sites (standby.go).
	Site *SiteStatus `json:"site,omitempty"`
	// Agents are the enrolled agents (cluster.agents) and what their last heartbeat
	// said; absent without cluster: (docs/agents.md).
	Agents []AgentInfo `json:"agents,omitempty"`
}

// AgentInfo is an enrolled agent in a status answer.
type AgentInfo struct {
	Name    string `json:"name"`
	Pool    string `json:"pool,omitempty"`
	Host    string `json:"host,omitempty"`    // the host name its heartbeat gave
	Version string `json:"version,omitempty"` // its cadang version
	// LastHeartbeat is when its last heartbeat arrived (absent: never).
	LastHeartbeat *time.Time `json:"last_heartbeat,omitempty"`
	// Up: a heartbeat within cluster.heartbeat_timeout.
	Up bool `json:"up"`
	// Running are the runs its last heartbeat said it runs, of at most Capacity.
	Running  []uint64 `json:"running"`
	Capacity int      `json:"capacity,omitempty"`
}

// Window is a maintenance window.
type Window struct {
	Name  string    `json:"name"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// DRCInfo describes a DRC in a status answer.
type DRCInfo struct {
	Name     string `json:"name"`
	Role     string `json:"role"` // primary or secondary
	Kind     string `json:"kind"` // s3 or path
	Location string `json:"location"`
}

// TargetInfo describes a configured target: GET /v1/targets.
type TargetInfo struct {
	Name     string `json:"name"`
	Agency   string `json:"agency"`
	Kind     string `json:"kind"`
	Schedule string `json:"schedule,omitempty"`
}

// TargetStatus is a target's state in a status answer.
type TargetStatus struct {
	Name     string     `json:"name"`
	Agency   string     `json:"agency"`
	Kind     string     `json:"kind"`
	Schedule string     `json:"schedule,omitempty"`
	NextRun  *time.Time `json:"next_run,omitempty"`
	// LastBackup is the latest backup run (queued, running or ended).
	LastBackup *RunBrief `json:"last_backup,omitempty"`
	// The newest and the oldest good snapshot (the catalog's view), and how many.
	NewestGood    *time.Time `json:"newest_good,omitempty"`
	OldestGood    *time.Time `json:"oldest_good,omitempty"`
	GoodSnapshots int        `json:"good_snapshots"`
	// Damaged counts, per DRC, the good snapshots that cannot be restored whole there
	// (they need an object no DRC holds a good copy of). Those damaged at the primary
	// do not count as the newest good one.
	Damaged map[string]int `json:"damaged,omitempty"`
	// RPOSeconds is the target's recovery point objective (its rpo, else twice the
	// archive interval of a continuous postgres target, else its schedule's interval
	// plus 2h; 0: none), and RPOGrade its grade at each DRC
	// (ok, exceeded, severe, critical: the age of the newest good snapshot restorable
	// whole there over the RPO), as the metrics grade it.
	RPOSeconds float64           `json:"rpo_seconds"`
	RPOGrade   map[string]string `json:"rpo_grade,omitempty"`
}

// RunBrief is a run in a few fields.
type RunBrief struct {
	ID     uint64    `json:"id"`
	Status RunStatus `json:"status"`
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"time"`
	Error  string    `json:"error,omitempty"`
}

// RepoState is the maintenance state of one repository (an agency's at a DRC).
type RepoState struct {
	DRC    string `json:"drc"`
	Agency string `json:"agency"`
	// The data-read rotation of checks: the next check reads part NextPart of Parts.
	Parts     int          `json:"parts,omitempty"`
	NextPart  int          `json:"next_part,omitempty"`
	LastCheck *CheckResult `json:"last_check,omitempty"`
	LastPrune *OpResult    `json:"last_prune,omitempty"`
}

// CheckResult is the outcome of a check run.
type CheckResult struct {
	Run         uint64    `json:"run"`
	Time        time.Time `json:"time"`
	Status      RunStatus `json:"status"`
	Subset      string    `json:"subset,omitempty"` // "3/20": the part of the data read; "" when none
	Errors      int       `json:"errors"`
	BrokenPacks []string  `json:"broken_packs,omitempty"`
	Message     string    `json:"message,omitempty"`
}

// OpResult is the outcome of a maintenance run (a prune).
type OpResult struct {
	Run     uint64    `json:"run"`
	Time    time.Time `json:"time"`
	Status  RunStatus `json:"status"`
	Message string    `json:"message,omitempty"`
}

// ReplicationLag is how far a secondary is behind the primary, from the ledger.
type ReplicationLag struct {
	DRC              string  `json:"drc"`
	Lag              string  `json:"lag"` // age of the oldest snapshot at the primary not yet here
	LagSeconds       float64 `json:"lag_seconds"`
	SnapshotsPending int     `json:"snapshots_pending"`
	OldestTarget     string  `json:"oldest_target,omitempty"`
	BytesPending     int64   `json:"bytes_pending"`
	MaxLag           string  `json:"max_lag,omitempty"`
	LagExceeded      bool    `json:"lag_exceeded"`
}

// PlannedRun is a run the schedules will queue: GET /v1/schedule and status.
type PlannedRun struct {
	Time   time.Time  `json:"time"` // when it comes due (a window: when it opens)
	Op     string     `json:"op"`   // backup, drill, prune, check; blackout for a window
	Target string     `json:"target,omitempty"`
	DRC    string     `json:"drc,omitempty"`
	Agency string     `json:"agency,omitempty"`
	Status string     `json:"status"`           // planned, or held (due in a maintenance window)
	Until  *time.Time `json:"until,omitempty"`  // a window's end, or when a held run may start
	Reason string     `json:"reason,omitempty"` // the window's name
	Cron   string     `json:"cron,omitempty"`
	Jitter string     `json:"jitter,omitempty"`
}

// ScheduleAnswer is the answer of GET /v1/schedule.
type ScheduleAnswer struct {
	From     time.Time    `json:"from"`
	To       time.Time    `json:"to"`
	TimeZone string       `json:"timezone"`
	Runs     []PlannedRun `json:"runs"`
}

// SnapshotInfo is a snapshot as GET /v1/snapshots lists it.
type SnapshotInfo struct {
	ID      string               `json:"id"`
	ShortID string               `json:"short_id"`
	Target  string               `json:"target"`
	Agency  string               `json:"agency"`
	DRC     string               `json:"drc"`
	Time    time.Time            `json:"time"`
	Status  string               `json:"status"` // good, partial, bad
	Run     uint64               `json:"run,omitempty"`
	Paths   []string             `json:"paths"`
	Bytes   uint64               `json:"bytes,omitempty"`
	Sites   map[string]time.Time `json:"sites,omitempty"` // where it is restorable, since when
	// Missing lists the DRCs where it is not (yet); DeleteAt, the DRCs where it waits
	// for delete_after since it was deleted at the primary, and when it goes there.
	Missing  []string             `json:"missing,omitempty"`
	DeleteAt map[string]time.Time `json:"delete_at,omitempty"`
	// Damaged names the DRCs where it cannot be restored whole (it needs an object
	// that no DRC holds a good copy of), and why.
	Damaged map[string]string `json:"damaged,omitempty"`
	// Immutable says, per immutable DRC (S3 Object Lock), until when at least the
	// snapshot's copy there cannot be changed or deleted: the lock set when it was
	// written (retain + delete_after); the daily extension pass keeps a live one
	// locked longer.
	Immutable map[string]time.Time `json:"immutable,omitempty"`
}

// Listing is the answer of GET /v1/ls: a folder of a snapshot.
type Listing struct {
	Target   string    `json:"target"`
	DRC      string    `json:"drc"`
	Snapshot string    `json:"snapshot"`
	Time     time.Time `json:"time"` // of the snapshot
	Path     string    `json:"path"` // the folder listed, "/" for the snapshot's top
	Entries  []Entry   `json:"entries"`
}

// Entry is a file, folder or link of a snapshot.
type Entry struct {
	Path string    `json:"path"`
	Type string    `json:"type"` // file, dir, symlink, dev, ...
	Size uint64    `json:"size"`
	Time time.Time `json:"time"` // its modification time
}

// DRCStatus is one DRC as GET /v1/drcs (`cadang drc status`) shows it.
type DRCStatus struct {
	DRC      string    `json:"drc"`
	Role     string    `json:"role"`
	Kind     string    `json:"kind"`
	Location string    `json:"location"`
	Status   string    `json:"status"` // ok, unreachable, alarm, lagging, failing, unknown
	Time     time.Time `json:"time"`   // when its health was checked
	Health   Health    `json:"health"`
	// Replication is set for a secondary.
	Replication *ReplicationStatus `json:"replication,omitempty"`
	Alarms      []Alarm            `json:"alarms,omitempty"` // active alarms about objects at this DRC
	// Immutability is set for a DRC configured immutable (S3 Object Lock).
	Immutability *ImmutabilityStatus `json:"immutability,omitempty"`
	// Problems say, one line each, why Status is not ok.
	Problems []string `json:"problems"`
}

// ImmutabilityStatus is what drc status reads at an immutable DRC.
type ImmutabilityStatus struct {
	Mode   string `json:"mode"`   // compliance or governance
	Retain string `json:"retain"` // immutability.retain
	// LockedUntil is until when the newest snapshot is locked there (its snapshot file's
	// retain-until date; the earliest over the agencies: LockedAgency's).
	LockedUntil    time.Time `json:"locked_until,omitzero"`
	LockedAgency   string    `json:"locked_agency,omitempty"`
	LockedSnapshot string    `json:"locked_snapshot,omitempty"`
	// Unlocked lists the agencies whose newest snapshot there carries no retention.
	Unlocked []string `json:"unlocked,omitempty"`
	// Hidden counts, per agency (and "_state" for cadang's state bundles), the objects hidden behind delete markers (a problem:
	// `cadang drc recover` makes them visible again).
	Hidden map[string]int `json:"hidden,omitempty"`
	Error  string         `json:"error,omitempty"` // what could not be read, one line
	// KeyCanDelete says whether the DRC's key may remove object versions (the mirror
	// removes expired objects itself); when it may not, Lifecycle describes the
	// bucket's rule that expires noncurrent versions and delete markers (expired
	// objects are left to it), and Warning says when there is none.
	KeyCanDelete *bool  `json:"key_can_delete,omitempty"`
	Lifecycle    string `json:"lifecycle,omitempty"`
	Warning      string `json:"warning,omitempty"`
}

// RecoverReport is what a recover run did, kept as its manifest.
type RecoverReport struct {
	Hidden    int      `json:"hidden"`    // objects found hidden behind delete markers
	Recovered int      `json:"recovered"` // made visible again
	Markers   int      `json:"markers"`   // delete markers removed
	Failed    int      `json:"failed"`
	Objects   []string `json:"objects,omitempty"` // the recovered objects (the first 1,000)
	// Objects whose current version was not cadang's (overwritten), and those whose
	// earlier, intact version was made current again.
	Overwritten int      `json:"overwritten"`
	Restored    int      `json:"restored"`
	Replaced    []string `json:"replaced,omitempty"` // the restored objects (the first 1,000)
}

// Health is what a probe of a DRC found.
type Health struct {
	DRC        string    `json:"drc"`
	Reachable  bool      `json:"reachable"`
	Error      string    `json:"error,omitempty"` // one line, naming the DRC
	Checked    time.Time `json:"checked"`
	LatencyMS  float64   `json:"latency_ms"`
	FreeBytes  *uint64   `json:"free_bytes,omitempty"`
	TotalBytes *uint64   `json:"total_bytes,omitempty"`
	Capacity   string    `json:"capacity,omitempty"`    // why free space is not known
	Versioning string    `json:"versioning,omitempty"`  // enabled, suspended, off (S3); n/a for a directory
	ObjectLock string    `json:"object_lock,omitempty"` // off, or "on" with the default retention
	// Immutability is set for a DRC configured immutable ("compliance, 30d"); LockError
	// says why its bucket cannot lock objects (a problem, never a silent downgrade).
	Immutability string `json:"immutability,omitempty"`
	LockError    string `json:"lock_error,omitempty"`
}

// ReplicationStatus is how far a secondary is behind the primary.
type ReplicationStatus struct {
	LagSeconds       float64   `json:"lag_seconds"`
	Lag              string    `json:"lag"`
	MaxLag           string    `json:"max_lag,omitempty"`
	LagExceeded      bool      `json:"lag_exceeded"`
	SnapshotsPending int       `json:"snapshots_pending"` // at the primary, not yet here
	OldestPending    string    `json:"oldest_pending,omitempty"`
	OldestTarget     string    `json:"oldest_target,omitempty"`
	ObjectsPending   int       `json:"objects_pending"` // as of the last pass or scan
	BytesPending     int64     `json:"bytes_pending"`
	PendingDeletions int       `json:"pending_deletions"`
	NextDeletion     time.Time `json:"next_deletion,omitzero"`
	DeleteAfter      string    `json:"delete_after"`
	Bandwidth        string    `json:"bandwidth"`
	Workers          int       `json:"workers"`
	LastPass         time.Time `json:"last_pass,omitzero"`
	LastSuccess      time.Time `json:"last_success,omitzero"`
	LastError        string    `json:"last_error,omitempty"`
	ToPrimary        int       `json:"to_primary"` // snapshots written here that the primary has not got yet
}

// Alarm is damage found at a DRC: raised once, counted while it repeats, resolved when
// it is no longer found.
type Alarm struct {
	ID       uint64    `json:"id"`
	Kind     string    `json:"kind"`
	DRC      string    `json:"drc"`
	Agency   string    `json:"agency"`
	Object   string    `json:"object,omitempty"`
	Message  string    `json:"message"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	Count    int       `json:"count"`
	Resolved time.Time `json:"resolved,omitzero"`
	Time     time.Time `json:"time"`   // when it was last raised
	Status   string    `json:"status"` // active or resolved
}

// VerifyReport is what a verify run found, kept as the run's manifest.
type VerifyReport struct {
	DRC      string         `json:"drc"`
	ReadData bool           `json:"read_data"`
	Agencies []AgencyVerify `json:"agencies"`
	Problems int            `json:"problems"`
}

// AgencyVerify is the verification of one agency's repository at the DRC.
type AgencyVerify struct {
	Agency     string        `json:"agency"`
	Check      string        `json:"check"` // ok, or restic check's complaint
	Objects    int           `json:"objects"`
	Bytes      int64         `json:"bytes"`
	Corrupt    []string      `json:"corrupt,omitempty"`      // content does not hash to its name (with read_data)
	KeyProblem []string      `json:"key_problems,omitempty"` // keys/ objects that do not hash to their name
	Compared   []SiteCompare `json:"compared,omitempty"`
	Note       string        `json:"note,omitempty"`
}

// SiteCompare is the difference between this DRC's objects and another's.
type SiteCompare struct {
	With             string   `json:"with"`
	Error            string   `json:"error,omitempty"`
	SameConfig       bool     `json:"same_config"`
	Missing          int      `json:"missing"` // at the other DRC, not here
	Extra            int      `json:"extra"`   // here, not at the other DRC
	SizeDiffers      int      `json:"size_differs"`
	PendingDeletion  int      `json:"pending_deletion"` // of the extra (or missing) ones, waiting for delete_after
	MissingExamples  []string `json:"missing_examples,omitempty"`
	ExtraExamples    []string `json:"extra_examples,omitempty"`
	DiffersExamples  []string `json:"size_differs_examples,omitempty"`
	NotYetReplicated bool     `json:"not_yet_replicated,omitempty"` // missing here are the primary's newest objects
}

// ReloadAnswer says what a reload of the daemon's configuration did: POST /v1/reload.
type ReloadAnswer struct {
	Config    string   `json:"config"`    // the file
	Digest    string   `json:"digest"`    // SHA-256 of the file as now loaded
	Unchanged bool     `json:"unchanged"` // the file had not changed: nothing to do
	Added     []string `json:"added"`     // targets
	Removed   []string `json:"removed"`
	Changed   []string `json:"changed"`
	// Warnings are what the new configuration does that its users should hear about
	// in time: a maintenance window added less than 24 hours before it starts
	// (policy 4.2), with the agencies whose runs it holds.
	Warnings []string `json:"warnings,omitempty"`
}

// Damage is an object of a repository at a DRC whose bytes are wrong or unreadable:
// GET /v1/damage. It stays open until it is repaired from another DRC, or moved aside
// at the primary when no DRC holds it whole.
type Damage struct {
	ID           uint64    `json:"id"`
	DRC          string    `json:"drc"`
	Agency       string    `json:"agency"`
	Object       string    `json:"object"`
	How          string    `json:"how"` // what found it: replication, verify, check, restore, drill, repair, stall
	Run          uint64    `json:"run,omitempty"`
	Message      string    `json:"message"`
	First        time.Time `json:"first"`
	Time         time.Time `json:"time"` // when it was last found
	Count        int       `json:"count"`
	Status       string    `json:"status"` // open, repaired, quarantined, gone
	RepairedFrom string    `json:"repaired_from,omitempty"`
	RepairRun    uint64    `json:"repair_run,omitempty"`
	Closed       time.Time `json:"closed,omitzero"`
	Lost         bool      `json:"lost,omitempty"` // no DRC held a good copy
	Snapshots    []string  `json:"snapshots,omitempty"`
	Note         string    `json:"note,omitempty"`
}

// RepairReport is what a repair run did (or, dry, would do), kept as its manifest.
type RepairReport struct {
	DRC     string           `json:"drc"`
	Agency  string           `json:"agency"`
	DryRun  bool             `json:"dry_run,omitempty"`
	Objects []RepairedObject `json:"objects"`
	// Lost is what the snapshots at the DRC lose when no DRC holds an object whole:
	// the files (and directories, ending in /) restic's `repair snapshots` would cut.
	Lost        []Loss `json:"lost,omitempty"`
	IndexRepair string `json:"index_repair,omitempty"` // restic repair index's summary, after a quarantine
}

// RepairedObject is one damaged object and what the repair did with it.
type RepairedObject struct {
	Object  string `json:"object"`
	Outcome string `json:"outcome"` // repaired, would-repair, quarantined, lost, gone, failed
	From    string `json:"from,omitempty"`
	Message string `json:"message,omitempty"`
}

// Loss is what one snapshot loses.
type Loss struct {
	Snapshot string   `json:"snapshot"`
	Paths    []string `json:"paths"`
	More     int      `json:"more,omitempty"`
}

// AuditEntry is one call recorded in the audit log: GET /v1/audit. Entries are
// append-only and chained: Hash is the SHA-256 of every other field (Prev included),
// Prev the Hash of the entry before.
type AuditEntry struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Principal string    `json:"principal"`        // "uid:0" for the unix socket's peer
	Role      string    `json:"role"`             // operator, ...
	Agency    string    `json:"agency,omitempty"` // whose object it was, when known
	Action    string    `json:"action"`           // the route: "POST /v1/backups"
	Object    string    `json:"object,omitempty"` // a target, "run 12", ...
	Ticket    string    `json:"ticket,omitempty"` // the E-Layanan ticket (X-Cadang-Ticket)
	Status    int       `json:"status"`           // the HTTP status answered
	Result    string    `json:"result"`           // "ok", or the error's first line
	Source    string    `json:"source"`           // "unix", or the remote address
	Prev      string    `json:"prev"`
	Hash      string    `json:"hash"`
}

// AuditVerification is the check of the audit log's chain: GET /v1/audit/verify.
// When it is not intact, BrokenSeq is the first entry that is wrong, and Why says how.
type AuditVerification struct {
	Intact    bool   `json:"intact"`
	Checked   int    `json:"checked"`
	BrokenSeq uint64 `json:"broken_seq,omitempty"`
	Why       string `json:"why,omitempty"`
	// HeadSeq and Head are the last entry's seq and hash: kept elsewhere, they let a
	// later check prove that the log was not cut and rewritten since.
	HeadSeq uint64 `json:"head_seq,omitempty"`
	Head    string `json:"head,omitempty"`
}

// TicketHeader carries the E-Layanan ticket number of a request; it is recorded in the
// audit log.
const TicketHeader = "X-Cadang-Ticket"

// OnBehalfOfHeader names the agency a portal token acts for in a request.
const OnBehalfOfHeader = "X-Cadang-On-Behalf-Of"

// Token roles: who a token's bearer is (docs/operations.md says what each may do).
const (
	RoleOperator        = "operator"
	RoleAuditor         = "auditor"
	RoleAgencyAdmin     = "agency-admin"
	RoleAgencyRequester = "agency-requester"
	RoleAgencyViewer    = "agency-viewer"
	RolePortal          = "portal"
)

// TokenCreated is a new API token with its secret: POST /v1/tokens answers it (201)
// once. Only the secret's hash is kept: it cannot be shown again.
type TokenCreated struct {
	Token   string    `json:"token"` // the secret, for "Authorization: Bearer ..."
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Agency  string    `json:"agency,omitempty"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// TokenInfo is an API token without its secret: GET /v1/tokens, POST
// /v1/tokens/{name}/revoke. Status is "active", "revoked" or "expired".
type TokenInfo struct {
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	Agency   string    `json:"agency,omitempty"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	Revoked  time.Time `json:"revoked,omitzero"`
	LastUsed time.Time `json:"last_used,omitzero"` // recorded at most once a minute
	Status   string    `json:"status"`
}

// Request is an agency's restore or export request: POST /v1/restores by an agency
// answers it (202, status "pending"); GET /v1/requests, GET /v1/requests/{id} and
// POST /v1/requests/{id}/approve|reject show it. Status is pending, approved (every
// approver approved: Run carries it out, RunState says how far it is), rejected,
// expired (nobody decided before Expires) or failed (approved, but its run could not
// be queued: Error says why).
type Request struct {
	ID            uint64            `json:"id"`
	Kind          string            `json:"kind"` // restore, export
	Agency        string            `json:"agency"`
	Target        string            `json:"target"`
	Requester     string            `json:"requester"`
	RequesterRole string            `json:"requester_role"`
	Ticket        string            `json:"ticket,omitempty"`
	Snapshot      string            `json:"snapshot"` // the full id, pinned when the request was made
	DRC           string            `json:"drc"`
	To            string            `json:"to,omitempty"`
	Force         bool              `json:"force,omitempty"`
	Include       []string          `json:"include,omitempty"`
	Options       map[string]string `json:"options,omitempty"`
	// Exports: the paths asked (none: the whole snapshot), the age public keys the
	// bundle is encrypted to, whether its link serves one download, and the bundle
	// once its run made it.
	Paths      []string  `json:"paths,omitempty"`
	Recipients []string  `json:"recipients,omitempty"`
	SingleUse  bool      `json:"single_use,omitempty"`
	Bundle     *Bundle   `json:"bundle,omitempty"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires"`
	// Approvers are the roles that must each approve: agency-admin, operator.
	Approvers []string   `json:"approvers"`
	Decisions []Decision `json:"decisions"`
	// Waiting are the approvers still to approve a pending request.
	Waiting  []string  `json:"waiting"`
	Status   string    `json:"status"`
	Decided  time.Time `json:"decided,omitzero"`
	Run      uint64    `json:"run,omitempty"`
	RunState string    `json:"run_state,omitempty"` // queued, running, good, failed, ... of Run
	Error    string    `json:"error,omitempty"`
}

// ExportRequest asks for an export of a snapshot out of the data center: POST
// /v1/exports, by an agency. It is a request (answered 202, pending) that needs the
// same approval as a restore; once approved, its run streams the snapshot (the paths
// asked, or all of it: a database target's dump) into a tar.zst bundle encrypted to
// the recipients' age public keys, which the agency downloads from Bundle.Link until
// it expires.
type ExportRequest struct {
	Target     string   `json:"target"`
	Snapshot   string   `json:"snapshot,omitempty"` // an id, a unique prefix, or "latest" (the default)
	DRC        string   `json:"drc,omitempty"`      // default: the primary
	Paths      []string `json:"paths,omitempty"`    // files targets: absolute paths of the snapshot (default: all)
	Recipients []string `json:"recipients"`         // age public keys (age1...) or SSH public keys
	SingleUse  bool     `json:"single_use,omitempty"`
	// Expires is how long the download link serves once the bundle is ready: a
	// duration (24h by default, 7d at most).
	Expires string `json:"expires,omitempty"`
}

// Bundle is an export's encrypted bundle: GET Link (with the agency's token) downloads
// it while it has not expired (nor, single use, been downloaded). SHA256 is of the
// encrypted bytes, for the agency to check what it received.
type Bundle struct {
	Link       string     `json:"link"`
	Bytes      int64      `json:"bytes"`
	PlainBytes int64      `json:"plain_bytes"`
	Files      int        `json:"files"`
	SHA256     string     `json:"sha256"`
	Ready      time.Time  `json:"ready"`
	Expires    time.Time  `json:"expires"`
	Downloads  []Download `json:"downloads"`
	Deleted    time.Time  `json:"deleted,omitzero"`
	DeletedWhy string     `json:"deleted_why,omitempty"`
	// Handover is the hand-over report (Berita Acara Serah Terima Data) once
	// downloaded: add ?format=pdf|html|json&lang=id|en.
	Handover string `json:"handover,omitempty"`
}

// Download is one whole download of a bundle: the hand-over of the data.
type Download struct {
	Time time.Time `json:"time"`
	By   string    `json:"by"`
	Role string    `json:"role"`
}

// Decision is one approval or rejection of a request.
type Decision struct {
	By      string    `json:"by"`
	Role    string    `json:"role"`
	Approve bool      `json:"approve"`
	Comment string    `json:"comment,omitempty"`
	Time    time.Time `json:"time"`
}

// DecisionRequest is the body of POST /v1/requests/{id}/approve and .../reject; a
// rejection needs a comment (why).
type DecisionRequest struct {
	Comment string `json:"comment,omitempty"`
}

// Actor is who makes a request, as the API authenticated it: the service checks its
// rights on the request's object (an agency's own, an approver's role).
type Actor struct {
	Name   string // the token's name, or uid:N for the unix socket's peer
	Role   string // operator, auditor, agency-admin, agency-requester, agency-viewer, portal
	Agency string // the agency it acts for, "" for the data center's own
	Ticket string // the E-Layanan ticket (X-Cadang-Ticket)
	Source string // where the request came from
}

// StateStatus is the protection of cadang's own state: GET /v1/state. Per DRC, the
// newest state bundle there, its age and whether its bytes are whole (their SHA-256 is
// its sidecar's; opening it needs an escrow identity, kept offline).
type StateStatus struct {
	Enabled    bool       `json:"enabled"` // state_protection has escrow recipients
	Interval   string     `json:"interval"`
	Recipients int        `json:"recipients"`
	DRCs       []StateDRC `json:"drcs"`
}

// StateDRC is the state bundles at one DRC.
type StateDRC struct {
	DRC     string    `json:"drc"`
	Bundles int       `json:"bundles"`
	Newest  string    `json:"newest,omitempty"`
	Time    time.Time `json:"time,omitzero"`
	Age     string    `json:"age,omitempty"`
	Bytes   int64     `json:"bytes,omitempty"`
	Whole   bool      `json:"whole"`
	Problem string    `json:"problem,omitempty"` // why the newest is not whole, or the DRC cannot be listed
	// LastError is why the last bundle could not be written here (an alarm is raised).
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
}

// NotifyTestRequest asks for a test message on a notification channel: POST
// /v1/notify/test (cadang notify test CHANNEL).
type NotifyTestRequest struct {
	Channel string `json:"channel"`
}

// SiteLease is the takeover lease (standby.go): the object _state/primary-lease.json
// in every DRC that answered when it was written, naming the one site whose cadang acts
// as the primary. A cadang that finds a lease naming another site acts on nothing (it
// starts read-only and says why). The highest epoch wins.
type SiteLease struct {
	Site     string    `json:"site"`  // the site that is primary
	Epoch    int       `json:"epoch"` // 1 at the first takeover, +1 at each change
	Kind     string    `json:"kind"`  // takeover or handback
	Since    time.Time `json:"since"`
	By       string    `json:"by"`               // who asked (principal)
	Previous string    `json:"previous"`         // the site that was primary before
	Bundle   string    `json:"bundle,omitempty"` // handback: the state bundle the site applies to resume
}

// SiteStatus is what this cadang is among the sites that share the DRCs: GET
// /v1/status's site, and the answer of POST /v1/takeover and /v1/handback.
type SiteStatus struct {
	Name    string         `json:"name"` // daemon.site
	Role    string         `json:"role"` // primary, standby, read-only
	Why     string         `json:"why,omitempty"`
	Lease   *SiteLease     `json:"lease,omitempty"`
	Standby *StandbyStatus `json:"standby,omitempty"`
	Down    []string       `json:"down,omitempty"`  // DRCs marked down by a takeover: backups go elsewhere
	Notes   []string       `json:"notes,omitempty"` // what a takeover or handback did, one line each
}

// StandbyStatus is how far behind a standby is: the state bundle it applied last.
type StandbyStatus struct {
	Of        string    `json:"of"`         // the site whose state it applies
	SourceDRC string    `json:"source_drc"` // where it reads the bundles
	Bundle    string    `json:"bundle,omitempty"`
	StateAsOf time.Time `json:"state_as_of,omitempty"` // when that bundle was made
	Lag       string    `json:"lag,omitempty"`         // now - StateAsOf
	Applied   time.Time `json:"applied,omitempty"`     // when it was applied here
	Checked   time.Time `json:"checked,omitempty"`     // the last look for a newer one
	Error     string    `json:"error,omitempty"`       // why the last look failed
}

// TakeoverRequest promotes a standby: POST /v1/takeover. Confirm must be the name of
// the site taken over.
type TakeoverRequest struct {
	Confirm string `json:"confirm"`
}

// HandbackRequest returns the primary role: POST /v1/handback. At the site that took
// over, Confirm is the site it goes back to; at the site it goes back to (read-only
// until then), Identity is an escrow identity that opens the state bundle handed back
// (or daemon.standby.identity_file's is used). Identity is a secret: it travels only in
// this body and is never recorded.
type HandbackRequest struct {
	Confirm  string `json:"confirm,omitempty"`
	Identity string `json:"identity,omitempty"`
}
