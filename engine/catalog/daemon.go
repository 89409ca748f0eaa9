package catalog

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// What the unattended daemon keeps between runs of itself (schema 2): when each
// schedule last came due, the leases its runs hold on repositories, and the state of
// each repository's maintenance (check rotation, last check and prune).
var (
	bucketSchedules = []byte("schedules")  // schedule key -> ScheduleState
	bucketLeases    = []byte("leases")     // drc/agency/run -> Lease
	bucketRepos     = []byte("repo_state") // drc/agency -> RepoState
)

func migrateDaemonState(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketSchedules, bucketLeases, bucketRepos} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// ScheduleState is what the catalog remembers of one schedule: the last slot it
// handled. After downtime, the slots between Last and now were missed.
type ScheduleState struct {
	Key  string    `json:"key"`  // backup/<target>, prune/<drc>, check/<drc>
	Spec string    `json:"spec"` // the schedule as configured (cron and jitter); a change restarts it
	Last time.Time `json:"last"` // the last slot handled (queued, joined to a waiting run, or skipped)
	Run  uint64    `json:"run,omitempty"`
}

// ScheduleStates returns every schedule's state by key.
func (c *Catalog) ScheduleStates() (map[string]ScheduleState, error) {
	out := map[string]ScheduleState{}
	err := c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSchedules).ForEach(func(k, v []byte) error {
			var s ScheduleState
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("schedule %s: %w", k, err)
			}
			out[string(k)] = s
			return nil
		})
	})
	return out, err
}

// Due records, in one transaction, new runs (setting their ids) and the schedule
// states that queued them: after a crash either both are there or neither.
func (c *Catalog) Due(runs []*Run, states []ScheduleState) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		for _, r := range runs {
			id, err := tx.Bucket(bucketRuns).NextSequence()
			if err != nil {
				return err
			}
			r.ID = id
			if err := c.putRun(tx, r); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketSchedules)
		for _, s := range states {
			if err := put(b, []byte(s.Key), s); err != nil {
				return err
			}
		}
		return nil
	})
}

// Proc is a process: its id and its start time in clock ticks after boot, which
// together name it even after the id is reused.
type Proc struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// Lease is a run's hold on a repository (an agency at a DRC) for one operation. It
// records which daemon process holds it (host, boot, pid and start) and the restic
// processes the run started, so that a later daemon can prove that a restic lock in
// the repository was left by a process of its own that is dead.
type Lease struct {
	DRC     string    `json:"drc"`
	Agency  string    `json:"agency"`
	Op      string    `json:"op"`
	Run     uint64    `json:"run"`
	Target  string    `json:"target,omitempty"`
	Host    string    `json:"host"`
	Boot    string    `json:"boot"` // the kernel's boot id: process ids mean nothing across a reboot
	Daemon  Proc      `json:"daemon"`
	Started time.Time `json:"started"`
	Restic  []Proc    `json:"restic,omitempty"`
	// Ended is set on a lease kept after its run ended because restic may have left a
	// lock behind (the run was interrupted).
	Ended time.Time `json:"ended,omitzero"`
}

// RepoKey names a repository: drc/agency.
func RepoKey(drc, agency string) string { return drc + "/" + agency }

func leaseKey(drc, agency string, run uint64) []byte {
	return fmt.Appendf(nil, "%s/%s/%020d", drc, agency, run)
}

// PutLease stores a lease.
func (c *Catalog) PutLease(l *Lease) error {
	return c.db.Batch(func(tx *bolt.Tx) error {
		return put(tx.Bucket(bucketLeases), leaseKey(l.DRC, l.Agency, l.Run), l)
	})
}

// AddLeaseProc adds a restic process to a run's lease.
func (c *Catalog) AddLeaseProc(drc, agency string, run uint64, p Proc) error {
	return c.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLeases)
		k := leaseKey(drc, agency, run)
		v := b.Get(k)
		if v == nil {
			return fmt.Errorf("lease of run %d on %s: %w", run, RepoKey(drc, agency), ErrNotFound)
		}
		var l Lease
		if err := json.Unmarshal(v, &l); err != nil {
			return err
		}
		l.Restic = append(l.Restic, p)
		return put(b, k, &l)
	})
}

// DeleteLease removes a run's lease.
func (c *Catalog) DeleteLease(drc, agency string, run uint64) error {
	return c.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLeases).Delete(leaseKey(drc, agency, run))
	})
}

// Leases returns the leases on one repository, or on all of them if drc is "".
func (c *Catalog) Leases(drc, agency string) ([]Lease, error) {
	var out []Lease
	prefix := []byte(nil)
	if drc != "" {
		prefix = []byte(RepoKey(drc, agency) + "/")
	}
	err := c.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketLeases).Cursor()
		for k, v := cur.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, v = cur.Next() {
			var l Lease
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("lease %s: %w", k, err)
			}
			out = append(out, l)
		}
		return nil
	})
	return out, err
}

// CheckResult is the outcome of one `restic check` of a repository.
type CheckResult struct {
	Run         uint64    `json:"run"`
	Time        time.Time `json:"time"`
	Status      Status    `json:"status"`
	Subset      string    `json:"subset,omitempty"` // "3/20": the part of the data read; "" when none
	Errors      int       `json:"errors"`
	BrokenPacks []string  `json:"broken_packs,omitempty"`
	Message     string    `json:"message,omitempty"`
}

// OpResult is the outcome of a maintenance run (a prune).
type OpResult struct {
	Run     uint64    `json:"run"`
	Time    time.Time `json:"time"`
	Status  Status    `json:"status"`
	Message string    `json:"message,omitempty"`
}

// RepoState is the maintenance state of one repository.
type RepoState struct {
	DRC    string `json:"drc"`
	Agency string `json:"agency"`
	// The data-read rotation of checks: the next check reads part NextPart of Parts.
	Parts     int          `json:"parts,omitempty"`
	NextPart  int          `json:"next_part,omitempty"`
	LastCheck *CheckResult `json:"last_check,omitempty"`
	LastPrune *OpResult    `json:"last_prune,omitempty"`
}

// RepoState returns a repository's state (zero if the catalog has none).
func (c *Catalog) RepoState(drc, agency string) (RepoState, error) {
	s := RepoState{DRC: drc, Agency: agency}
	err := c.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketRepos).Get([]byte(RepoKey(drc, agency))); v != nil {
			return json.Unmarshal(v, &s)
		}
		return nil
	})
	return s, err
}

// RepoStates returns the state of every repository the catalog knows.
func (c *Catalog) RepoStates() ([]RepoState, error) {
	var out []RepoState
	err := c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRepos).ForEach(func(k, v []byte) error {
			var s RepoState
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("repository %s: %w", k, err)
			}
			out = append(out, s)
			return nil
		})
	})
	return out, err
}

// UpdateRepoState changes a repository's state in one transaction.
func (c *Catalog) UpdateRepoState(drc, agency string, f func(s *RepoState)) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRepos)
		k := []byte(RepoKey(drc, agency))
		s := RepoState{DRC: drc, Agency: agency}
		if v := b.Get(k); v != nil {
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
		}
		f(&s)
		return put(b, k, &s)
	})
}
