package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// Issue 16, the audit log: every call that changes something, and every read of data,
// is recorded once with who made it and the answer; `cadang audit verify` proves the
// chain, and names the entry that was edited in a copy of the catalog.
func TestAuditLog(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("audited"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	w.config(pathDRC(w) + fmt.Sprintf(oneTarget, src))
	w.startDaemon()

	ri, r := w.backupJSON("portal-files")
	if r.code != 0 || ri.Status != api.Succeeded {
		t.Fatalf("backup: %s", r)
	}
	w.must("reload")
	w.must("ls", "portal-files", "latest", src)
	if r := w.cadang("backup", "no-such-target"); r.code != 2 || !strings.Contains(r.stderr, `unknown target "no-such-target"`) {
		t.Fatalf("backup of an unknown target: %s", r)
	}
	w.must("status")
	w.must("runs")

	var entries []api.AuditEntry
	mustJSON(t, w.must("audit", "--json", "--limit", "0").stdout, &entries)
	principal := fmt.Sprintf("uid:%d", os.Getuid())
	count := map[string]int{}
	byAction := map[string]api.AuditEntry{}
	for _, e := range entries {
		key := e.Action + " " + e.Object
		count[key]++
		byAction[key] = e
		if e.Principal != principal || e.Role != "operator" || e.Source != "unix" || e.Hash == "" {
			t.Errorf("entry %d: %+v", e.Seq, e)
		}
	}
	for _, c := range []struct {
		key    string
		status int
		agency string
		result string
	}{
		{"POST /v1/backups portal-files", 202, agencyID, "ok"},
		{"POST /v1/reload ", 200, "", "ok"},
		{"GET /v1/ls portal-files", 200, agencyID, "ok"},
		{"POST /v1/backups no-such-target", 404, "", `unknown target "no-such-target"`},
	} {
		e := byAction[c.key]
		if count[c.key] != 1 || e.Status != c.status || e.Agency != c.agency || !strings.Contains(e.Result, c.result) {
			t.Errorf("%q recorded %d time(s), last as %+v; want once with %d %q, agency %q", c.key, count[c.key], e, c.status, c.result, c.agency)
		}
	}
	if len(entries) != 4 {
		t.Errorf("%d entries, want 4 (reads of records are not recorded): %+v", len(entries), entries)
	}
	// The table says it too.
	if out := w.must("audit", "--agency", agencyID).stdout; !strings.Contains(out, "POST /v1/backups") || strings.Contains(out, "POST /v1/reload") {
		t.Errorf("cadang audit --agency %s:\n%s", agencyID, out)
	}

	r = w.must("audit", "verify")
	if !strings.Contains(r.stdout, "audit log intact: 4 entries") {
		t.Errorf("cadang audit verify: %s", r)
	}

	if code := w.stopDaemon(syscall.SIGTERM, 2*time.Minute); code != 0 {
		t.Fatalf("daemon exit %d", code)
	}
	catalog := filepath.Join(w.stateDir, "catalog.db")
	if r := w.must("audit", "verify", "--catalog", catalog); !strings.Contains(r.stdout, "audit log intact: 4 entries") {
		t.Errorf("offline verify of the catalog: %s", r)
	}

	// A copy of the catalog with one entry's action edited in place.
	b, err := os.ReadFile(catalog)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(w.dir, "catalog-copy.db")
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	edited := editAuditEntry(t, cp, "POST /v1/reload", "POST /v1/reXoad")
	r = w.cadang("audit", "verify", "--catalog", cp)
	if r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("audit log broken at entry %d:", edited)) || !testenv.OneLine(r.stderr) {
		t.Errorf("verify of the edited copy (entry %d edited): %s", edited, r)
	}
	// The original stays intact (the checks open files read-only).
	w.must("audit", "verify", "--catalog", catalog)
}

// editAuditEntry replaces old with new in the stored bytes of the audit entry that
// holds old, in the catalog file at path, and returns its seq.
func editAuditEntry(t *testing.T, path, old, new string) uint64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var seq uint64
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		if b == nil {
			return fmt.Errorf("no audit bucket")
		}
		var key, val []byte
		if err := b.ForEach(func(k, v []byte) error {
			if key == nil && bytes.Contains(v, []byte(old)) {
				key, val = bytes.Clone(k), bytes.Replace(v, []byte(old), []byte(new), 1)
			}
			return nil
		}); err != nil {
			return err
		}
		if key == nil {
			return fmt.Errorf("no audit entry holds %q", old)
		}
		seq = binary.BigEndian.Uint64(key)
		var e map[string]any
		if json.Unmarshal(val, &e) != nil {
			return fmt.Errorf("the edit broke the JSON: %s", val)
		}
		return b.Put(key, val)
	})
	if err != nil {
		t.Fatal(err)
	}
	return seq
}
