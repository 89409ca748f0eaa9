package mirror_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/mirror"
	"github.com/cadang/cadang/drc/storetest"
)

// Healing never writes a wrong object: a "good" copy that does not match its name is
// refused and the damaged object stays as it was (to be reported, not replaced by
// other wrong bytes); a copy that matches replaces it and reads back whole.
func TestCopyVerifiedRefusesABadSource(t *testing.T) {
	ctx := context.Background()
	content := bytes.Repeat([]byte("cadang heals from the other site. "), 4096)
	obj, _ := packName(content)
	from := &drc.Repo{DRC: "local", Agency: "dinkes", Store: drc.NewDirStore(t.TempDir())}
	to := &drc.Repo{DRC: "offsite", Agency: "dinkes", Store: drc.NewDirStore(t.TempDir())}
	put := func(r *drc.Repo, b []byte) {
		t.Helper()
		if err := r.Store.Put(ctx, obj, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	read := func(r *drc.Repo) []byte {
		t.Helper()
		b, err := drc.ReadObject(ctx, r.Store, obj)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	damaged := bytes.Clone(content)
	damaged[len(damaged)/2] ^= 0x01
	alsoDamaged := bytes.Clone(content)
	alsoDamaged[len(alsoDamaged)-1] ^= 0x80 // the very last byte: held back until the hash is known

	put(to, damaged)
	put(from, alsoDamaged)
	_, err := mirror.CopyVerified(ctx, from, to, obj)
	if !errors.Is(err, mirror.ErrBadSource) {
		t.Fatalf("copy from a damaged source: %v, want ErrBadSource", err)
	}
	if !bytes.Equal(read(to), damaged) {
		t.Fatal("a refused copy changed the destination")
	}

	put(from, content)
	n, err := mirror.CopyVerified(ctx, from, to, obj)
	if err != nil || n != int64(len(content)) {
		t.Fatalf("copy from a good source: %d, %v", n, err)
	}
	if !bytes.Equal(read(to), content) {
		t.Fatal("the repaired object is not the good copy")
	}
	if _, err := mirror.CopyVerified(ctx, from, to, "data/zz/not-a-hash"); err == nil {
		t.Fatal("a name that is not a SHA-256 was copied")
	}
}

// A copy that moves no byte for the stall timeout (the source stopped sending, without
// failing) is cancelled, naming both DRCs and the object, and writes nothing.
func TestCopyVerifiedStalls(t *testing.T) {
	ctx := context.Background()
	content := bytes.Repeat([]byte("a store that stops sending. "), 4096)
	obj, id := packName(content)
	r := &drc.Restic{StallTimeout: time.Second} // no restic is run
	site := func(name string) *drc.Site {
		return openSite(t, r, t.TempDir(), drc.Config{Name: name, Path: t.TempDir()})
	}
	local, offsite := site("local"), site("offsite")
	faulty := storetest.NewFaulty(local.Store)
	local.Store = faulty
	from, to := local.Repo("dinkes"), offsite.Repo("dinkes")
	if err := from.Store.Put(ctx, obj, bytes.NewReader(content), int64(len(content))); err != nil {
		t.Fatal(err)
	}
	hang := faulty.Add(storetest.Fault{Op: "Get", Match: id, ReadDelay: time.Hour})
	_, err := mirror.CopyVerified(ctx, from, to, obj)
	if err == nil || !strings.Contains(err.Error(), `drc "local" to drc "offsite": `+obj+": no byte moved for 1s") || faulty.Fired(hang) == 0 {
		t.Fatalf("a stalled copy: %v", err)
	}
	if _, err := to.Store.Stat(ctx, obj); !errors.Is(err, drc.ErrNotExist) {
		t.Fatalf("a stalled copy left something at the destination: %v", err)
	}
	faulty.Clear()
	if n, err := mirror.CopyVerified(ctx, from, to, obj); err != nil || n != int64(len(content)) {
		t.Fatalf("the copy once the store sends again: %d, %v", n, err)
	}
}

// packName is the name restic gives an object of this content, and its id.
func packName(content []byte) (obj, id string) {
	sum := sha256.Sum256(content)
	id = hex.EncodeToString(sum[:])
	return "data/" + id[:2] + "/" + id, id
}
