package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// auditCatalog returns a closed catalog file holding n audit entries, one a minute.
func auditCatalog(t *testing.T, n int) (string, time.Time) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "catalog.db")
	c, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 3, 0, 0, 123456789, time.UTC)
	for i := range n {
		agency := "dinkes"
		if i%2 == 1 {
			agency = "disdik"
		}
		e, err := c.AppendAudit(AuditEntry{Principal: "uid:0", Role: "operator", Agency: agency,
			Action: "POST /v1/backups", Object: fmt.Sprintf("target-%d", i), Status: 202, Result: "ok", Source: "unix"},
			t0.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != uint64(i+1) || e.Hash == "" || (i == 0) != (e.Prev == "") {
			t.Fatalf("entry %d appended as %+v", i, e)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return path, t0
}

// tamper changes the stored bytes of the audit log with fn, bypassing the catalog.
func tamper(t *testing.T, path string, fn func(b *bolt.Bucket) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketAudit)) }); err != nil {
		t.Fatal(err)
	}
}

func verifyFile(t *testing.T, path string) (int, error) {
	t.Helper()
	c, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.VerifyAudit()
}

func wantBreak(t *testing.T, err error, seq uint64) {
	t.Helper()
	var be *AuditBreakError
	if !errors.As(err, &be) {
		t.Fatalf("want an AuditBreakError at %d, got %v", seq, err)
	}
	if be.Seq != seq {
		t.Fatalf("break named entry %d (%s), want %d", be.Seq, be.Why, seq)
	}
}

func TestAuditChainIntact(t *testing.T) {
	path, t0 := auditCatalog(t, 100)
	if n, err := verifyFile(t, path); err != nil || n != 100 {
		t.Fatalf("verify = %d, %v", n, err)
	}
	c, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v, _ := c.Schema(); v != SchemaVersion() {
		t.Fatalf("schema %d", v)
	}
	all, err := c.AuditEntries("", time.Time{}, 0)
	if err != nil || len(all) != 100 || all[0].Seq != 100 || all[99].Seq != 1 {
		t.Fatalf("entries: %d, %v", len(all), err)
	}
	some, err := c.AuditEntries("dinkes", t0.Add(90*time.Minute), 3)
	if err != nil || len(some) != 3 || some[0].Seq != 99 || some[2].Seq != 95 {
		t.Fatalf("filtered entries: %+v, %v", some, err)
	}
	for _, e := range some {
		if e.Agency != "dinkes" {
			t.Fatalf("agency filter let through %+v", e)
		}
	}
	// Appending goes on from the stored chain.
	e, err := c.AppendAudit(AuditEntry{Principal: "uid:0", Action: "POST /v1/reload", Status: 200, Result: "ok"}, t0)
	if err != nil || e.Seq != 101 || e.Prev != all[0].Hash {
		t.Fatalf("append after reopen: %+v, %v", e, err)
	}
	if n, err := c.VerifyAudit(); err != nil || n != 101 {
		t.Fatalf("verify = %d, %v", n, err)
	}
}

func TestAuditEditedEntry(t *testing.T) {
	path, _ := auditCatalog(t, 100)
	tamper(t, path, func(b *bolt.Bucket) error {
		v := bytes.Clone(b.Get(u64(42)))
		v = bytes.Replace(v, []byte("POST /v1/backups"), []byte("POST /v1/backupz"), 1)
		return b.Put(u64(42), v)
	})
	_, err := verifyFile(t, path)
	wantBreak(t, err, 42)
}

func TestAuditUnreadableEntry(t *testing.T) {
	path, _ := auditCatalog(t, 10)
	tamper(t, path, func(b *bolt.Bucket) error { return b.Put(u64(7), []byte(`{"seq":7,`)) })
	_, err := verifyFile(t, path)
	wantBreak(t, err, 7)
}

func TestAuditRemovedEntry(t *testing.T) {
	path, _ := auditCatalog(t, 100)
	tamper(t, path, func(b *bolt.Bucket) error { return b.Delete(u64(42)) })
	n, err := verifyFile(t, path)
	wantBreak(t, err, 43)
	if n != 41 {
		t.Fatalf("checked %d before the break", n)
	}
}

func TestAuditRemovedFirstEntry(t *testing.T) {
	path, _ := auditCatalog(t, 5)
	tamper(t, path, func(b *bolt.Bucket) error { return b.Delete(u64(1)) })
	_, err := verifyFile(t, path)
	wantBreak(t, err, 2)
}

func TestAuditSwappedEntries(t *testing.T) {
	path, _ := auditCatalog(t, 10)
	tamper(t, path, func(b *bolt.Bucket) error {
		a, c := bytes.Clone(b.Get(u64(4))), bytes.Clone(b.Get(u64(5)))
		if err := b.Put(u64(4), c); err != nil {
			return err
		}
		return b.Put(u64(5), a)
	})
	_, err := verifyFile(t, path)
	wantBreak(t, err, 4)
}

func TestAuditCutTail(t *testing.T) {
	path, _ := auditCatalog(t, 10)
	tamper(t, path, func(b *bolt.Bucket) error {
		for _, s := range []uint64{9, 10} {
			if err := b.Delete(u64(s)); err != nil {
				return err
			}
		}
		return nil
	})
	_, err := verifyFile(t, path)
	wantBreak(t, err, 9)
}

func TestAuditEmptyAndReadOnly(t *testing.T) {
	path, _ := auditCatalog(t, 0)
	if n, err := verifyFile(t, path); err != nil || n != 0 {
		t.Fatalf("empty log: %d, %v", n, err)
	}
	// A daemon holding the file: the read-only opener says so rather than waiting.
	c, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := OpenReadOnly(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("open while held: %v", err)
	}
}

// An entry damaged since it was written does not stop the log: new entries chain on
// from the recorded head, and verify still names the damaged one.
func TestAuditAppendAfterDamage(t *testing.T) {
	path, t0 := auditCatalog(t, 5)
	tamper(t, path, func(b *bolt.Bucket) error { return b.Put(u64(5), []byte("garbage")) })
	c, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e, err := c.AppendAudit(AuditEntry{Principal: "uid:0", Action: "POST /v1/reload", Status: 200, Result: "ok"}, t0)
	if err != nil || e.Seq != 6 {
		t.Fatalf("append after damage: %+v, %v", e, err)
	}
	_, err = c.VerifyAudit()
	wantBreak(t, err, 5)
}
