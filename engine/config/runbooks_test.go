package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const runbookBase = `state_dir: /s
drcs:
  - {name: local, role: primary, path: /l}
  - {name: offsite, role: secondary, path: /o}
agencies: [{id: dinkes}]
targets:
  - {name: simpus-db, agency: dinkes, kind: postgres, postgres: {host: 127.0.0.1, database: simpus, user: backup}}
  - {name: portal-files, agency: dinkes, kind: files, files: {paths: [/srv/portal]}}
`

// The issue's own example loads, with its defaults.
func TestRunbookLoads(t *testing.T) {
	src := runbookBase + `runbooks:
  - name: portal-failover
    description: Portal Dinas Kesehatan pindah ke DRC
    objectives: {rto: 2h}
    groups:
      - name: data
        parallel: true
        steps:
          - {name: restore-db, restore: {target: simpus-db, drc: offsite, to: "postgres://127.0.0.1:5432/simpus_dr"}}
          - {name: restore-files, restore: {target: portal-files, drc: offsite, to: /srv/dr/portal}}
      - name: verify
        depends_on: [data]
        steps:
          - {name: check-web, check: {http: {url: "http://10.0.0.5/health", status: 200}}, timeout: 2m, retries: 3}
          - {name: check-hello, check: {file: /srv/dr/portal/index.html, sha256: "` + strings.Repeat("ab", 32) + `"}}
          - {name: confirm, manual: {prompt: "Kepala Bidang menyetujui layanan dibuka", role: operator}}
`
	c, err := Parse("/etc/cadang/cadang.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rb, ok := c.Runbook("portal-failover")
	if !ok {
		t.Fatal("runbook not found")
	}
	if rb.Objectives.RTO != 2*time.Hour || len(rb.Groups) != 2 || !rb.Groups[0].Parallel || rb.Groups[1].Steps[0].Retries != 3 {
		t.Errorf("runbook: %+v", rb)
	}
	if rb.File != "/etc/cadang/cadang.yaml" || rb.Line != 10 || rb.Digest != c.Digest {
		t.Errorf("source: %s:%d %s", rb.File, rb.Line, rb.Digest)
	}
	if !rb.Groups[1].Steps[0].IsCritical() || rb.Groups[1].Steps[2].Kind() != "manual" {
		t.Errorf("defaults: %+v", rb.Groups[1].Steps)
	}
}

// Every mistake is reported with file:line:col, references to unknown targets, DRCs
// and hypervisors included, in the config file and in a runbooks_dir file alike.
func TestRunbookProblems(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(`name: web
groups:
  - name: data
    steps:
      - {name: r, restore: {target: portal-file, to: /x}}
      - {name: r2, restore: {target: portal-files, drc: ofsite, to: relative}}
      - {name: g, manual: {prompt: ok, role: janitor}, timout: 5m}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	src := runbookBase + `runbooks_dir: ` + dir + `
runbooks:
  - name: Bad Name
    groups:
      - name: a
        depends_on: [b]
        steps:
          - {name: x, run: [true], check: {tcp: "db:5432"}}
          - {name: y, check: {sql: {database: "restore:z", query: "select 1"}}}
          - {name: db, restore: {target: simpus-db, to: "postgres://u:pw@db/x"}, modes: [dry]}
      - name: b
        steps:
          - {name: x, notify: hello, retries: -1}
`
	_, err := Parse(filepath.Join(dir, "cadang.yaml"), []byte(src))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	got := err.Error()
	cy := filepath.Join(dir, "cadang.yaml")
	web := filepath.Join(dir, "web.yaml")
	for _, w := range []string{
		cy + `:11:11: runbooks[0].name: "Bad Name" is not a valid name`,
		cy + `:14:22: runbooks[0].groups[0].depends_on[0]: group "b" comes later`,
		cy + `:16:13: runbooks[0].groups[0].steps[0]: needs exactly one of restore, run, check, manual, notify`,
		cy + `:17:47: runbooks[0].groups[0].steps[1].check.sql.database: no restore step "z" before this check`,
		cy + `:18:57: runbooks[0].groups[0].steps[2].restore.to: a password in the URL is refused`,
		cy + `:18:90: runbooks[0].groups[0].steps[2].modes[0]: unknown mode "dry"`,
		cy + `:21:20: runbooks[0].groups[1].steps[0].name: step "x" is defined twice`,
		cy + `:21:47: runbooks[0].groups[1].steps[0].retries: must be between 0 and 100`,
		web + `:5:37: groups[0].steps[0].restore.target: unknown target "portal-file"`,
		web + `:6:57: groups[0].steps[1].restore.drc: unknown drc "ofsite"`,
		web + `:6:69: groups[0].steps[1].restore.to: required: an absolute folder`,
		web + `:7:46: groups[0].steps[2].manual.role: unknown role "janitor"`,
		web + `:7:56: groups[0].steps[2].timout: unknown key; did you mean "timeout"?`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q", w)
		}
	}
	if t.Failed() {
		t.Logf("got:\n%s", got)
	}
}

// The three-tier example of docs/runbooks.md loads as a runbooks_dir file.
func TestRunbookDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "# /etc/cadang/runbooks.d/simpus-failover.yaml")
	if !ok {
		t.Fatal("docs/runbooks.md: the example is gone")
	}
	_, rest, _ = strings.Cut(rest, "\n")
	example, _, _ := strings.Cut(rest, "```")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "simpus-failover.yaml"), []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	src := runbookBase + "  - {name: simpus-app-files, agency: dinkes, kind: files, files: {paths: [/srv/simpus]}}\nrunbooks_dir: " + dir + "\n"
	c, err := Parse(filepath.Join(dir, "cadang.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rb, ok := c.Runbook("simpus-failover")
	if !ok || len(rb.Groups) != 5 || rb.ObjectivesOf("simpus").RTO != 2*time.Hour || rb.ObjectivesOf("simpus").RPO != 26*time.Hour {
		t.Errorf("example: %+v", rb)
	}
}
