package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
)

// Issue 16, tokens: `cadang token create` prints the secret once; the list shows the
// token without it; a revoked token is listed as revoked; and the secret is nowhere
// the daemon writes (its state dir, its audit log, its log).
func TestTokens(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	w := newWorld(t)
	w.config(pathDRC(w) + fmt.Sprintf(oneTarget, src))
	w.startDaemon()

	var created api.TokenCreated
	mustJSON(t, w.must("token", "create", "--name", "dinkes-admin", "--role", "agency-admin", "--agency", agencyID, "--json").stdout, &created)
	if !strings.HasPrefix(created.Token, "cdg_") || created.Name != "dinkes-admin" || created.Role != "agency-admin" || created.Agency != agencyID {
		t.Fatalf("created %+v", created)
	}
	if d := time.Until(created.Expires); d < 89*24*time.Hour || d > 90*24*time.Hour {
		t.Errorf("expires %s, want 90 days from now", created.Expires)
	}
	secret := created.Token

	// Without --json: the secret once, and the warning that it cannot be shown again.
	r := w.must("token", "create", "--name", "bpk-audit", "--role", "auditor", "--expires", "30d")
	other := ""
	for _, f := range strings.Fields(r.stdout) {
		if strings.HasPrefix(f, "cdg_") {
			other = f
		}
	}
	if other == "" || other == secret || !strings.Contains(r.stderr, "cannot be shown again") {
		t.Errorf("token create: %s", r)
	}

	// Refusals: a name taken, an agency not in the configuration.
	if r := w.cadang("token", "create", "--name", "dinkes-admin", "--role", "agency-viewer", "--agency", agencyID); r.code == 0 || !strings.Contains(r.stderr, "never reused") {
		t.Errorf("name reused: %s", r)
	}
	if r := w.cadang("token", "create", "--name", "x", "--role", "agency-viewer", "--agency", "nope"); r.code == 0 || !strings.Contains(r.stderr, `unknown agency "nope"`) {
		t.Errorf("unknown agency: %s", r)
	}

	list := func() (map[string]api.TokenInfo, string) {
		t.Helper()
		var ts []api.TokenInfo
		js := w.must("token", "list", "--json").stdout
		mustJSON(t, js, &ts)
		out := map[string]api.TokenInfo{}
		for _, x := range ts {
			out[x.Name] = x
		}
		table := w.must("token", "list").stdout
		for _, s := range []string{js, table} {
			if strings.Contains(s, secret) || strings.Contains(s, other) || strings.Contains(s, "cdg_") {
				t.Errorf("the token list shows a secret:\n%s", s)
			}
		}
		return out, table
	}
	ts, table := list()
	if len(ts) != 2 || ts["dinkes-admin"].Status != "active" || ts["dinkes-admin"].Agency != agencyID || ts["bpk-audit"].Role != "auditor" {
		t.Errorf("tokens %+v", ts)
	}
	if !strings.Contains(table, "dinkes-admin") || !strings.Contains(table, "active") {
		t.Errorf("token list:\n%s", table)
	}

	if r := w.must("token", "revoke", "dinkes-admin"); !strings.Contains(r.stdout, "token dinkes-admin revoked") {
		t.Errorf("revoke: %s", r)
	}
	if r := w.cadang("token", "revoke", "nobody"); r.code == 0 || !strings.Contains(r.stderr, `token "nobody"`) {
		t.Errorf("revoke of an unknown token: %s", r)
	}
	ts, table = list()
	if ts["dinkes-admin"].Status != "revoked" || ts["dinkes-admin"].Revoked.IsZero() || ts["bpk-audit"].Status != "active" {
		t.Errorf("after revoke: %+v", ts)
	}
	if !strings.Contains(table, "revoked") {
		t.Errorf("token list after revoke:\n%s", table)
	}

	// The audit log has the calls, by the tokens' names, never their secrets.
	audit := w.must("audit", "--json", "--limit", "0").stdout
	if !strings.Contains(audit, `"token dinkes-admin"`) || !strings.Contains(audit, "POST /v1/tokens/{name}/revoke") {
		t.Errorf("the audit log lacks the token calls:\n%s", audit)
	}
	secrets := [][]byte{[]byte(secret), []byte(strings.TrimPrefix(secret, "cdg_")), []byte(other), []byte(strings.TrimPrefix(other, "cdg_"))}
	holds := func(b []byte) bool {
		for _, s := range secrets {
			if bytes.Contains(b, s) {
				return true
			}
		}
		return false
	}
	if holds([]byte(audit)) {
		t.Errorf("a secret is in the audit log:\n%s", audit)
	}

	if code := w.stopDaemon(syscall.SIGTERM, 2*time.Minute); code != 0 {
		t.Fatalf("daemon exit %d", code)
	}
	if !strings.Contains(w.log(), "dinkes-admin") {
		t.Errorf("the daemon's log does not name the token it created:\n%s", w.log())
	}
	if holds([]byte(w.log())) {
		t.Errorf("a secret is in the daemon's log:\n%s", w.log())
	}
	// Every file the daemon wrote (the catalog, with its free pages, included).
	files := 0
	err := filepath.WalkDir(w.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if holds(b) {
			t.Errorf("a secret is in %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(w.stateDir, "catalog.db")); err != nil || files < 2 {
		t.Fatalf("walked %d files, catalog: %v", files, err)
	}
}
