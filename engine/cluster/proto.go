package cluster

import (
	"encoding/json"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/wal"
	"github.com/cadang/cadang/targets/postgres"
)

// Names on the NATS server.
const (
	JobsStream     = "CADANG_JOBS"
	ResultsStream  = "CADANG_RESULTS"
	AgentsBucket   = "cadang_agents"
	resultsDurable = "controller"
)

// Subjects of an agent and of a pool.
func jobSubject(agent string) string      { return "cadang.jobs.agent." + agent }
func poolSubject(pool string) string      { return "cadang.jobs.pool." + pool }
func resultSubject(agent string) string   { return "cadang.results." + agent }
func progressSubject(agent string) string { return "cadang.progress." + agent }
func heartbeatSubject(agent string) string {
	return "$KV." + AgentsBucket + "." + agent
}
func agentConsumer(agent string) string { return "agent-" + agent }
func poolConsumer(pool string) string   { return "pool-" + pool }
func inboxPrefix(agent string) string   { return "_INBOX_" + agent }

// Job is a message of CADANG_JOBS. Everything but the run's id is in Sealed, age-
// encrypted to the agents that may take the job.
type Job struct {
	Run    uint64 `json:"run"`
	Sealed []byte `json:"sealed"`
}

// Secret is a Job's sealed part.
type Secret struct {
	Target   string          `json:"target"`
	Agency   string          `json:"agency"`
	Kind     string          `json:"kind"`
	Spec     json.RawMessage `json:"spec"` // the target's kind section, as the kind's config type
	Tags     []string        `json:"tags"`
	DRC      Site            `json:"drc"`
	Password string          `json:"password"`
	Lease    time.Duration   `json:"lease"`
	// Unusable names the target's snapshots that the controller's catalog knows are
	// not good (partial, bad) or are damaged at this DRC: a kind that builds on an
	// earlier snapshot (targets.History, libvirt's incremental backups) passes over
	// them, as the daemon's own runs do.
	Unusable []string `json:"unusable,omitempty"`
	// WAL asks the agent to store the WAL spool of the target (a postgres target in
	// mode: continuous pinned to it) as one batch, instead of running the target.
	WAL bool `json:"wal,omitempty"`
}

// Progress is what an agent says about a run while it runs (core NATS, not kept).
type Progress struct {
	Run         uint64  `json:"run"`
	Agent       string  `json:"agent"`
	Phase       string  `json:"phase"`
	PercentDone float64 `json:"percent_done"`
	BytesDone   uint64  `json:"bytes_done"`
	TotalBytes  uint64  `json:"total_bytes"`
}

// Result is an agent's final word on a run: kept in its outbox until CADANG_RESULTS
// has it, and there until the controller has recorded it.
type Result struct {
	Run      uint64             `json:"run"`
	Agent    string             `json:"agent"`
	Error    string             `json:"error,omitempty"`
	Partial  bool               `json:"partial,omitempty"` // restic could not read some files
	Summary  *drc.BackupSummary `json:"summary,omitempty"`
	Notes    []string           `json:"notes,omitempty"`
	Manifest json.RawMessage    `json:"manifest,omitempty"`
	Started  time.Time          `json:"started"`
	Ended    time.Time          `json:"ended"`
}

// Heartbeat is an agent's entry in the cadang_agents bucket.
type Heartbeat struct {
	Name     string    `json:"name"`
	Pool     string    `json:"pool,omitempty"`
	Host     string    `json:"host"`
	Version  string    `json:"version"`
	Time     time.Time `json:"time"`
	Running  []uint64  `json:"running"`
	Capacity int       `json:"capacity"`
	// WAL is the state of the agent's WAL spools, by target (agentwal.go).
	WAL map[string]WALState `json:"wal,omitempty"`
}

// WALState is an agent's WAL spool of a target: what it holds and, when it is empty,
// where the server's WAL ends (read at most once per archive interval), so that the
// controller can tell an idle server from a broken archive.
type WALState struct {
	wal.State
	Position *postgres.WALPosition `json:"position,omitempty"`
	Asked    time.Time             `json:"asked,omitzero"` // when Position was read
}

// Site is the DRC a job writes to: its S3 credentials inline (no file names), or a
// path the agent reaches too.
type Site struct {
	Name string        `json:"name"`
	S3   *drc.S3Config `json:"s3,omitempty"`
	Path string        `json:"path,omitempty"`
}
