package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Damage is one object of a repository at one DRC whose bytes are known to be wrong
// (they do not hash to the object's name, or cannot be read whole) or that is missing
// although the index lists it. Every path that reads object bytes reports into it:
// replication, verify, check, restores and drills. A damage record stays open until
// the object is repaired (replaced by a copy from another DRC whose SHA-256 matches
// its name) or removed (quarantined at a primary, so that new backups upload its data
// again); while it is open, an alarm of kind AlarmDamaged says so.
type Damage struct {
	ID      uint64    `json:"id"`
	DRC     string    `json:"drc"`
	Agency  string    `json:"agency"`
	Object  string    `json:"object"` // data/<id>, index/<id>, snapshots/<id>
	How     string    `json:"how"`    // what found it: replication, verify, check, restore, drill, stall (restic cancelled, docs/operations.md)
	Run     uint64    `json:"run,omitempty"`
	Message string    `json:"message"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	Count   int       `json:"count"`

	// Snapshots are the snapshots that need the object (a data pack), when known.
	Snapshots []string `json:"snapshots,omitempty"`

	// What became of it: repaired from another DRC, quarantined (moved aside at the
	// primary so that no backup builds on it), or lost (no DRC holds a good copy).
	Closed       time.Time `json:"closed,omitzero"`
	Outcome      string    `json:"outcome,omitempty"` // repaired, quarantined, gone
	RepairedFrom string    `json:"repaired_from,omitempty"`
	RepairRun    uint64    `json:"repair_run,omitempty"`
	Lost         bool      `json:"lost,omitempty"` // no DRC held a good copy when it was last tried
	Note         string    `json:"note,omitempty"`
}

// Damage outcomes.
const (
	DamageRepaired    = "repaired"    // replaced by a proven-good copy from another DRC
	DamageQuarantined = "quarantined" // moved aside at the DRC and removed from its index
	DamageGone        = "gone"        // the object is no longer in the repository (pruned)
)

// Alarm kinds of damage: an open damage record keeps AlarmDamaged raised; AlarmDataLost
// says snapshots lose data that no DRC holds whole.
const (
	AlarmDamaged  = "damaged-object"
	AlarmDataLost = "data-lost"
)

var bucketDamage = []byte("damage") // id -> Damage

func migrateDamage(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bucketDamage)
	return err
}

// RecordDamage records damage; the same open damage (DRC, agency, object) is counted
// again rather than repeated. It also raises (or counts) the damaged-object alarm. It
// returns the record and whether it is new.
func (c *Catalog) RecordDamage(d Damage, at time.Time) (Damage, bool, error) {
	isNew := false
	var out Damage
	err := c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDamage)
		var found *Damage
		if err := b.ForEach(func(_, v []byte) error {
			var x Damage
			if err := json.Unmarshal(v, &x); err != nil {
				return err
			}
			if x.Closed.IsZero() && x.DRC == d.DRC && x.Agency == d.Agency && x.Object == d.Object {
				found = &x
			}
			return nil
		}); err != nil {
			return err
		}
		if found == nil {
			id, err := b.NextSequence()
			if err != nil {
				return err
			}
			d.ID, d.First, d.Count = id, at, 0
			found, isNew = &d, true
		} else {
			found.How, found.Message = d.How, d.Message
			if d.Run != 0 {
				found.Run = d.Run
			}
			if d.Snapshots != nil {
				found.Snapshots = d.Snapshots
			}
		}
		found.Last = at
		found.Count++
		out = *found
		if err := put(b, u64(found.ID), found); err != nil {
			return err
		}
		_, err := raiseAlarm(tx, Alarm{Kind: AlarmDamaged, DRC: d.DRC, Agency: d.Agency, Object: d.Object,
			Message: fmt.Sprintf("drc %q: agency %q: %s is damaged (found by %s): %s", d.DRC, d.Agency, d.Object, d.How, d.Message)}, at)
		return err
	})
	return out, isNew, err
}

// UpdateDamage changes an open or closed damage record.
func (c *Catalog) UpdateDamage(id uint64, fn func(d *Damage)) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDamage)
		v := b.Get(u64(id))
		if v == nil {
			return fmt.Errorf("damage %d: %w", id, ErrNotFound)
		}
		var d Damage
		if err := json.Unmarshal(v, &d); err != nil {
			return err
		}
		fn(&d)
		return put(b, u64(id), &d)
	})
}

// CloseDamage closes a damage record with its outcome and resolves its alarm.
func (c *Catalog) CloseDamage(id uint64, outcome, from string, run uint64, note string, at time.Time) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDamage)
		v := b.Get(u64(id))
		if v == nil {
			return fmt.Errorf("damage %d: %w", id, ErrNotFound)
		}
		var d Damage
		if err := json.Unmarshal(v, &d); err != nil {
			return err
		}
		if !d.Closed.IsZero() {
			return nil
		}
		d.Closed, d.Outcome, d.RepairedFrom, d.RepairRun, d.Note = at, outcome, from, run, note
		d.Lost = false
		if err := put(b, u64(id), &d); err != nil {
			return err
		}
		// The alarm stays while another open record holds the same object.
		ab := tx.Bucket(bucketAlarms)
		return ab.ForEach(func(k, v []byte) error {
			var a Alarm
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			if a.Resolved.IsZero() && a.Kind == AlarmDamaged && a.DRC == d.DRC && a.Agency == d.Agency && a.Object == d.Object {
				a.Resolved = at
				return put(ab, k, &a)
			}
			return nil
		})
	})
}

// Damages returns damage records, newest first: only the open ones unless all;
// restricted to a DRC and an agency when they are not empty.
func (c *Catalog) Damages(all bool, drcName, agency string) ([]Damage, error) {
	var out []Damage
	err := c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDamage).ForEach(func(k, v []byte) error {
			var d Damage
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("damage record %x: %w", k, err)
			}
			if (all || d.Closed.IsZero()) && (drcName == "" || d.DRC == drcName) && (agency == "" || d.Agency == agency) {
				out = append(out, d)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, err
}

// LossRemains reports whether a loss recorded at the DRC for the agency still touches
// a snapshot the catalog keeps: a data-lost alarm stays raised until the snapshots
// that lost data are forgotten (by retention or `cadang forget`), or their damage is
// no longer marked at that DRC.
func (c *Catalog) LossRemains(drcName, agency string) (bool, error) {
	recs, err := c.Damages(true, drcName, agency)
	if err != nil {
		return true, err
	}
	for _, d := range recs {
		if !d.Lost {
			continue
		}
		for _, id := range d.Snapshots {
			s, err := c.Snapshot(id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return true, err
			}
			if s.Damaged[drcName] != "" {
				return true, nil
			}
		}
	}
	return false, nil
}
