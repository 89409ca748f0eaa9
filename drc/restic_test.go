package drc_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadang/cadang/drc"
)

// fakeRestic writes a script that records its argv and environment, prints stdout and
// stderr, and exits with code: fault injection for exit codes restic rarely gives.
func fakeRestic(t *testing.T, stdout, stderr string, code int) (bin, record string) {
	t.Helper()
	dir := t.TempDir()
	record = filepath.Join(dir, "record")
	writeFile(t, filepath.Join(dir, "stdout"), stdout)
	writeFile(t, filepath.Join(dir, "stderr"), stderr)
	script := fmt.Sprintf(`#!/bin/sh
printf '%%s\n' "$@" > %[1]s.argv
env > %[1]s.env
cat "$RESTIC_PASSWORD_FILE" > %[1]s.password
cat %[2]s/stdout
cat %[2]s/stderr >&2
exit %[3]d
`, record, dir, code)
	bin = filepath.Join(dir, "restic")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, record
}

func fakeSite(t *testing.T, bin string) *drc.Site {
	t.Helper()
	state := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	writeFile(t, secret, "S3-SECRET-VALUE\n")
	r := &drc.Restic{Binary: bin, Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	site := openSite(t, r, state, drc.Config{Name: "local", Role: drc.RolePrimary,
		S3: &drc.S3Config{Endpoint: "127.0.0.1:9", Bucket: "cadang", AccessKey: "AK", SecretKeyFile: secret, Insecure: true}})
	if err := os.MkdirAll(filepath.Join(state, "keys", "local"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(state, "keys", "local", "dinkes.key"), "REPO-PASSWORD\n")
	return site
}

func TestExitCodes(t *testing.T) {
	summary := `{"message_type":"summary","files_new":2,"data_added":100,"snapshot_id":"abc123"}`
	cases := []struct {
		name      string
		stdout    string
		stderr    string
		code      int
		is        error
		wantMsg   string
		wantSnaps bool
	}{
		{"partial keeps the snapshot", `{"message_type":"error","error":{"message":"open /srv/x: permission denied"},"during":"archival","item":"/srv/x"}` + "\n" + summary + "\n",
			`{"message_type":"exit_error","code":3,"message":"Warning: at least one source file could not be read"}`, 3, drc.ErrPartial,
			`restic backup at drc "local": 1 file could not be read: /srv/x: open /srv/x: permission denied`, true},
		{"lock", "", `{"message_type":"exit_error","code":11,"message":"Fatal: unable to create lock in backend: repository is already locked by PID 7 on otherhost by root (UID 0, GID 0)\nlock was created at ...\nthe unlock command can be used"}`, 11, drc.ErrLocked,
			`restic backup at drc "local": unable to create lock in backend: repository is already locked by PID 7 on otherhost by root (UID 0, GID 0)`, false},
		{"no repository", "", `{"message_type":"exit_error","code":10,"message":"Fatal: repository does not exist: unable to open config file"}`, 10, drc.ErrNoRepository,
			`restic backup at drc "local": repository does not exist: unable to open config file`, false},
		{"wrong password", "", `{"message_type":"exit_error","code":12,"message":"Fatal: wrong password or no key found"}`, 12, drc.ErrWrongPassword,
			`restic backup at drc "local": wrong password or no key found`, false},
		{"plain stderr, huge", "", strings.Repeat("noise line\n", 20000) + "Fatal: something broke\n", 1, nil,
			`restic backup at drc "local": something broke`, false},
		{"no summary", "", "", 0, nil, `restic backup at drc "local": restic reported no snapshot`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bin, _ := fakeRestic(t, tc.stdout, tc.stderr, tc.code)
			sum, ferrs, err := fakeSite(t, bin).Repo("dinkes").Backup(context.Background(), drc.BackupOptions{Paths: []string{"/srv"}}, nil)
			if err == nil || err.Error() != tc.wantMsg {
				t.Fatalf("error:\n got %v\nwant %s", err, tc.wantMsg)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
			if got := sum != nil && sum.SnapshotID == "abc123"; got != tc.wantSnaps {
				t.Errorf("summary = %+v (want snapshot: %v)", sum, tc.wantSnaps)
			}
			if tc.code == 3 && (len(ferrs) != 1 || ferrs[0].Item != "/srv/x") {
				t.Errorf("file errors = %+v", ferrs)
			}
		})
	}
}

// Secrets reach restic through its environment and password file, never argv, and the
// daemon's own RESTIC_*/AWS_* variables do not leak into restic.
func TestSecretsStayOffArgv(t *testing.T) {
	t.Setenv("RESTIC_PASSWORD", "LEAKED-FROM-DAEMON")
	t.Setenv("AWS_SESSION_TOKEN", "LEAKED-TOKEN")
	bin, record := fakeRestic(t, `{"message_type":"summary","snapshot_id":"abc"}`, "", 0)
	_, _, err := fakeSite(t, bin).Repo("dinkes").Backup(context.Background(), drc.BackupOptions{
		Stdin: &drc.StdinCommand{Filename: "db.dump", Argv: []string{"pg_dump", "simpus"}, Env: []string{"PGPASSFILE=/tmp/x/pgpass"}},
		Tags:  []string{"target=simpus-db"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	argv := string(readFile(t, record+".argv"))
	env := string(readFile(t, record+".env"))
	for _, secret := range []string{"REPO-PASSWORD", "S3-SECRET-VALUE"} {
		if strings.Contains(argv, secret) {
			t.Errorf("argv holds %s:\n%s", secret, argv)
		}
	}
	if !strings.Contains(env, "AWS_SECRET_ACCESS_KEY=S3-SECRET-VALUE") || string(readFile(t, record+".password")) != "REPO-PASSWORD\n" {
		t.Errorf("restic did not get its credentials through env and password file:\n%s", env)
	}
	if strings.Contains(env, "LEAKED") {
		t.Errorf("the daemon's environment leaked into restic:\n%s", env)
	}
	// The dump command runs under env -i, so it cannot see restic's credentials.
	want := "--stdin-from-command\n--stdin-filename\ndb.dump\n--\nenv\n-i\n"
	if !strings.Contains(argv, want) || !strings.HasSuffix(argv, "PGPASSFILE=/tmp/x/pgpass\npg_dump\nsimpus\n") {
		t.Errorf("stdin command not isolated:\n%s", argv)
	}
}
