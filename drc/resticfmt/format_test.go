package resticfmt_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/drc/resticfmt"
	"github.com/cadang/cadang/internal/testenv"
)

// repo is a real restic repository in a folder, made by the restic binary.
type repo struct {
	t        *testing.T
	dir      string
	password string
	pwFile   string
	restic   string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	r := &repo{t: t, dir: filepath.Join(t.TempDir(), "repo"), password: "correct horse battery staple", restic: testenv.Restic(t)}
	r.pwFile = filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(r.pwFile, []byte(r.password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.run("init")
	return r
}

func (r *repo) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(r.restic, args...)
	cmd.Env = []string{"RESTIC_REPOSITORY=" + r.dir, "RESTIC_PASSWORD_FILE=" + r.pwFile, "RESTIC_CACHE_DIR=" + filepath.Join(r.dir, "..", "cache"), "PATH=/usr/bin:/bin"}
	return cmd
}

func (r *repo) run(args ...string) string {
	r.t.Helper()
	out, err := r.cmd(args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.t.Fatalf("restic %v: %v: %s", args, err, ee.Stderr)
		}
		r.t.Fatalf("restic %v: %v", args, err)
	}
	return string(out)
}

func (r *repo) names(folder string) []string {
	r.t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(r.dir, folder), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, d.Name())
		}
		return err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func (r *repo) read(rel string) []byte {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, rel))
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func (r *repo) masterKey() *resticfmt.Key {
	r.t.Helper()
	keys := r.names("keys")
	if len(keys) != 1 {
		r.t.Fatalf("keys: %v", keys)
	}
	k, err := resticfmt.OpenKeyFile(r.read("keys/"+keys[0]), r.password)
	if err != nil {
		r.t.Fatal(err)
	}
	return k
}

// Everything the replication reads decodes as restic itself shows it.
func TestDecodeRealRepository(t *testing.T) {
	r := newRepo(t)
	src := t.TempDir()
	testenv.RandomFile(t, filepath.Join(src, "big.bin"), 20<<20, 7) // several data blobs whatever the repository's chunker polynomial: restic cuts at 8 MiB at most
	if err := os.MkdirAll(filepath.Join(src, "sub", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "sub", "deeper", "small.txt"), bytes.Repeat([]byte("compressible "), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	r.run("backup", "--json", "--quiet", src)

	if _, err := resticfmt.OpenKeyFile(r.read("keys/"+r.names("keys")[0]), "wrong password"); !errors.Is(err, resticfmt.ErrWrongPassword) {
		t.Fatalf("a wrong password: %v", err)
	}
	key := r.masterKey()
	for _, s := range []string{fmt.Sprintf("%v", key), fmt.Sprintf("%+v", *key), fmt.Sprintf("%#v", key)} {
		if s != "resticfmt.Key(redacted)" {
			t.Errorf("a key prints as %s", s)
		}
	}

	// config: plain JSON once decrypted, as `restic cat config` prints it.
	cfg, err := key.DecryptFile(r.read("config"))
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	mustUnmarshal(t, cfg, &got)
	mustUnmarshal(t, []byte(r.run("cat", "config")), &want)
	if got["id"] != want["id"] || got["version"] != want["version"] {
		t.Errorf("config: got %v, want %v", got, want)
	}

	// index: the same blobs as `restic list blobs`, each in a pack that exists.
	packs := map[string]bool{}
	for _, p := range r.names("data") {
		packs[p] = true
	}
	var blobs []string
	treeLoc := map[resticfmt.ID]struct {
		pack resticfmt.ID
		b    resticfmt.IndexBlob
	}{}
	for _, name := range r.names("index") {
		data := r.read("index/" + name)
		if resticfmt.Hash(data).String() != name {
			t.Fatalf("index %s: name is not the hash of the content", name)
		}
		plain, err := key.DecryptFile(data)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := resticfmt.ParseIndex(plain)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range idx.Packs {
			if !packs[p.ID.String()] {
				t.Errorf("index lists pack %s that is not in data/", p.ID)
			}
			for _, b := range p.Blobs {
				blobs = append(blobs, b.Type+" "+b.ID.String())
				if b.Type == "tree" {
					treeLoc[b.ID] = struct {
						pack resticfmt.ID
						b    resticfmt.IndexBlob
					}{p.ID, b}
				}
			}
		}
	}
	sort.Strings(blobs)
	listed := strings.Fields(r.run("list", "blobs"))
	var wantBlobs []string
	for i := 0; i+1 < len(listed); i += 2 {
		wantBlobs = append(wantBlobs, listed[i]+" "+listed[i+1])
	}
	sort.Strings(wantBlobs)
	if strings.Join(blobs, ",") != strings.Join(wantBlobs, ",") || len(blobs) < 5 {
		t.Fatalf("blobs from the index:\n%v\nrestic list blobs:\n%v", blobs, wantBlobs)
	}

	// snapshot and trees: walk from the snapshot's tree to every file's content.
	snaps := r.names("snapshots")
	if len(snaps) != 1 {
		t.Fatalf("snapshots: %v", snaps)
	}
	plain, err := key.DecryptFile(r.read("snapshots/" + snaps[0]))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := resticfmt.ParseSnapshot(plain)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Paths) != 1 || snap.Paths[0] != src || time.Since(snap.Time) > time.Hour {
		t.Errorf("snapshot: %+v", snap)
	}
	var files []string
	var contentBlobs int
	var walk func(id resticfmt.ID, path string)
	walk = func(id resticfmt.ID, path string) {
		loc, ok := treeLoc[id]
		if !ok {
			t.Fatalf("tree %s is not in the index", id)
		}
		pack := r.read("data/" + loc.pack.String()[:2] + "/" + loc.pack.String())
		raw := pack[loc.b.Offset : loc.b.Offset+loc.b.Length]
		plain, err := key.DecryptBlob(raw, loc.b.UncompressedLength)
		if err != nil {
			t.Fatal(err)
		}
		if resticfmt.Hash(plain) != id {
			t.Fatalf("tree %s: content does not hash to its id", id)
		}
		tree, err := resticfmt.ParseTree(plain)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tree.Nodes {
			switch n.Type {
			case "dir":
				walk(*n.Subtree, path+"/"+n.Name)
			case "file":
				files = append(files, path+"/"+n.Name)
				contentBlobs += len(n.Content)
			}
		}
	}
	walk(*snap.Tree, "")
	sort.Strings(files)
	if want := src + "/big.bin," + src + "/sub/deeper/small.txt"; strings.Join(files, ",") != want {
		t.Errorf("files: %v, want %s", files, want)
	}
	if contentBlobs < 3 {
		t.Errorf("content blobs: %d", contentBlobs)
	}
}

// A lock written here is one restic reads and honours.
func TestLockIsHonouredByRestic(t *testing.T) {
	r := newRepo(t)
	key := r.masterKey()
	host, _ := os.Hostname()
	lock := resticfmt.Lock{Time: time.Now(), Exclusive: true, Hostname: host, Username: "cadang", PID: os.Getpid()}
	data, id := key.EncodeLock(lock)
	if err := os.MkdirAll(filepath.Join(r.dir, "locks"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "locks", id.String()), data, 0o600); err != nil {
		t.Fatal(err)
	}
	back, err := key.DecodeLock(data)
	if err != nil || !back.Exclusive || back.PID != os.Getpid() {
		t.Fatalf("decode: %+v %v", back, err)
	}
	var shown resticfmt.Lock
	mustUnmarshal(t, []byte(r.run("--no-lock", "cat", "lock", id.String())), &shown)
	if !shown.Exclusive || shown.PID != os.Getpid() || shown.Hostname != host {
		t.Errorf("restic cat lock: %+v", shown)
	}
	src := t.TempDir()
	cmd := r.cmd("backup", "--retry-lock", "0s", src)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 11 || !strings.Contains(string(out), "locked exclusively") {
		t.Fatalf("restic backup under an exclusive cadang lock: %v\n%s", err, out)
	}
}

func TestOpenRejectsDamage(t *testing.T) {
	r := newRepo(t)
	key := r.masterKey()
	sealed := key.Seal([]byte(`{"hello":"world"}`))
	if plain, err := key.DecryptFile(sealed); err != nil || string(plain) != `{"hello":"world"}` {
		t.Fatalf("round trip: %q %v", plain, err)
	}
	for _, i := range []int{0, 20, len(sealed) - 1} {
		bad := bytes.Clone(sealed)
		bad[i] ^= 1
		if _, err := key.Open(bad); !errors.Is(err, resticfmt.ErrUnauthenticated) {
			t.Errorf("flipped byte %d: %v", i, err)
		}
	}
	if _, err := key.Open([]byte("short")); !errors.Is(err, resticfmt.ErrUnauthenticated) {
		t.Errorf("short input: %v", err)
	}
	if _, err := resticfmt.OpenKeyFile([]byte("not json"), "x"); err == nil {
		t.Error("a broken key file opened")
	}
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
}
