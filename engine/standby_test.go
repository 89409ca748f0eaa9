package engine

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/server"
)

// A cadang that is not the primary (a standby, or read-only because another site holds
// the takeover lease) takes no work and writes nothing an agency or operator would
// expect to keep: runs, tokens, requests are refused with 409 and the reason; reads
// still answer.
func TestPassiveCadangRefusesWork(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, `daemon: {site: dr}
drcs:
  - {name: local, role: primary, path: $DIR/local}
agencies: [{id: dinkes, name: Dinas Kesehatan}]
targets:
  - {name: portal, agency: dinkes, kind: stub, stub: {}}
`)
	d := newTestDaemon(t, cfg, func() time.Time { return time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC) })
	s := service{d}
	for _, role := range []string{roleStandby, roleReadOnly} {
		d.setRole(role, "why "+role)
		for name, call := range map[string]func() error{
			"backup": func() error { _, err := s.Backup(api.BackupRequest{Target: "portal"}); return err },
			"token":  func() error { _, err := s.CreateToken(api.TokenRequest{Name: "portal", Role: "operator"}); return err },
			"revoke": func() error { _, err := s.RevokeToken("portal"); return err },
			"restore request": func() error {
				_, err := s.RequestRestore(api.RestoreRequest{Target: "portal"}, api.Actor{Name: "x", Role: "agency-admin", Agency: "dinkes"})
				return err
			},
		} {
			err := call()
			if server.StatusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "why "+role) {
				t.Errorf("%s at a %s cadang: %v (HTTP %d), want 409 with the reason", name, role, err, server.StatusOf(err))
			}
		}
		st, err := s.Status()
		if err != nil || st.Site == nil || st.Site.Role != role || st.Site.Name != "dr" {
			t.Errorf("status at a %s cadang: %+v, %v", role, st.Site, err)
		}
		if hasProblem := len(st.Problems) > 0 && strings.Contains(st.Problems[0], "why "+role); hasProblem != (role == roleReadOnly) {
			t.Errorf("status problems at a %s cadang: %q (a read-only cadang is a problem, a standby is not)", role, st.Problems)
		}
	}
	d.setRole(rolePrimary, "")
	if _, err := s.Backup(api.BackupRequest{Target: "portal"}); err != nil {
		t.Errorf("backup at the primary: %v", err)
	}
}
