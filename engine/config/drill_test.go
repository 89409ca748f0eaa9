package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Drill settings: the top-level ones are defaults that a target's own override field
// by field; DRCs default to every DRC, the primary first.
func TestDrillSettings(t *testing.T) {
	src := `state_dir: /s
drcs:
  - {name: offsite, role: secondary, path: /o}
  - {name: local, role: primary, path: /l}
agencies: [{id: x}]
drill: {schedule: "0 3 * * 6", checks: ["SELECT true"]}
report: {language: en, office: {name: Diskominfo}, signers: {performed_by: {name: Budi}}, basis: ["Perwako 24/2019"]}
targets:
  - {name: a, agency: x, kind: files, files: {paths: [/a]}, rpo: 26h, rto: 4h}
  - {name: b, agency: x, kind: files, files: {paths: [/b]}, drill: {drcs: [offsite], boot_seconds: 90, timeout: 30m}}
`
	c, err := Parse("/etc/cadang/cadang.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.DrillOf(&c.Targets[0]), c.DrillOf(&c.Targets[1])
	if a.Schedule != "0 3 * * 6" || strings.Join(a.DRCs, ",") != "local,offsite" || a.BootSeconds != DefaultBootSeconds || a.Timeout != DefaultDrillTimeout || len(a.Checks) != 1 {
		t.Errorf("target a: %+v", a)
	}
	if b.Schedule != "0 3 * * 6" || strings.Join(b.DRCs, ",") != "offsite" || b.BootSeconds != 90 || b.Timeout != 30*time.Minute {
		t.Errorf("target b: %+v", b)
	}
	if c.Targets[0].RPO != 26*time.Hour || c.Targets[0].RTO != 4*time.Hour {
		t.Errorf("objectives: %v %v", c.Targets[0].RPO, c.Targets[0].RTO)
	}
	if c.ReportDir() != "/s/reports" || c.Report.Language != "en" || c.Report.Office.Name != "Diskominfo" || c.Report.Signers.PerformedBy.Name != "Budi" || len(c.Report.Basis) != 1 {
		t.Errorf("report: %+v in %s", c.Report, c.ReportDir())
	}
}

func TestDrillProblems(t *testing.T) {
	src := `state_dir: /s
drcs: [{name: local, role: primary, path: /l}]
agencies: [{id: x}]
drill: {schedule: "0 3 * *", drcs: [local, local]}
report: {language: jv, dir: reports}
targets:
  - name: a
    agency: x
    kind: files
    files: {paths: [/a]}
    rpo: -1h
    drill: {drcs: [offsite], checks: [""], server: "postgres://u:secret@db/", boot_seconds: -1}
  - {name: b, agency: x, kind: files, files: {paths: [/b]}, drill: {server: "ftp://db/"}}
`
	want := []string{
		`cadang.yaml:4:19: drill.schedule: invalid cron schedule "0 3 * *": expected exactly 5 fields, found 4: [0 3 * *]`,
		`cadang.yaml:4:44: drill.drcs[1]: drc "local" is listed twice`,
		`cadang.yaml:5:20: report.language: "jv": id (Bahasa Indonesia) or en`,
		`cadang.yaml:11:10: target "a": rpo: invalid duration "-1h" (use 30s, 5m, 2h, 7d)`,
		`cadang.yaml:12:20: target "a": drill.drcs[0]: unknown drc "offsite"`,
		`cadang.yaml:12:39: target "a": drill.checks[0]: empty check`,
		`cadang.yaml:12:52: target "a": drill.server: a password in the URL is refused (it would show in the process list): use ?password_file=`,
		`cadang.yaml:12:93: target "a": drill.boot_seconds: must not be negative`,
		`cadang.yaml:13:77: target "b": drill.server: scheme "ftp": want postgres:// or mysql://`,
	}
	_, err := Parse("cadang.yaml", []byte(src))
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("want *Error, got %v", err)
	}
	if got := cerr.Error(); got != strings.Join(want, "\n") {
		t.Errorf("problems:\n got: %s\nwant: %s", strings.ReplaceAll(got, "\n", "\n      "), strings.Join(want, "\n      "))
	}
	if strings.Contains(cerr.Error(), "secret") {
		t.Error("a password was echoed")
	}
}
