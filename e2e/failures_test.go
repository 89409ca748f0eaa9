package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cadang/cadang/internal/testenv"
)

const oneTarget = `
agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - {name: portal-files, agency: dinkes, kind: files, files: {paths: [%q]}}
`

// expectFailedRun checks that a backup fails with one clear line naming the cause, and
// that the failed run is recorded with that reason.
func expectFailedRun(t *testing.T, w *world, want string) {
	t.Helper()
	ri, r := w.backupJSON("portal-files")
	if r.code != 1 || ri.Status != "failed" {
		t.Fatalf("want a failed run (exit 1), got %s", r)
	}
	if !strings.Contains(ri.Error, want) || !testenv.OneLine(ri.Error) {
		t.Errorf("run error:\n got %q\nwant one line containing %q", ri.Error, want)
	}
	if !testenv.OneLine(r.stderr) || !strings.Contains(r.stderr, want) {
		t.Errorf("stderr must be one line naming the cause %q:\n%s", want, r.stderr)
	}
	runs := w.runs("portal-files")
	if len(runs) == 0 || runs[0].ID != ri.ID || runs[0].Status != "failed" || runs[0].Error != ri.Error {
		t.Errorf("the failed run is not recorded: %+v", runs)
	}
	// Plain output (no --json) says it too, in one line on stderr.
	r = w.cadang("backup", "portal-files", "--wait")
	if r.code != 1 || !strings.Contains(r.stderr, want) || !testenv.OneLine(r.stderr) {
		t.Errorf("plain backup: %s", r)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := testenv.StartMinIO(t, "cadang")

	t.Run("wrong S3 secret", func(t *testing.T) {
		w := newWorld(t)
		bad := filepath.Join(w.dir, "bad.secret")
		if err := os.WriteFile(bad, []byte("not-the-secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		w.config(fmt.Sprintf("drcs:\n  - {name: local, role: primary, s3: {endpoint: %q, bucket: cadang, access_key: %s, secret_key_file: %s, insecure: true}}\n",
			m.Endpoint, m.AccessKey, bad) + fmt.Sprintf(oneTarget, src))
		w.startDaemon()
		expectFailedRun(t, w, `drc "local": access denied at http://`+m.Endpoint+`/cadang (check access_key and secret_key)`)
		if strings.Contains(w.log(), "not-the-secret") {
			t.Error("the secret reached the daemon's log")
		}
	})

	t.Run("unknown bucket", func(t *testing.T) {
		w := newWorld(t)
		w.config("drcs:\n" + s3DRC("local", "primary", m, "", "nosuchbucket") + fmt.Sprintf(oneTarget, src))
		w.startDaemon()
		expectFailedRun(t, w, `drc "local": bucket "nosuchbucket" does not exist at http://`+m.Endpoint)
	})

	t.Run("DRC down", func(t *testing.T) {
		w := newWorld(t)
		down := testenv.StartMinIO(t, "cadang")
		w.config("drcs:\n" + s3DRC("local", "primary", down, "", "cadang") + fmt.Sprintf(oneTarget, src))
		down.Stop()
		w.startDaemon()
		expectFailedRun(t, w, `drc "local": cannot reach http://`+down.Endpoint+`/cadang: connect: connection refused`)
	})

	t.Run("restic binary missing", func(t *testing.T) {
		w := newWorld(t)
		w.restic = filepath.Join(w.dir, "no", "restic")
		w.config(pathDRC(w) + fmt.Sprintf(oneTarget, src))
		w.startDaemon()
		expectFailedRun(t, w, "restic binary not found: "+w.restic)
	})

	t.Run("target path does not exist", func(t *testing.T) {
		w := newWorld(t)
		w.config(pathDRC(w) + fmt.Sprintf(oneTarget, "/srv/no-such-app"))
		w.startDaemon()
		expectFailedRun(t, w, "path /srv/no-such-app does not exist")
		// No snapshot was made.
		if r := w.must("snapshots", "portal-files"); strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("a failed run left snapshots:\n%s", r.stdout)
		}
	})

	t.Run("config with three mistakes", func(t *testing.T) {
		w := newWorld(t)
		w.config(`drcs:
  - {name: local, role: primery, path: /srv/drc}
agencies:
  - {id: dinkes}
targets:
  - name: portal-files
    agency: dinkes
    kind: files
    files: {paths: [relative/path]}
    shedule: "0 2 * * *"
`)
		for _, args := range [][]string{{"config", "check"}, {"daemon"}, {"backup", "portal-files"}} {
			r := w.cadang(args...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code != 2 || len(lines) != 3 {
				t.Fatalf("cadang %v: want exit 2 and three problems, got %s", args, r)
			}
			want := []string{
				`cadang.yaml:5:25: drc "local": role: "primery" is not a role: use primary or secondary`,
				`cadang.yaml:12:21: target "portal-files": files.paths[0]: "relative/path" must be an absolute path`,
				`cadang.yaml:13:5: target "portal-files": shedule: unknown key; did you mean "schedule"?`,
			}
			for i, l := range lines {
				if !strings.HasSuffix(l, want[i]) || !strings.HasPrefix(l, w.cfgFile+":") {
					t.Errorf("cadang %v problem %d:\n got %s\nwant %s", args, i, l, want[i])
				}
			}
		}
	})

	t.Run("restore destination not empty", func(t *testing.T) {
		w := newWorld(t)
		w.config(pathDRC(w) + fmt.Sprintf(oneTarget, src))
		w.startDaemon()
		w.must("backup", "portal-files", "--wait")
		dest := filepath.Join(w.dir, "dest")
		if err := os.MkdirAll(dest, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dest, "precious.txt"), []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := w.cadang("restore", "portal-files", "--to", dest)
		// A request that cannot succeed is refused at once (400, exit 2), before a run
		// is queued; so are an unknown option and trailing data after the request.
		if r.code != 2 || !testenv.OneLine(r.stderr) || !strings.Contains(r.stderr, "destination exists and is not empty (choose an empty directory or use --force)") {
			t.Fatalf("restore into a non-empty folder: %s", r)
		}
		if b, _ := os.ReadFile(filepath.Join(dest, "precious.txt")); string(b) != "keep me" {
			t.Error("the refused restore touched the destination")
		}
		if r := w.cadang("restore", "portal-files", "--to", filepath.Join(w.dir, "new"), "--define", "vm2"); r.code != 2 || !strings.Contains(r.stderr, "files targets take no restore options") {
			t.Errorf("restore with an option the kind does not take: %s", r)
		}
		if runs := w.runs("portal-files"); runs[0].Op != "backup" {
			t.Errorf("a refused restore was queued as a run: %+v", runs[0])
		}
		if code, body := w.post("/v1/restores", `{"target": "portal-files", "to": "/tmp/x"} {"to": "/"}`); code != 400 ||
			!strings.Contains(body, "data after the JSON object") {
			t.Errorf("a request with data after its JSON object: %d %s", code, body)
		}
		// --force restores beside what is there.
		w.must("restore", "portal-files", "--to", dest, "--force")
		if b, _ := os.ReadFile(filepath.Join(dest, src, "a")); string(b) != "a" {
			t.Error("forced restore did not restore")
		}
	})

	t.Run("no daemon; unknown target; bad usage", func(t *testing.T) {
		w := newWorld(t)
		w.config(pathDRC(w) + fmt.Sprintf(oneTarget, src))
		r := w.cadang("runs")
		if r.code != 1 || !testenv.OneLine(r.stderr) || !regexp.MustCompile(`no cadang daemon is running \(socket .*cadang.sock\): start it with`).MatchString(r.stderr) {
			t.Errorf("no daemon: %s", r)
		}
		w.startDaemon()
		// A wrong name is bad usage (exit 2), with the closest configured name.
		if r := w.cadang("backup", "no-such-target"); r.code != 2 || !strings.Contains(r.stderr, `unknown target "no-such-target"`) || !testenv.OneLine(r.stderr) {
			t.Errorf("unknown target: %s", r)
		}
		if r := w.cadang("restore", "portal-file", "--to", w.dir+"/r"); r.code != 2 || !strings.Contains(r.stderr, `unknown target "portal-file"; did you mean "portal-files"?`) {
			t.Errorf("misspelt target: %s", r)
		}
		if r := w.cadang("backup"); r.code != 2 || !strings.Contains(r.stderr, "usage: cadang backup TARGET") {
			t.Errorf("missing argument: %s", r)
		}
		if r := w.cadang("backup", "portal-files", "--wiat"); r.code != 2 || !strings.Contains(r.stderr, "unknown flag: --wiat") {
			t.Errorf("unknown flag: %s", r)
		}
		if r := w.cadang("daemon"); r.code != 1 || !strings.Contains(r.stderr, "another cadang daemon is already running") {
			t.Errorf("second daemon: %s", r)
		}
	})
}

// pathDRC is the drcs section of one filesystem DRC in the test's folder.
func pathDRC(w *world) string {
	return fmt.Sprintf("drcs:\n  - {name: local, role: primary, path: %q}\n", filepath.Join(w.dir, "drc"))
}
