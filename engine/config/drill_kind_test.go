package config

import (
	"errors"
	"strings"
	"testing"
)

// drill.server per kind (issue 13, point 21): a PostgreSQL URL at the top level no
// longer reaches MySQL targets; drill: {postgres: {server}, mysql: {server}} gives each
// kind its own; the older server key still works for the kind its scheme names; a
// target's own settings come before the top level's.
func TestDrillServerPerKind(t *testing.T) {
	src := `state_dir: /s
drcs: [{name: local, role: primary, path: /l}]
agencies: [{id: x}]
drill:
  server: "postgres://pg-drill:5432/"
  mysql: {server: "mysql://my-drill:3306/"}
targets:
  - {name: pg, agency: x, kind: postgres, postgres: {host: db, database: a}}
  - {name: my, agency: x, kind: mysql, mysql: {host: db, database: a}}
  - {name: pg-own, agency: x, kind: postgres, postgres: {host: db, database: a}, drill: {postgres: {server: "postgres://own:5432/"}}}
  - {name: my-old, agency: x, kind: mysql, mysql: {host: db, database: a}, drill: {server: "mysql://old:3306/", allow_production: true}}
  - {name: files, agency: x, kind: files, files: {paths: [/a]}}
`
	c, err := Parse("cadang.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		server string
		allow  bool
	}{
		{"postgres://pg-drill:5432/", false},
		{"mysql://my-drill:3306/", false},
		{"postgres://own:5432/", false},
		{"mysql://old:3306/", true},
		{"", false},
	} {
		d := c.DrillOf(&c.Targets[i])
		if d.Server != want.server || d.AllowProduction != want.allow {
			t.Errorf("target %s: server %q allow_production %v, want %q %v", c.Targets[i].Name, d.Server, d.AllowProduction, want.server, want.allow)
		}
	}

	// Only the MySQL section at the top level: a MySQL target uses it, a PostgreSQL one
	// has none (and its drill refuses production), not the MySQL URL.
	c, err = Parse("cadang.yaml", []byte(`state_dir: /s
drcs: [{name: local, role: primary, path: /l}]
agencies: [{id: x}]
drill: {server: "mysql://my-drill/"}
targets:
  - {name: pg, agency: x, kind: postgres, postgres: {host: db, database: a}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.DrillOf(&c.Targets[0]); d.Server != "" {
		t.Errorf("a mysql:// drill.server reached a postgres target: %q", d.Server)
	}

	_, err = Parse("cadang.yaml", []byte(`state_dir: /s
drcs: [{name: local, role: primary, path: /l}]
agencies: [{id: x}]
drill: {postgres: {server: "mysql://db/"}, mysql: {server: "mysql://u:pw@db/"}}
`))
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("want *Error, got %v", err)
	}
	for _, want := range []string{`drill.postgres.server: scheme "mysql": the postgres drill server must be a postgres:// URL`, `drill.mysql.server: a password in the URL is refused`} {
		if !strings.Contains(cerr.Error(), want) {
			t.Errorf("problems %q lack %q", cerr.Error(), want)
		}
	}
}
