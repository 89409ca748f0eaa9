package libvirt

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/targets"
)

// Issue 13, point 14: a restore request that cannot succeed is refused before it is
// queued, with one line that names what is wrong.
func TestCheckRestore(t *testing.T) {
	tg := &Target{}
	base := t.TempDir()
	full := filepath.Join(base, "full")
	if err := os.MkdirAll(full, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "vda.qcow2"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(base, "new", "restored")
	for _, tc := range []struct {
		name string
		req  targets.RestoreRequest
		want string // "" accepted
	}{
		{"a new folder", targets.RestoreRequest{To: fresh}, ""},
		{"a new folder, defined", targets.RestoreRequest{To: fresh, Options: map[string]string{"define": "web01-dr"}}, ""},
		{"an empty folder", targets.RestoreRequest{To: base + "/new/.."}, ""},
		{"a folder with data, forced", targets.RestoreRequest{To: full, Force: true}, ""},
		{"a new folder, defined and started elsewhere", targets.RestoreRequest{To: fresh, Options: map[string]string{"define": "web01-dr", "uri": "qemu+ssh://root@dr1/system", "start": "true"}}, ""},
		{"unknown option", targets.RestoreRequest{To: fresh, Options: map[string]string{"define": "x", "boot": "yes"}},
			`libvirt restore has no option "boot" (it has: define, start, uri)`},
		{"start not a boolean", targets.RestoreRequest{To: fresh, Options: map[string]string{"define": "x", "start": "yes"}},
			`option start "yes": true or false`},
		{"uri not a hypervisor", targets.RestoreRequest{To: fresh, Options: map[string]string{"define": "x", "uri": "http://dr1/"}},
			`option uri: "http://dr1/": only QEMU hypervisors are supported (qemu:///system, qemu+ssh://host/system)`},
		{"start without define", targets.RestoreRequest{To: fresh, Options: map[string]string{"start": "true"}},
			"options uri and start are for a domain defined on the restored disks: give define too"},
		{"define without a name", targets.RestoreRequest{To: fresh, Options: map[string]string{"define": ""}},
			"--define needs the name of the new domain"},
		{"define with a bad name", targets.RestoreRequest{To: fresh, Options: map[string]string{"define": "web 01/dr"}},
			`--define "web 01/dr": a domain name is letters, digits, '.', '_', '+' and '-', at most 64`},
		{"relative destination", targets.RestoreRequest{To: "restored"},
			`restore destination "restored" must be an absolute path`},
		{"no destination", targets.RestoreRequest{},
			`restore destination "" must be an absolute path`},
		{"a folder with data", targets.RestoreRequest{To: full},
			"restore destination " + full + ": destination exists and is not empty (choose an empty directory or use --force)"},
		{"a file", targets.RestoreRequest{To: file, Force: true},
			"restore destination " + file + " is not a directory"},
		{"below a file", targets.RestoreRequest{To: filepath.Join(file, "a", "b")},
			"restore destination: open " + filepath.Join(file, "a", "b") + ": not a directory"},
	} {
		err := tg.CheckRestore(tc.req)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: not one line: %q", tc.name, err)
		}
	}
	if errors.Is(tg.CheckRestore(targets.RestoreRequest{To: full}), targets.ErrDestinationNotEmpty) != true {
		t.Error("a folder with data is not ErrDestinationNotEmpty")
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the check created %s", fresh)
	}
}

// A destination that cannot be written: the folder itself, or the folder above it
// where it would be created.
func TestCheckRestoreUnwritable(t *testing.T) {
	tg := &Target{}
	closed := filepath.Join(t.TempDir(), "closed")
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	closeDir(t, closed)
	if err := tg.CheckRestore(targets.RestoreRequest{To: closed}); err == nil ||
		!strings.HasPrefix(err.Error(), "restore destination "+closed+" is not writable: ") {
		t.Errorf("an unwritable folder: %v", err)
	}
	below := filepath.Join(closed, "a", "restored")
	if err := tg.CheckRestore(targets.RestoreRequest{To: below}); err == nil ||
		!strings.HasPrefix(err.Error(), "restore destination "+below+" cannot be created: folder "+closed+" is not writable: ") {
		t.Errorf("below an unwritable folder: %v", err)
	}
	// What Restore would meet: the folder cannot be made.
	if err := targets.PrepareDir(below, false); err == nil {
		t.Errorf("PrepareDir made %s: the test proves nothing", below)
	}
}

// closeDir makes dir unwritable, also to root (immutable), until the test ends.
func closeDir(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
		return
	}
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		testenv.Skip(t, "chattr +i %s: %s: the file system cannot make a folder unwritable to root", dir, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", dir).Run() })
}
