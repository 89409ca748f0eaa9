package catalog

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cadang/cadang/runbooks"
)

// Runbook runs are executions of failover runbooks (plan test, real). Each step's state
// is written here as it changes, so that a daemon that stopped in the middle of a run
// continues it from the step that was running when it starts again.

var bucketRunbookRuns = []byte("runbook_runs") // id -> RunbookRun (JSON)

func migrateRunbookRuns(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bucketRunbookRuns)
	return err
}

// RunbookRun is one execution of a runbook.
type RunbookRun struct {
	ID      uint64 `json:"id"`
	Runbook string `json:"runbook"`
	Mode    string `json:"mode"` // test or real
	// Status is one of runbooks.Run* (running, waiting, succeeded, failed, halted, aborted).
	Status string `json:"status"`
	// The runbook as it ran: its file, the SHA-256 of its source and its version label.
	File    string    `json:"file"`
	Digest  string    `json:"digest"`
	Version string    `json:"version,omitempty"`
	By      string    `json:"by"` // who started it
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// Steps are the steps' states, in the runbook's order (undo steps last).
	Steps []runbooks.StepResult `json:"steps"`
	// Events are what people did to the run: approvals, refusals, continue, abort.
	Events []RunbookEvent `json:"events,omitempty"`
	// Reports are the report files written when the run ended (report.dir).
	Reports []string `json:"reports,omitempty"`
	// PID is the daemon that executes it: a run left running by another pid was
	// interrupted by a stop of that daemon and is resumed.
	PID int `json:"pid"`
}

// RunbookEvent is one thing a person did to a runbook run.
type RunbookEvent struct {
	Time   time.Time `json:"time"`
	By     string    `json:"by"`
	Role   string    `json:"role,omitempty"`
	What   string    `json:"what"` // approve, refuse, continue, abort, resume
	Step   string    `json:"step,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// AddRunbookRun records a new runbook run and sets its id.
func (c *Catalog) AddRunbookRun(r *RunbookRun) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRunbookRuns)
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		r.ID = id
		return put(b, u64(id), r)
	})
}

// RunbookRun returns runbook run id.
func (c *Catalog) RunbookRun(id uint64) (RunbookRun, error) {
	var r RunbookRun
	err := c.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRunbookRuns).Get(u64(id))
		if v == nil {
			return fmt.Errorf("runbook run %d: %w", id, ErrNotFound)
		}
		return json.Unmarshal(v, &r)
	})
	return r, err
}

// RunbookRuns returns the runbook runs keep says yes to, newest first.
func (c *Catalog) RunbookRuns(keep func(RunbookRun) bool) ([]RunbookRun, error) {
	var out []RunbookRun
	err := c.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketRunbookRuns).Cursor()
		for k, v := cur.Last(); k != nil; k, v = cur.Prev() {
			var r RunbookRun
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("runbook run %x: %w", k, err)
			}
			if keep == nil || keep(r) {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

// UpdateRunbookRun changes runbook run id with change, in one transaction; an error
// from change leaves it as it was and is returned.
func (c *Catalog) UpdateRunbookRun(id uint64, change func(*RunbookRun) error) (RunbookRun, error) {
	var r RunbookRun
	err := c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRunbookRuns)
		v := b.Get(u64(id))
		if v == nil {
			return fmt.Errorf("runbook run %d: %w", id, ErrNotFound)
		}
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		if err := change(&r); err != nil {
			return err
		}
		return put(b, u64(id), &r)
	})
	return r, err
}
