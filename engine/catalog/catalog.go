// Package catalog is cadang's memory: runs, snapshots and what later parts keep
// (schedules, leases, the replication ledger), in one bbolt file under state_dir.
//
// bbolt allows one process at a time: Open waits a moment for the file lock and then
// reports ErrInUse, which is how a second daemon on the same state dir learns that one
// is already running. The file carries a schema version; Open applies the migrations
// that a newer cadang brings, in one transaction, and refuses a file written by a
// newer cadang than itself.
package catalog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrInUse means another process (a running daemon) holds the catalog.
var ErrInUse = errors.New("the catalog is in use by another cadang process")

// ErrNotFound is returned for a run or snapshot the catalog does not have.
var ErrNotFound = errors.New("not found")

// Catalog is an open catalog file.
type Catalog struct {
	db *bolt.DB
}

var (
	bucketMeta      = []byte("meta")
	bucketRuns      = []byte("runs")
	bucketTargetRun = []byte("target_runs")  // target -> bucket of run ids
	bucketSnapshots = []byte("snapshots")    // snapshot id -> Snapshot
	bucketTargetSnp = []byte("target_snaps") // target -> bucket of snapshot ids
	keySchema       = []byte("schema")
)

// migration brings a catalog from version-1 to version.
type migration struct {
	version int
	apply   func(tx *bolt.Tx) error
}

var migrations = []migration{
	{1, func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRuns, bucketTargetRun, bucketSnapshots, bucketTargetSnp} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}},
	{2, migrateDaemonState},        // schedules, leases, repository state (daemon.go)
	{3, migrateReplication},        // replication between the DRCs (replication.go)
	{4, migrateRedactDestinations}, // passwords in restore destinations' queries (redact.go)
	{5, migrateDamage},             // damaged objects at the DRCs (damage.go)
	{6, migrateAudit},              // the audit log (audit.go)
	{7, migrateTokens},             // API tokens (tokens.go)
	{8, migrateRequests},           // agencies' restore and export requests (requests.go)
	{9, migrateRunbookRuns},        // runbook runs and their steps' states (runbooks.go)
	{10, migrateRaised},            // the notifier's conditions on (raised.go)
}

// SchemaVersion is the version this cadang writes.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// Open opens (or creates) the catalog file, waiting up to timeout for another process
// to let go of it.
func Open(path string, timeout time.Duration) (*Catalog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	c := &Catalog{db: db}
	if err := c.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return c, nil
}

func (c *Catalog) migrate() error {
	return c.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		have := 0
		if v := meta.Get(keySchema); v != nil {
			have = int(binary.BigEndian.Uint64(v))
		}
		if have > SchemaVersion() {
			return fmt.Errorf("schema version %d is newer than this cadang knows (%d): run a newer cadang", have, SchemaVersion())
		}
		for _, m := range migrations {
			if m.version <= have {
				continue
			}
			if err := m.apply(tx); err != nil {
				return fmt.Errorf("migration to schema %d: %w", m.version, err)
			}
			have = m.version
		}
		return meta.Put(keySchema, u64(uint64(have)))
	})
}

// Copy gives fn a consistent copy of the whole catalog, as of one read transaction (a
// file copy of a live database is not one): its size, and a function that writes it.
// Writers wait for nothing: bbolt's readers do not block them.
func (c *Catalog) Copy(fn func(size int64, writeTo func(io.Writer) (int64, error)) error) error {
	return c.db.View(func(tx *bolt.Tx) error { return fn(tx.Size(), tx.WriteTo) })
}

// Schema returns the catalog's schema version.
func (c *Catalog) Schema() (int, error) {
	var v int
	err := c.db.View(func(tx *bolt.Tx) error {
		v = int(binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keySchema)))
		return nil
	})
	return v, err
}

// Close closes the file.
func (c *Catalog) Close() error { return c.db.Close() }

// Path returns the catalog file's path.
func (c *Catalog) Path() string { return c.db.Path() }

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func put(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// Status of a run.
type Status string

// Run statuses. A run is good only when it Succeeded.
const (
	Queued      Status = "queued"
	Running     Status = "running"
	Succeeded   Status = "succeeded"
	Failed      Status = "failed"
	Partial     Status = "partial"     // a backup that could not read some files
	Interrupted Status = "interrupted" // the daemon stopped (or died) while it ran
	Cancelled   Status = "cancelled"
)

// Done reports whether a run with this status has ended.
func (s Status) Done() bool { return s != Queued && s != Running }

// Run is one piece of work cadang did or does: a backup, a restore, ...
type Run struct {
	ID     uint64 `json:"id"`
	Op     string `json:"op"` // backup, restore, ...
	Target string `json:"target,omitempty"`
	Agency string `json:"agency,omitempty"`
	Kind   string `json:"kind,omitempty"`
	DRC    string `json:"drc,omitempty"`
	Reason string `json:"reason,omitempty"` // on-demand, schedule, catch-up, ...
	Agent  string `json:"agent,omitempty"`  // the cadang agent that executed it (cluster:); empty: the daemon
	Status Status `json:"status"`

	Queued  time.Time `json:"queued"`
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`

	SnapshotID     string          `json:"snapshot_id,omitempty"`
	Destination    string          `json:"destination,omitempty"` // of a restore
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

// Time is when the run started, or was queued if it has not started.
func (r *Run) Time() time.Time {
	if !r.Started.IsZero() {
		return r.Started
	}
	return r.Queued
}

// MarshalJSON adds "time" (see Time), which every list of cadang carries.
func (r Run) MarshalJSON() ([]byte, error) {
	type plain Run
	return json.Marshal(struct {
		plain
		Time time.Time `json:"time"`
	}{plain(r), r.Time()})
}

// AddRun stores a new run and sets its ID.
func (c *Catalog) AddRun(r *Run) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		runs := tx.Bucket(bucketRuns)
		id, err := runs.NextSequence()
		if err != nil {
			return err
		}
		r.ID = id
		return c.putRun(tx, r)
	})
}

// UpdateRun stores the new state of an existing run. Concurrent updates are committed
// together (bbolt's Batch), so many runs starting and ending at once share fsyncs.
func (c *Catalog) UpdateRun(r *Run) error {
	return c.db.Batch(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketRuns).Get(u64(r.ID)) == nil {
			return fmt.Errorf("run %d: %w", r.ID, ErrNotFound)
		}
		return c.putRun(tx, r)
	})
}

func (c *Catalog) putRun(tx *bolt.Tx, r *Run) error {
	if err := put(tx.Bucket(bucketRuns), u64(r.ID), r); err != nil {
		return err
	}
	if r.Target == "" {
		return nil
	}
	b, err := tx.Bucket(bucketTargetRun).CreateBucketIfNotExists([]byte(r.Target))
	if err != nil {
		return err
	}
	return b.Put(u64(r.ID), nil)
}

// Run returns one run.
func (c *Catalog) Run(id uint64) (*Run, error) {
	var r Run
	err := c.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRuns).Get(u64(id))
		if v == nil {
			return fmt.Errorf("run %d: %w", id, ErrNotFound)
		}
		return json.Unmarshal(v, &r)
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// RunFilter selects runs.
type RunFilter struct {
	Target string // only this target's runs
	Agency string // only this agency's runs
	Op     string // only this op
	Status Status // only runs with this status
	// ExceptReason passes over runs with this reason (a continuous target's log
	// batches, when its full backups are looked for).
	ExceptReason string
	Limit        int // at most this many (0: all)
}

func (f RunFilter) match(r *Run) bool {
	return (f.Op == "" || r.Op == f.Op) && (f.Status == "" || r.Status == f.Status) && (f.Agency == "" || r.Agency == f.Agency) &&
		(f.ExceptReason == "" || r.Reason != f.ExceptReason)
}

// Runs returns runs, newest first.
func (c *Catalog) Runs(f RunFilter) ([]Run, error) {
	var out []Run
	err := c.db.View(func(tx *bolt.Tx) error {
		runs := tx.Bucket(bucketRuns)
		var cur *bolt.Cursor
		if f.Target != "" {
			b := tx.Bucket(bucketTargetRun).Bucket([]byte(f.Target))
			if b == nil {
				return nil
			}
			cur = b.Cursor()
		} else {
			cur = runs.Cursor()
		}
		// An agency's runs are found among every run: a run of another agency is
		// passed over without decoding it (its JSON names its agency as written by
		// json.Marshal; an id needs no escaping).
		var agency []byte
		if f.Agency != "" {
			agency = []byte(`"agency":"` + f.Agency + `"`)
		}
		for k, v := cur.Last(); k != nil; k, v = cur.Prev() {
			if f.Target != "" {
				v = runs.Get(k)
			}
			if agency != nil && !bytes.Contains(v, agency) {
				continue
			}
			var r Run
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("run %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if !f.match(&r) {
				continue
			}
			out = append(out, r)
			if f.Limit > 0 && len(out) >= f.Limit {
				break
			}
		}
		return nil
	})
	return out, err
}

// Unfinished returns the runs that are queued or running, oldest first.
func (c *Catalog) Unfinished() ([]Run, error) {
	var out []Run
	err := c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRuns).ForEach(func(k, v []byte) error {
			var r Run
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if !r.Status.Done() {
				out = append(out, r)
			}
			return nil
		})
	})
	return out, err
}
