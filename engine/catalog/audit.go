package catalog

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// The audit log: who did what through the API, append-only and chained by hash.
//
// Every entry carries the SHA-256 of a canonical encoding of all its other fields,
// including Prev, the hash of the entry before it. Editing an entry changes its hash;
// removing or reordering entries breaks the link of the entry after them. The head
// (the last entry's seq and hash) is also kept apart in the meta bucket, so that a log
// cut at its end shows too, unless the head is rewritten with it: against someone who
// can rewrite the whole file, only a copy of the head kept elsewhere helps (`cadang
// audit verify` prints it).
//
// There is deliberately no API to change or delete an entry.

var (
	bucketAudit  = []byte("audit")      // seq (8 bytes, big endian) -> AuditEntry (JSON)
	keyAuditHead = []byte("audit_head") // in bucketMeta: auditHead (JSON)
)

func migrateAudit(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bucketAudit)
	return err
}

// AuditEntry is one call recorded in the audit log.
type AuditEntry struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Principal string    `json:"principal"`        // who: "uid:0" (the socket's peer), later a token's name
	Role      string    `json:"role"`             // operator, auditor, agency-admin, ...
	Agency    string    `json:"agency,omitempty"` // whose object it was, when known
	Action    string    `json:"action"`           // the route: "POST /v1/backups"
	Object    string    `json:"object,omitempty"` // a target, "run 12", ...
	Ticket    string    `json:"ticket,omitempty"` // the E-Layanan ticket, when given
	Status    int       `json:"status"`           // the HTTP status answered
	Result    string    `json:"result"`           // "ok", or the error's first line
	Source    string    `json:"source"`           // "unix", or the remote address
	Prev      string    `json:"prev"`             // the previous entry's Hash ("" for the first)
	Hash      string    `json:"hash"`             // hex SHA-256 of the other fields (see AuditHash)
}

// auditHead is the last entry appended.
type auditHead struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// AuditHash returns the hash an entry must carry: the hex SHA-256 of every field but
// Hash, in a fixed order, each as its length (8 bytes, big endian) and its bytes, after
// a version tag. Time is in UTC, RFC 3339 with nanoseconds.
func AuditHash(e AuditEntry) string {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field("cadang-audit-v1")
	field(strconv.FormatUint(e.Seq, 10))
	field(e.Time.UTC().Format(time.RFC3339Nano))
	field(e.Principal)
	field(e.Role)
	field(e.Agency)
	field(e.Action)
	field(e.Object)
	field(e.Ticket)
	field(strconv.Itoa(e.Status))
	field(e.Result)
	field(e.Source)
	field(e.Prev)
	return hex.EncodeToString(h.Sum(nil))
}

// AppendAudit appends e to the audit log at time at: it assigns Seq, Time, Prev and
// Hash in one transaction and returns the entry as stored.
func (c *Catalog) AppendAudit(e AuditEntry, at time.Time) (AuditEntry, error) {
	var out AuditEntry
	err := c.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		meta := tx.Bucket(bucketMeta)
		// The chain goes on from the recorded head, not from whatever the last entry
		// holds: an entry damaged since cannot stop the log, and VerifyAudit names it.
		var head auditHead
		if v := meta.Get(keyAuditHead); v != nil {
			if err := json.Unmarshal(v, &head); err != nil {
				return fmt.Errorf("audit log head: %w", err)
			}
		} else if k, v := b.Cursor().Last(); k != nil {
			var last AuditEntry
			if err := json.Unmarshal(v, &last); err != nil {
				return fmt.Errorf("audit entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			head = auditHead{Seq: last.Seq, Hash: last.Hash}
		}
		if k, _ := b.Cursor().Last(); len(k) == 8 && binary.BigEndian.Uint64(k) > head.Seq {
			head.Seq = binary.BigEndian.Uint64(k) // never overwrite an entry
		}
		x := e
		x.Seq, x.Prev = head.Seq+1, head.Hash
		x.Time = at.Round(0) // the hash reads it in UTC
		x.Hash = AuditHash(x)
		if err := put(b, u64(x.Seq), x); err != nil {
			return err
		}
		if err := put(meta, keyAuditHead, auditHead{Seq: x.Seq, Hash: x.Hash}); err != nil {
			return err
		}
		out = x
		return nil
	})
	return out, err
}

// AuditEntries returns the audit log newest first: only agency's entries when agency is
// not empty, only those at or after since when it is not zero, at most limit (0: all).
func (c *Catalog) AuditEntries(agency string, since time.Time, limit int) ([]AuditEntry, error) {
	out := []AuditEntry{}
	err := c.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil {
			return nil
		}
		cur := b.Cursor()
		for k, v := cur.Last(); k != nil; k, v = cur.Prev() {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("audit entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if agency != "" && e.Agency != agency {
				continue
			}
			if !since.IsZero() && e.Time.Before(since) {
				continue
			}
			out = append(out, e)
			if limit > 0 && len(out) >= limit {
				break
			}
		}
		return nil
	})
	return out, err
}

// AuditBreakError names the first entry of the audit log that is not what was
// appended: its hash does not match its contents (edited), or it does not link to the
// entry before it (an entry removed or reordered), or entries are missing at the end.
type AuditBreakError struct {
	Seq uint64
	Why string
}

func (e *AuditBreakError) Error() string {
	return fmt.Sprintf("audit log broken at entry %d: %s", e.Seq, e.Why)
}

// VerifyAudit checks the whole chain, oldest first. It returns how many entries it
// checked, and an *AuditBreakError naming the first one that is wrong.
func (c *Catalog) VerifyAudit() (int, error) {
	checked, _, err := c.verifyAudit()
	return checked, err
}

// AuditHead returns the seq and hash of the last entry (0, "" for an empty log).
func (c *Catalog) AuditHead() (uint64, string, error) {
	var h auditHead
	err := c.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyAuditHead); v != nil {
			return json.Unmarshal(v, &h)
		}
		return nil
	})
	return h.Seq, h.Hash, err
}

func (c *Catalog) verifyAudit() (int, auditHead, error) {
	checked := 0
	var last auditHead
	err := c.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil {
			return nil // a catalog from before the audit log
		}
		cur := b.Cursor()
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			if len(k) != 8 {
				return &AuditBreakError{last.Seq + 1, fmt.Sprintf("a foreign key %q in the log", k)}
			}
			key := binary.BigEndian.Uint64(k)
			var e AuditEntry
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil {
				return &AuditBreakError{key, "unreadable (edited): " + err.Error()}
			}
			switch {
			case e.Seq != key:
				return &AuditBreakError{key, fmt.Sprintf("it is stored under seq %d but says %d (moved)", key, e.Seq)}
			case AuditHash(e) != e.Hash:
				return &AuditBreakError{key, "its hash does not match its contents (edited)"}
			case e.Prev != last.Hash:
				return &AuditBreakError{key, "it does not link to the entry before it (an entry removed or reordered)"}
			case e.Seq != last.Seq+1:
				return &AuditBreakError{key, fmt.Sprintf("it follows entry %d (entries removed)", last.Seq)}
			}
			last = auditHead{Seq: e.Seq, Hash: e.Hash}
			checked++
		}
		var head auditHead
		if v := tx.Bucket(bucketMeta).Get(keyAuditHead); v != nil {
			if err := json.Unmarshal(v, &head); err != nil {
				return &AuditBreakError{last.Seq + 1, "the recorded head is unreadable: " + err.Error()}
			}
		}
		switch {
		case head.Seq > last.Seq:
			return &AuditBreakError{last.Seq + 1, fmt.Sprintf("entries %d to %d are missing (the log was cut)", last.Seq+1, head.Seq)}
		case head != last:
			return &AuditBreakError{last.Seq, "the last entry is not the recorded head"}
		}
		return nil
	})
	return checked, last, err
}

// OpenReadOnly opens a catalog file for reading only, without migrating it: to verify
// a copy offline (`cadang audit verify --catalog FILE`). It fails at once with ErrInUse
// when a daemon holds the file.
func OpenReadOnly(path string) (*Catalog, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	c := &Catalog{db: db}
	if err := db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil || tx.Bucket(bucketMeta).Get(keySchema) == nil {
			return errors.New("not a cadang catalog (no schema version)")
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return c, nil
}
