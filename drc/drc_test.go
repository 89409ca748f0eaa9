package drc_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/storetest"
	"github.com/cadang/cadang/internal/testenv"
)

func TestDirStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) drc.Store { return drc.NewDirStore(t.TempDir()) })
}

func TestS3Store(t *testing.T) {
	m := testenv.StartMinIO(t, "suite")
	cfg := &drc.S3Config{Endpoint: m.Endpoint, Bucket: "suite", Insecure: true}
	creds := drc.S3Credentials{AccessKey: m.AccessKey, SecretKey: m.SecretKey}
	storetest.Run(t, func(t *testing.T) drc.Store {
		s, err := drc.NewS3Store(cfg, creds)
		if err != nil {
			t.Fatal(err)
		}
		return s.Sub(storetest.Name(t)) // one bucket, a folder per test
	})
}

func newRestic(t *testing.T) *drc.Restic {
	return &drc.Restic{Binary: testenv.Restic(t), Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func openSite(t *testing.T, r *drc.Restic, state string, cfg drc.Config) *drc.Site {
	t.Helper()
	s, err := drc.Open(cfg, r, state)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The same repository at two sites, each opened with its own password.
func TestEnsureSeedsSecondaryWithItsOwnKey(t *testing.T) {
	ctx := context.Background()
	r := newRestic(t)
	state := t.TempDir()
	m := testenv.StartMinIO(t, "cadang")
	local := openSite(t, r, state, drc.Config{Name: "local", Role: drc.RolePrimary,
		S3: &drc.S3Config{Endpoint: m.Endpoint, Bucket: "cadang", Prefix: "dc1", AccessKey: m.AccessKey, SecretKeyFile: m.SecretKeyFile(), Insecure: true}})
	offsite := openSite(t, r, state, drc.Config{Name: "offsite", Role: drc.RoleSecondary, Path: filepath.Join(t.TempDir(), "offsite")})
	sites := []*drc.Site{local, offsite}

	res := drc.Ensure(ctx, sites, "dinkes")
	if res[0].Action != "created" || res[1].Action != "seeded" || res[1].From != "local" {
		t.Fatalf("first Ensure: %+v", res)
	}
	res = drc.Ensure(ctx, sites, "dinkes")
	if res[0].Action != "exists" || res[1].Action != "exists" {
		t.Fatalf("second Ensure: %+v", res)
	}

	// Each site has its own 0600 password file, and they differ.
	pl := readFile(t, filepath.Join(state, "keys", "local", "dinkes.key"))
	po := readFile(t, filepath.Join(state, "keys", "offsite", "dinkes.key"))
	if bytes.Equal(pl, po) || len(pl) < 40 {
		t.Fatalf("passwords must be random and per site: %q %q", pl, po)
	}
	for _, site := range []string{"local", "offsite"} {
		st, err := os.Stat(filepath.Join(state, "keys", site, "dinkes.key"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("key file of %s: %v %v", site, st.Mode(), err)
		}
	}
	// The same repository (config) at both, one key object at each, not the same one.
	cfgL, cfgO := objectNames(t, local.Repo("dinkes").Store, "config"), objectNames(t, offsite.Repo("dinkes").Store, "config")
	if len(cfgL) != 1 || len(cfgO) != 1 {
		t.Fatalf("config objects: %v %v", cfgL, cfgO)
	}
	kl, ko := objectNames(t, local.Repo("dinkes").Store, "keys/"), objectNames(t, offsite.Repo("dinkes").Store, "keys/")
	if len(kl) != 1 || len(ko) != 1 || kl[0] == ko[0] {
		t.Fatalf("keys: local %v offsite %v", kl, ko)
	}

	// A snapshot written at the primary and copied object by object opens at the
	// secondary with the secondary's password: the master key is shared.
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a.txt"), "hello DRC")
	sum, _, err := local.Repo("dinkes").Backup(ctx, drc.BackupOptions{Paths: []string{src}, Host: "test", Tags: []string{"target=t1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	copyAll(t, local.Repo("dinkes").Store, offsite.Repo("dinkes").Store, "data/", "index/", "snapshots/")
	snaps, err := offsite.Repo("dinkes").Snapshots(ctx, "target=t1")
	if err != nil || len(snaps) != 1 || snaps[0].ID != sum.SnapshotID {
		t.Fatalf("offsite snapshots = %+v, %v; want %s", snaps, err, sum.SnapshotID)
	}
	var out bytes.Buffer
	if err := offsite.Repo("dinkes").Dump(ctx, sum.SnapshotID, filepath.Join(src, "a.txt"), &out); err != nil || out.String() != "hello DRC" {
		t.Fatalf("dump from offsite = %q, %v", out.String(), err)
	}

	// A site holding a different repository is reported, never touched.
	other := openSite(t, r, t.TempDir(), drc.Config{Name: "offsite", Role: drc.RoleSecondary, Path: filepath.Join(t.TempDir(), "other")})
	if res := drc.Ensure(ctx, []*drc.Site{other}, "dinkes"); res[0].Action != "created" {
		t.Fatalf("%+v", res)
	}
	mixed := []*drc.Site{local, openSite(t, r, state, other.Config)}
	res = drc.Ensure(ctx, mixed, "dinkes")
	if res[1].Action != "failed" || !strings.Contains(res[1].Error, "holds a different repository") {
		t.Fatalf("different repository not detected: %+v", res[1])
	}
}

func TestRepoErrors(t *testing.T) {
	ctx := context.Background()
	r := newRestic(t)
	state := t.TempDir()
	site := openSite(t, r, state, drc.Config{Name: "local", Role: drc.RolePrimary, Path: filepath.Join(t.TempDir(), "repo")})

	if _, err := site.Repo("none").Snapshots(ctx); !errors.Is(err, drc.ErrNoRepository) {
		t.Errorf("missing repository: want ErrNoRepository, got %v", err)
	}
	if res := drc.Ensure(ctx, []*drc.Site{site}, "dinkes"); res[0].Action != "created" {
		t.Fatalf("%+v", res)
	}
	// Replace the password: restic must say wrong password (exit 12).
	if err := os.WriteFile(filepath.Join(state, "keys", "local", "dinkes.key"), []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := site.Repo("dinkes").Snapshots(ctx)
	if !errors.Is(err, drc.ErrWrongPassword) {
		t.Fatalf("want ErrWrongPassword, got %v", err)
	}
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `drc "local"`) {
		t.Errorf("error must be one line naming the DRC: %q", err)
	}
	if strings.Contains(err.Error(), "wrong\n") {
		t.Errorf("error holds the password: %q", err)
	}

	r.Binary = filepath.Join(t.TempDir(), "no-restic")
	if _, err := site.Repo("dinkes").Snapshots(ctx); !errors.Is(err, drc.ErrResticMissing) {
		t.Errorf("missing binary: want ErrResticMissing, got %v", err)
	}
}

func TestCheckReportsWhatIsWrong(t *testing.T) {
	ctx := context.Background()
	r := newRestic(t)
	m := testenv.StartMinIO(t, "cadang")
	s3 := func(mut func(*drc.S3Config)) drc.Config {
		c := &drc.S3Config{Endpoint: m.Endpoint, Bucket: "cadang", AccessKey: m.AccessKey, SecretKey: m.SecretKey, Insecure: true}
		mut(c)
		return drc.Config{Name: "local", Role: drc.RolePrimary, S3: c}
	}
	cases := []struct {
		name string
		cfg  drc.Config
		want string
	}{
		{"ok", s3(func(*drc.S3Config) {}), ""},
		{"wrong secret", s3(func(c *drc.S3Config) { c.SecretKey = "nope" }), `drc "local": access denied at http://` + m.Endpoint + `/cadang (check access_key and secret_key): SignatureDoesNotMatch`},
		{"unknown bucket", s3(func(c *drc.S3Config) { c.Bucket = "nobucket" }), `drc "local": bucket "nobucket" does not exist at http://` + m.Endpoint},
		{"down", s3(func(c *drc.S3Config) { c.Endpoint = "127.0.0.1:1" }), `drc "local": cannot reach http://127.0.0.1:1/cadang: connect: connection refused`},
		{"missing dir", drc.Config{Name: "off", Path: "/nonexistent/cadang"}, `drc "off": directory /nonexistent/cadang does not exist (run ` + "`cadang init`" + `, or mount it)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := openSite(t, r, t.TempDir(), tc.cfg).Check(ctx)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if !strings.HasPrefix(got, tc.want) || (tc.want == "") != (got == "") {
				t.Errorf("Check:\n got %q\nwant %q", got, tc.want)
			}
			if strings.Contains(got, m.SecretKey) || strings.Contains(got, "\n") {
				t.Errorf("error leaks the secret or is not one line: %q", got)
			}
		})
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func objectNames(t *testing.T, s drc.Store, prefix string) []string {
	t.Helper()
	var names []string
	if err := s.List(context.Background(), prefix, func(o drc.ObjectInfo) error {
		names = append(names, o.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return names
}

func copyAll(t *testing.T, from, to drc.Store, prefixes ...string) {
	t.Helper()
	ctx := context.Background()
	for _, p := range prefixes {
		for _, name := range objectNames(t, from, p) {
			rc, err := from.Get(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			info, _ := from.Stat(ctx, name)
			if err := to.Put(ctx, name, rc, info.Size); err != nil {
				t.Fatal(err)
			}
			rc.Close()
		}
	}
}

// A tree backed up from a different folder each time keeps its paths (Dir and relative
// paths); with Parent, a file of the parent's size and time is taken from the parent
// unread, and MinUnmodified fails a backup in which restic read such a file after all.
func TestBackupFromParent(t *testing.T) {
	ctx := context.Background()
	site := openSite(t, newRestic(t), t.TempDir(), drc.Config{Name: "local", Role: drc.RolePrimary, Path: filepath.Join(t.TempDir(), "repo")})
	if res := drc.Ensure(ctx, []*drc.Site{site}, "dinkes"); res[0].Action != "created" {
		t.Fatalf("%+v", res)
	}
	repo := site.Repo("dinkes")
	at := time.Unix(7, 0)
	tree := func(data string) string {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "d"), 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "d", "a"), data)
		writeFile(t, filepath.Join(dir, "d", "b"), "bbbb")
		for _, f := range []string{"a", "b"} {
			if err := os.Chtimes(filepath.Join(dir, "d", f), at, at); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	first, _, err := repo.Backup(ctx, drc.BackupOptions{Dir: tree("aaaa"), Paths: []string{"d"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// "a" is a placeholder of the same size and time: its content must come from first.
	second, _, err := repo.Backup(ctx, drc.BackupOptions{Dir: tree("\x00\x00\x00\x00"), Paths: []string{"d"},
		Parent: first.SnapshotID, MinUnmodified: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := repo.Dump(ctx, second.SnapshotID, "/d/a", &out); err != nil || out.String() != "aaaa" {
		t.Fatalf("/d/a of the second snapshot: %q, %v; want the parent's content", out.String(), err)
	}
	// A placeholder restic reads (its time differs) must fail the backup, with the
	// snapshot reported so that the caller marks it bad.
	dir := tree("\x00\x00\x00\x00")
	if err := os.Chtimes(filepath.Join(dir, "d", "a"), time.Unix(8, 0), time.Unix(8, 0)); err != nil {
		t.Fatal(err)
	}
	third, _, err := repo.Backup(ctx, drc.BackupOptions{Dir: dir, Paths: []string{"d"}, Parent: second.SnapshotID, MinUnmodified: 2}, nil)
	if err == nil || third == nil || !strings.Contains(err.Error(), "took 1 files unchanged") {
		t.Fatalf("want a failure with the snapshot, got %v, %+v", err, third)
	}
}

// A sparse file (a VM image with 256 MiB of holes and 1 MiB of data) comes back sparse,
// with the same content.
func TestRestoreSparse(t *testing.T) {
	ctx := context.Background()
	site := openSite(t, newRestic(t), t.TempDir(), drc.Config{Name: "local", Role: drc.RolePrimary, Path: filepath.Join(t.TempDir(), "repo")})
	if res := drc.Ensure(ctx, []*drc.Site{site}, "dinkes"); res[0].Error != "" {
		t.Fatalf("%+v", res)
	}
	repo := site.Repo("dinkes")
	src := t.TempDir()
	img := filepath.Join(src, "disk.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("cadang"), (1<<20)/6)
	if _, err := f.WriteAt(data, 128<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(256 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sum, _, err := repo.Backup(ctx, drc.BackupOptions{Paths: []string{img}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	if _, err := repo.Restore(ctx, sum.SnapshotID, dest, nil, nil); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(dest, img)
	var st syscall.Stat_t
	if err := syscall.Stat(restored, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != 256<<20 || st.Blocks*512 > 16<<20 {
		t.Errorf("restored image: %d bytes, %d allocated; want 256 MiB with at most 16 MiB allocated", st.Size, st.Blocks*512)
	}
	got, err := os.ReadFile(restored)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(img)
	if !bytes.Equal(got, want) {
		t.Error("the restored image differs from the source")
	}
}
