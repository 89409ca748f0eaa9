package packaging_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cadang/cadang/internal/testenv"
)

// The throwaway root the package is installed into: a Debian release, with systemd
// installed (not running) so that its units can be verified there.
const (
	suite    = "bookworm"
	includes = "systemd,procps"
)

// TestDeb builds the package twice at one version (same bytes) and once at a newer
// one, checks its contents and metadata and its unit, then in a minimal Debian root
// (debootstrap, cached) installs it, runs the daemon as the user cadang, upgrades it
// (state kept), shows a catalog of a newer schema refused untouched, removes it
// (state kept) and purges it (state gone).
func TestDeb(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "the package test installs into a chroot: run it as root")
	}
	for _, tool := range []string{"dpkg-deb", "chroot", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skip(t, "%s is missing: apt-get install dpkg util-linux", tool)
		}
	}
	root := testenv.Root(t)
	restic := testenv.Restic(t)
	// nfpm is not among `make tools` (only `make deb` needs it): build it here, as
	// make deb does (cached: seconds once built).
	if out, err := exec.Command(filepath.Join(root, "e2e/tools/build.sh"), "nfpm").CombinedOutput(); err != nil {
		t.Fatalf("e2e/tools/build.sh nfpm: %v\n%s", err, out)
	}
	nfpm := testenv.Tool(t, "nfpm")
	base := debianRoot(t)
	tmp := t.TempDir()

	// Two builds at 1.0.0 (reproducible: the same bytes) and one at 1.1.0.
	old1 := buildDeb(t, root, tmp, "1.0.0", "a", restic, nfpm)
	old2 := buildDeb(t, root, tmp, "1.0.0", "b", restic, nfpm)
	if sumFile(t, old1) != sumFile(t, old2) {
		t.Errorf("two builds of 1.0.0 differ: %s, %s (the package is not reproducible)", old1, old2)
	}
	newer := buildDeb(t, root, tmp, "1.1.0", "c", restic, nfpm)

	t.Run("contents", func(t *testing.T) { checkContents(t, old1) })

	sys := overlay(t, base, tmp)
	inRoot := func(name string, args ...string) (string, error) {
		out, err := exec.Command("chroot", append([]string{sys, name}, args...)...).CombinedOutput()
		return string(out), err
	}
	must := func(name string, args ...string) string {
		t.Helper()
		out, err := inRoot(name, args...)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return out
	}
	copyFile(t, old1, filepath.Join(sys, "tmp/old.deb"))
	copyFile(t, newer, filepath.Join(sys, "tmp/new.deb"))

	// Install.
	must("dpkg", "-i", "/tmp/old.deb")
	checkVersion(t, must("cadang", "version", "--json"), "1.0.0")
	must("id", "cadang")
	checkMode(t, filepath.Join(sys, "var/lib/cadang"), 0o700, "cadang")
	checkMode(t, filepath.Join(sys, "etc/cadang"), 0o750, "root")
	checkMode(t, filepath.Join(sys, "etc/cadang/cadang.yaml"), 0o640, "root")
	must("cadang", "config", "check", "--config", "/etc/cadang/cadang.yaml")

	t.Run("systemd-analyze", func(t *testing.T) {
		if _, err := exec.LookPath("systemd-analyze"); err != nil {
			testenv.Skip(t, "systemd-analyze is missing: apt-get install systemd")
		}
		out, err := exec.Command("systemd-analyze", "verify", "--man=no", "--root="+sys, "/lib/systemd/system/cadang.service").CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify cadang.service: %v\n%s", err, out)
		}
		// The exposure score, computed from the file (systemd need not run): at most
		// 2.0 of 10 (it was 1.6 when this test was written).
		out, err = exec.Command("systemd-analyze", "security", "--offline=yes", "--threshold=20", "--no-pager",
			filepath.Join(sys, "lib/systemd/system/cadang.service")).CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Logf("systemd-analyze security: %s", lines[len(lines)-1])
		if err != nil {
			t.Errorf("systemd-analyze security cadang.service: %v (the exposure is above 2.0)\n%s", err, out)
		}
	})

	// The daemon as the user cadang, with the packaged configuration plus two targets:
	// one it may read, one it may not.
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{"srv/open", 0o755}, {"srv/closed", 0o700}} {
		dir := filepath.Join(sys, d.path)
		if err := os.MkdirAll(dir, d.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, d.mode)
		if err := os.WriteFile(filepath.Join(dir, "data.txt"), []byte("laporan "+d.path+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(sys, "etc/cadang/cadang.yaml")
	packaged, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(packaged), "targets: []\n", `targets:
  - {name: open, agency: contoh, kind: files, files: {paths: [/srv/open]}}
  - {name: closed, agency: contoh, kind: files, files: {paths: [/srv/closed]}}
`, 1)
	if cfg == string(packaged) {
		t.Fatal("the packaged cadang.yaml has no `targets: []` line to extend")
	}
	if err := os.WriteFile(conf, []byte(cfg), 0o640); err != nil {
		t.Fatal(err)
	}
	must("runuser", "-u", "cadang", "--", "cadang", "init")
	stop := startDaemon(t, sys)
	must("cadang", "backup", "open", "--wait")
	out, err := inRoot("cadang", "backup", "closed", "--wait")
	if err == nil || !strings.Contains(out, "permission denied") || !strings.Contains(out, "/srv/closed") {
		t.Errorf("a backup of a folder cadang may not read: want a failure naming it (permission denied), got %v:\n%s", err, out)
	}
	stop()

	// Upgrade: the state (catalog, keys) and the edited configuration stay.
	before := stateSums(t, filepath.Join(sys, "var/lib/cadang"))
	must("dpkg", "-i", "/tmp/new.deb")
	checkVersion(t, must("cadang", "version", "--json"), "1.1.0")
	if after := stateSums(t, filepath.Join(sys, "var/lib/cadang")); !sameSums(before, after) {
		t.Errorf("the upgrade changed the state dir:\nbefore %v\nafter  %v", before, after)
	}
	if b, _ := os.ReadFile(conf); string(b) != cfg {
		t.Errorf("the upgrade changed the edited /etc/cadang/cadang.yaml")
	}
	stop = startDaemon(t, sys)
	runs := must("cadang", "runs", "open", "--json")
	if !strings.Contains(runs, `"succeeded"`) {
		t.Errorf("after the upgrade, the run of 1.0.0 is not in the catalog:\n%s", runs)
	}
	stop()

	t.Run("newer-schema", func(t *testing.T) {
		// A catalog of a schema newer than this binary knows (as after a downgrade):
		// the daemon refuses it with one line and leaves it as it was.
		cat := filepath.Join(sys, "var/lib/cadang/catalog.db")
		setSchema(t, cat, 999)
		sum := sumFile(t, cat)
		out, err := inRoot("runuser", "-u", "cadang", "--", "cadang", "daemon")
		line := strings.TrimSpace(out)
		t.Logf("cadang daemon on a catalog of schema 999: %v: %s", err, line)
		if err == nil || strings.Count(line, "\n") > 0 || !strings.Contains(line, "schema version 999 is newer than this cadang knows") {
			t.Errorf("daemon on a newer catalog: want a one-line refusal, got %v:\n%s", err, out)
		}
		if sumFile(t, cat) != sum {
			t.Error("the refused catalog was changed")
		}
	})

	// Remove keeps the state, the configuration and the user; purge deletes the state.
	must("dpkg", "-r", "cadang")
	for _, p := range []string{"usr/bin/cadang", "usr/lib/cadang/restic", "lib/systemd/system/cadang.service"} {
		if _, err := os.Stat(filepath.Join(sys, p)); err == nil {
			t.Errorf("after remove, /%s is still there", p)
		}
	}
	for _, p := range []string{"var/lib/cadang/catalog.db", "etc/cadang/cadang.yaml"} {
		if _, err := os.Stat(filepath.Join(sys, p)); err != nil {
			t.Errorf("remove deleted /%s: %v", p, err)
		}
	}
	// As `systemctl enable cadang` leaves it (systemd does not run in the root).
	wants := filepath.Join(sys, "etc/systemd/system/multi-user.target.wants")
	os.MkdirAll(wants, 0o755)
	if err := os.Symlink("/lib/systemd/system/cadang.service", filepath.Join(wants, "cadang.service")); err != nil {
		t.Fatal(err)
	}
	must("dpkg", "-P", "cadang")
	for _, p := range []string{"var/lib/cadang", "etc/cadang", "etc/systemd/system/multi-user.target.wants/cadang.service"} {
		if _, err := os.Stat(filepath.Join(sys, p)); err == nil {
			t.Errorf("after purge, /%s is still there", p)
		}
	}
	must("id", "cadang") // the user stays: files elsewhere may belong to it
}

// debianRoot returns a minimal Debian root made by debootstrap, cached outside the
// checkout and made once (minutes: see docs/install.md).
func debianRoot(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("CADANG_TOOLS_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "cadang-tools")
	}
	dir := filepath.Join(cache, "debootstrap-"+suite+"-systemd")
	if _, err := os.Stat(filepath.Join(dir, "usr/bin/dpkg")); err == nil {
		return dir
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		testenv.Skip(t, "debootstrap is missing: run `make services` (e2e/setup/services.d/60-debootstrap.sh installs it)")
	}
	t.Logf("making a minimal Debian %s root in %s (once; minutes)", suite, dir)
	os.RemoveAll(dir + ".tmp")
	out, err := exec.Command("debootstrap", "--variant=minbase", "--include="+includes, suite, dir+".tmp", "http://deb.debian.org/debian").CombinedOutput()
	if err != nil {
		t.Fatalf("debootstrap %s: %v\n%s", suite, err, lastLines(string(out), 20))
	}
	if err := os.Rename(dir+".tmp", dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// overlay gives a writable copy of base (an overlay mount; the cache stays as it is)
// with /proc mounted, undone at cleanup.
func overlay(t *testing.T, base, tmp string) string {
	t.Helper()
	upper, work, sys := filepath.Join(tmp, "upper"), filepath.Join(tmp, "work"), filepath.Join(tmp, "root")
	for _, d := range []string{upper, work, sys} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", base, upper, work)
	if err := syscall.Mount("overlay", sys, "overlay", 0, opts); err != nil {
		testenv.Skip(t, "cannot mount an overlay on %s (%v): the test needs root with CAP_SYS_ADMIN", sys, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(sys, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", sys, err)
		}
	})
	proc := filepath.Join(sys, "proc")
	if err := syscall.Mount("proc", proc, "proc", 0, ""); err != nil {
		t.Fatalf("mount proc in %s: %v", sys, err)
	}
	t.Cleanup(func() { syscall.Unmount(proc, syscall.MNT_DETACH) })
	return sys
}

// buildDeb builds cadang at version and packages it with packaging/build-deb.sh, the
// script `make deb` runs, into tmp/name.
func buildDeb(t *testing.T, root, tmp, version, name, restic, nfpm string) string {
	t.Helper()
	dir := filepath.Join(tmp, name)
	bin := filepath.Join(dir, "cadang")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-X github.com/cadang/cadang/engine.Version="+version, "-o", bin, "./cmd/cadang")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(filepath.Join(root, "packaging/build-deb.sh"))
	cmd.Env = append(os.Environ(), "VERSION="+version, "CADANG_BIN="+bin, "RESTIC_BIN="+restic, "NFPM="+nfpm, "DIST="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("build-deb.sh %s: %v\n%s", version, err, stderr.String())
	}
	deb := strings.TrimSpace(string(out))
	if want := filepath.Join(dir, "cadang_"+version+"_amd64.deb"); deb != want {
		t.Fatalf("build-deb.sh made %q, want %q", deb, want)
	}
	return deb
}

func checkContents(t *testing.T, deb string) {
	out, err := exec.Command("dpkg-deb", "-c", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb -c: %v\n%s", err, out)
	}
	want := map[string]string{
		"./usr/bin/cadang":                                     "-rwxr-xr-x root/root",
		"./usr/lib/cadang/restic":                              "-rwxr-xr-x root/root",
		"./lib/systemd/system/cadang.service":                  "-rw-r--r-- root/root",
		"./etc/cadang/cadang.yaml":                             "-rw-r----- root/root",
		"./usr/share/bash-completion/completions/cadang":       "-rw-r--r-- root/root",
		"./usr/share/zsh/vendor-completions/_cadang":           "-rw-r--r-- root/root",
		"./usr/share/fish/vendor_completions.d/cadang.fish":    "-rw-r--r-- root/root",
		"./usr/share/man/man1/cadang.1.gz":                     "-rw-r--r-- root/root",
		"./usr/share/man/man1/cadang-daemon.1.gz":              "-rw-r--r-- root/root",
		"./usr/share/doc/cadang/install.md":                    "-rw-r--r-- root/root",
		"./usr/share/doc/cadang/examples/read-everything.conf": "-rw-r--r-- root/root",
		"./usr/share/doc/cadang/examples/libvirt.conf":         "-rw-r--r-- root/root",
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		if w, ok := want[f[5]]; ok {
			if got := f[0] + " " + f[1]; got != w {
				t.Errorf("%s: %s, want %s", f[5], got, w)
			}
			delete(want, f[5])
		}
	}
	for p := range want {
		t.Errorf("the package has no %s", p)
	}
	info, err := exec.Command("dpkg-deb", "-I", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb -I: %v\n%s", err, info)
	}
	for _, w := range []string{"Package: cadang", "Version: 1.0.0", "Architecture: amd64", "conffiles", "postinst", "prerm", "postrm"} {
		if !bytes.Contains(info, []byte(w)) {
			t.Errorf("dpkg-deb -I: no %q in\n%s", w, info)
		}
	}
	conffiles, err := exec.Command("sh", "-c", "dpkg-deb --ctrl-tarfile "+deb+" | tar -xO ./conffiles").CombinedOutput()
	if err != nil || strings.TrimSpace(string(conffiles)) != "/etc/cadang/cadang.yaml" {
		t.Errorf("conffiles = %q (%v), want /etc/cadang/cadang.yaml", conffiles, err)
	}
}

func checkVersion(t *testing.T, out, want string) {
	t.Helper()
	var v map[string]string
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("cadang version --json: %v\n%s", err, out)
	}
	if v["cadang"] != want || v["restic_binary"] != "/usr/lib/cadang/restic" || !strings.HasPrefix(v["restic"], "restic 0.18.1") {
		t.Errorf("cadang version: %v; want cadang %s with restic 0.18.1 at /usr/lib/cadang/restic", v, want)
	}
}

func checkMode(t *testing.T, path string, mode os.FileMode, owner string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != mode {
		t.Errorf("%s: mode %o, want %o", path, st.Mode().Perm(), mode)
	}
	uid := st.Sys().(*syscall.Stat_t).Uid
	if (owner == "root") != (uid == 0) {
		t.Errorf("%s: owner uid %d, want %s", path, uid, owner)
	}
}

// startDaemon starts `cadang daemon` as the user cadang in the root, its standard error
// a file that JOURNAL_STREAM names (as systemd does for the journal), waits until it
// answers, and returns what stops it.
func startDaemon(t *testing.T, sys string) func() {
	t.Helper()
	logFile, err := os.CreateTemp(t.TempDir(), "daemon.log")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	var st syscall.Stat_t
	if err := syscall.Fstat(int(logFile.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	log := logText{logFile}
	// systemd's notify socket (Type=notify), inside the root.
	notifyPath := filepath.Join(sys, "tmp", "notify.sock")
	os.Remove(notifyPath)
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { notify.Close() })
	os.Chmod(notifyPath, 0o666)
	states := make(chan string, 16)
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := notify.Read(buf)
			if err != nil {
				return
			}
			states <- string(buf[:n])
		}
	}()
	cmd := exec.Command("chroot", sys, "runuser", "-u", "cadang", "--", "cadang", "daemon")
	cmd.Env = append(os.Environ(), fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino), "NOTIFY_SOCKET=/tmp/notify.sock")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Errorf("the daemon did not stop on SIGTERM in 60s:\n%s", log.String())
		}
		select {
		case state := <-states:
			if !strings.HasPrefix(state, "STOPPING=1") {
				t.Errorf("after SIGTERM the daemon told systemd %q, want STOPPING=1", state)
			}
		case <-time.After(5 * time.Second): // sent before it ended; the reader may lag
			t.Error("the daemon stopped without telling systemd STOPPING=1")
		}
		// For the journal: each line starts with its priority, and has no time of its own.
		text := log.String()
		if !strings.HasPrefix(text, "<6>level=INFO ") || strings.Contains(text, "time=") {
			t.Errorf("the daemon's log under JOURNAL_STREAM is not in the journal's form:\n%s", text)
		}
	}
	// Ready when it says so (READY=1), and then it answers.
	select {
	case state := <-states:
		if !strings.HasPrefix(state, "READY=1") {
			stop()
			t.Fatalf("the daemon told systemd %q, want READY=1 first:\n%s", state, log.String())
		}
	case err := <-done:
		t.Fatalf("the daemon ended: %v\n%s", err, log.String())
	case <-time.After(30 * time.Second):
		stop()
		t.Fatalf("the daemon did not tell systemd READY=1 in 30s:\n%s", log.String())
	}
	if out, err := exec.Command("chroot", sys, "cadang", "status").CombinedOutput(); err != nil {
		stop()
		t.Fatalf("ready, but cadang status fails: %v\n%s", err, out)
	}
	return stop
}

// setSchema writes the catalog's schema version (bucket meta, key schema), as a newer
// cadang would.
func setSchema(t *testing.T, path string, v uint64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("meta"))
		if b == nil {
			return fmt.Errorf("%s has no meta bucket", path)
		}
		return b.Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, v))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func stateSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		sums[strings.TrimPrefix(p, dir)] = sumFile(t, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// logText reads a log file whole.
type logText struct{ f *os.File }

func (l logText) String() string {
	b, _ := os.ReadFile(l.f.Name())
	return string(b)
}

func sameSums(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func sumFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
