package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/files"
)

const good = `state_dir: /var/lib/cadang
restic: {binary: restic}
drcs:
  - name: local
    role: primary
    s3: {endpoint: 127.0.0.1:9100, bucket: cadang, access_key: minio, secret_key_file: /etc/cadang/s3.key, insecure: true}
  - name: offsite
    role: secondary
    path: /srv/cadang-offsite
agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - name: portal-files
    agency: dinkes
    kind: files
    files: {paths: [/srv/portal], exclude: ["*.tmp"]}
    schedule: "0 2 * * *"
    retention: {keep_daily: 7, keep_weekly: 4, keep_monthly: 12}
    hooks:
      before: [[systemctl, stop, portal]]
      after: [{run: [systemctl, start, portal], timeout: 30s}]
      timeout: 2m
`

func TestParseGood(t *testing.T) {
	cfg, err := Parse("cadang.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Primary().Name != "local" || cfg.DRCs[1].Path != "/srv/cadang-offsite" {
		t.Errorf("drcs: %+v", cfg.DRCs)
	}
	tg, ok := cfg.Target("portal-files")
	if !ok {
		t.Fatal("target portal-files missing")
	}
	spec, ok := tg.Spec.(*files.Config)
	if !ok || len(spec.Paths) != 1 || spec.Paths[0] != "/srv/portal" || spec.Exclude[0] != "*.tmp" {
		t.Errorf("files spec: %#v", tg.Spec)
	}
	if tg.Retention.KeepMonthly != 12 {
		t.Errorf("retention: %+v", tg.Retention)
	}
	want := targets.Hooks{
		Before:  []targets.Hook{{Run: []string{"systemctl", "stop", "portal"}}},
		After:   []targets.Hook{{Run: []string{"systemctl", "start", "portal"}, Timeout: 30 * time.Second}},
		Timeout: 2 * time.Minute,
	}
	if !reflect.DeepEqual(tg.Hooks, want) {
		t.Errorf("hooks: %+v", tg.Hooks)
	}
	if cfg.Daemon.Socket != "/var/lib/cadang/cadang.sock" || cfg.Daemon.Concurrency != DefaultConcurrency {
		t.Errorf("daemon defaults: %+v", cfg.Daemon)
	}
	if cfg.Restic.StallTimeout != DefaultStallTimeout || DefaultStallTimeout != 2*time.Minute {
		t.Errorf("restic.stall_timeout default: %s", cfg.Restic.StallTimeout)
	}
}

func TestStallTimeout(t *testing.T) {
	const base = "state_dir: /s\ndrcs: [{name: a, role: primary, path: /a}]\n"
	cfg, err := Parse("cadang.yaml", []byte(base+"restic: {stall_timeout: 45s}\n"))
	if err != nil || cfg.Restic.StallTimeout != 45*time.Second {
		t.Fatalf("stall_timeout 45s: %v, %v", cfg, err)
	}
	for _, tc := range []struct{ value, want string }{
		{"5s", `cadang.yaml:3:25: restic.stall_timeout: 5s is too short: at least 10s (default 2m0s; it cannot be turned off)`},
		{"-1m", `cadang.yaml:3:25: restic.stall_timeout: invalid duration "-1m" (use 30s, 5m, 2h, 7d)`},
		{"soon", `cadang.yaml:3:25: restic.stall_timeout: invalid duration "soon" (use 30s, 5m, 2h, 7d)`},
	} {
		_, err := Parse("cadang.yaml", []byte(base+"restic: {stall_timeout: "+tc.value+"}\n"))
		if err == nil || err.Error() != tc.want {
			t.Errorf("stall_timeout %s:\n got %v\nwant %s", tc.value, err, tc.want)
		}
	}
}

func TestRelativePathsFollowTheFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cadang.yaml")
	src := strings.Replace(good, "state_dir: /var/lib/cadang", "state_dir: state", 1)
	src = strings.Replace(src, "path: /srv/cadang-offsite", "path: /srv/x", 1)
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != filepath.Join(dir, "state") {
		t.Errorf("state_dir = %s", cfg.StateDir)
	}
}

func TestProblems(t *testing.T) {
	table := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "three mistakes, all reported",
			src: `state_dir: /var/lib/cadang
drcs:
  - name: local
    role: primary
    path: /srv/local
agencies:
  - {id: dinkes}
targets:
  - name: portal
    agency: dinkes
    kind: files
    files: {pahts: [/srv/portal]}
    schedule: "0 25 * * *"
  - name: other
    agency: dishub
    kind: files
    files: {paths: [/srv/other]}
`,
			want: []string{
				`cadang.yaml:12:12: target "portal": files.paths: required: at least one absolute path`,
				`cadang.yaml:12:13: target "portal": files.pahts: unknown key; did you mean "paths"?`,
				`cadang.yaml:13:15: target "portal": schedule: invalid cron schedule "0 25 * * *": end of range (25) above maximum (23): 25`,
				`cadang.yaml:15:13: target "other": agency: unknown agency "dishub"`,
			},
		},
		{
			name: "a misspelt retention key is one problem, not two",
			src: `state_dir: /s
drcs: [{name: local, role: primary, path: /srv/local}]
agencies: [{id: dinkes}]
targets:
  - {name: portal, agency: dinkes, kind: files, files: {paths: [/srv/portal]}, retention: {keep_dialy: 7}}
`,
			want: []string{
				`cadang.yaml:5:92: target "portal": retention.keep_dialy: unknown key; did you mean "keep_daily"?`,
			},
		},
		{
			name: "immutability mistakes",
			src: `state_dir: /s
drcs:
  - name: local
    role: primary
    path: /srv/local
    immutability: {mode: compliance, retain: 30d}
  - name: offsite
    role: secondary
    s3: {endpoint: 127.0.0.1:9100, bucket: cadang, access_key: a, secret_key_file: /k}
    immutability: {mode: legal, retain: 12h}
`,
			want: []string{
				`cadang.yaml:6:19: drc "local": immutability: applies to an S3 DRC only (a directory cannot lock its files against root)`,
				`cadang.yaml:10:26: drc "offsite": immutability.mode: "legal" is not a mode: use compliance or governance`,
				`cadang.yaml:10:41: drc "offsite": immutability.retain: 12h0m0s: give at least 1d`,
			},
		},
		{
			name: "drc mistakes",
			src: `state_dir: /s
drcs:
  - name: Local
    role: primary
    s3: {endpoint: "http://127.0.0.1:9100", bucket: B, access_key: a, access_key_file: /k}
  - name: off
    role: tertiary
    path: relative/dir
`,
			want: []string{
				`cadang.yaml:3:11: drc "Local": name: "Local" is not a valid name (lower-case letters, digits, '-' and '_')`,
				`cadang.yaml:5:9: drc "Local": s3.secret_key: required: give secret_key or secret_key_file`,
				`cadang.yaml:5:20: drc "Local": s3.endpoint: "http://127.0.0.1:9100": give host:port without a scheme (insecure: true selects plain http)`,
				`cadang.yaml:5:53: drc "Local": s3.bucket: "B" is not a valid bucket name`,
				`cadang.yaml:5:88: drc "Local": s3.access_key_file: give access_key or access_key_file, not both`,
				`cadang.yaml:7:11: drc "off": role: "tertiary" is not a role: use primary or secondary`,
				`cadang.yaml:8:11: drc "off": path: "relative/dir" must be an absolute path`,
			},
		},
		{
			name: "unknown top-level key and wrong types",
			src: `state_dir: /s
stat_dir: /t
daemon: {concurrency: two, shutdown_grace: 1 minute}
drcs: {name: local}
`,
			want: []string{
				`cadang.yaml:2:1: stat_dir: unknown key; did you mean "state_dir"?`,
				`cadang.yaml:3:23: daemon.concurrency: expected a whole number, found "two"`,
				`cadang.yaml:3:44: daemon.shutdown_grace: invalid duration "1 minute" (use 30s, 5m, 2h, 7d)`,
				`cadang.yaml:4:7: drcs: expected a list, found a mapping`,
			},
		},
		{
			name: "kind section mismatch, duplicate names, bad hook",
			src: `state_dir: /s
drcs: [{name: a, role: primary, path: /a}, {name: a, role: primary, path: /b}]
agencies: [{id: x}]
targets:
  - {name: t, agency: x, kind: files, postgres: {host: h}}
  - {name: t, agency: x, kind: tape, files: {paths: [/x]}, hooks: {before: ["rm -rf /"]}}
`,
			want: []string{
				`cadang.yaml:2:7: drcs: exactly one DRC must have role: primary (found 2)`,
				`cadang.yaml:2:51: drc "a": name: drc "a" is defined twice`,
				`cadang.yaml:5:5: target "t": missing section files:`,
				`cadang.yaml:5:39: target "t": postgres: section "postgres" does not match kind "files"`,
				`cadang.yaml:6:12: target "t": name: target "t" is defined twice`,
				`cadang.yaml:6:32: target "t": kind: unknown kind "tape" (one of ` + strings.Join(targets.Kinds(), ", ") + `)`,
				`cadang.yaml:6:38: target "t": files: section "files" does not match kind "tape"`,
				`cadang.yaml:6:77: target "t": hooks.before[0]: a hook is a list such as [systemctl, stop, app] or {run: [...], timeout: 30s}`,
			},
		},
		{
			name: "yaml syntax error",
			src:  "state_dir: /s\ndrcs:\n  - name: a\n   role: primary\n",
			want: []string{`cadang.yaml:2:1: did not find expected '-' indicator`},
		},
		{
			name: "empty file",
			src:  "",
			want: []string{`cadang.yaml: the file is empty`},
		},
		{
			name: "standby mistakes",
			src:  "state_dir: /s\ndaemon:\n  standby: {source_drc: offiste, interval: 10ms}\ndrcs: [{name: a, role: primary, path: /a}]\n",
			want: []string{
				`cadang.yaml:3:12: daemon.standby.identity_file: required: an escrow identity (AGE-SECRET-KEY-1...) that opens the state bundles`,
				`cadang.yaml:3:25: daemon.standby.source_drc: unknown drc "offiste"`,
				`cadang.yaml:3:44: daemon.standby.interval: 10ms is too short: at least 1s (default 1m)`,
			},
		},
		{
			name: "duplicate key",
			src:  "state_dir: /s\nstate_dir: /t\ndrcs: [{name: a, role: primary, path: /a}]\n",
			want: []string{`cadang.yaml:2:1: state_dir: duplicate key (first at line 1)`},
		},
	}
	for _, tc := range table {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("cadang.yaml", []byte(tc.src))
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("want *Error, got %v", err)
			}
			got := strings.Split(cerr.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tc.want, "\n      "))
			}
		})
	}
}

// Top-level keys starting with x- hold YAML anchors (as in docker-compose files).
func TestMergeKeysAndAliases(t *testing.T) {
	src := `state_dir: /s
drcs: [{name: a, role: primary, path: /a}]
agencies: [{id: x}]
x-defaults: &d
  agency: x
  kind: files
targets:
  - {<<: *d, name: one, files: {paths: [/one]}}
  - {<<: *d, name: two, agency: x, files: {paths: [/two]}}
`
	cfg, err := Parse("c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"one", "two"} {
		tg := cfg.Targets[i]
		if tg.Name != name || tg.Agency != "x" || tg.Kind != "files" || tg.Spec.(*files.Config).Paths[0] != "/"+name {
			t.Errorf("target %d: %+v", i, tg)
		}
	}
	// x- keys are only free at the top level.
	_, err = Parse("c.yaml", []byte(strings.Replace(src, "name: two,", "name: two, x-note: hi,", 1)))
	if err == nil || !strings.Contains(err.Error(), `c.yaml:9:25: target "two": x-note: unknown key`) {
		t.Fatalf("want x-note rejected inside a target, got %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "7d": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1h", "3x", "1.5d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", in)
		}
	}
}

// The network API: plain HTTP only on loopback; TLS needs both files; mutual TLS needs
// TLS.
func TestAPISection(t *testing.T) {
	base := "state_dir: /s\ndrcs: [{name: local, role: primary, path: /l}]\nagencies: [{id: x}]\n"
	for _, tc := range []struct{ api, want string }{
		{"api: {listen: 127.0.0.1:8080}", ""},
		{"api: {listen: 0.0.0.0:8443, tls: {cert_file: /c, key_file: /k}, client_ca_file: /ca}", ""},
		{"api: {listen: 0.0.0.0:8443}", "api.tls: required: plain HTTP is refused on 0.0.0.0:8443"},
		{"api: {listen: 0.0.0.0:8443, tls: {cert_file: /c}}", "api.tls: give both cert_file and key_file"},
		{"api: {listen: 127.0.0.1:8080, client_ca_file: /ca}", "api.client_ca_file: needs api.tls"},
		{"api: {listen: 8443}", "api.listen: give host:port"},
		{"api: {tls: {cert_file: /c, key_file: /k}}", "api.listen: required with api.tls"},
	} {
		_, err := Parse("cadang.yaml", []byte(base+tc.api+"\n"))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.api, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.api, err, tc.want)
		}
	}
}

// Agencies' requests: approval policies and restore destinations, by kind.
func TestRequestPolicies(t *testing.T) {
	base := "state_dir: /s\ndrcs: [{name: local, role: primary, path: /l}]\n"
	target := func(kind, section, dests string) string {
		return fmt.Sprintf("agencies: [{id: x}]\ntargets: [{name: t, agency: x, kind: %s, %s, api: {restore_destinations: %s}}]\n", kind, section, dests)
	}
	files := "files: {paths: [/srv]}"
	pg := "postgres: {host: /run/postgresql, database: simpus, user: backup}"
	vm := "libvirt: {domain: web01}"
	for _, tc := range []struct{ conf, want string }{
		{"agencies: [{id: x, approval: [agency-admin]}]\n", ""},
		{"agencies: [{id: x, approval: [operator, agency-admin]}]\n", ""},
		{"agencies: [{id: x, approval: [kepala]}]\n", `agency "x": approval[0]: unknown approver "kepala"`},
		{"agencies: [{id: x, approval: [operator, operator]}]\n", `agency "x": approval[1]: "operator" is named twice`},
		{target("files", files, "[/srv/restore]"), ""},
		{target("files", files, "[/]"), `target "t": api.restore_destinations[0]: / would let the agency write anywhere`},
		{target("files", files, "[/srv/restore/../etc]"), "give the path as /srv/etc"},
		{target("files", files, "[restore]"), "a files target's destinations are absolute path prefixes"},
		{target("postgres", pg, "[simpus_restore_*]"), ""},
		{target("postgres", pg, "[/tmp]"), "database-name patterns"},
		{target("postgres", pg, "[\"a/b\"]"), "is not a database-name pattern"},
		{target("libvirt", vm, "[/var/lib/libvirt/images/restore, web01-restored-]"), ""},
		{target("libvirt", vm, "[web01-restored-]"), "needs both a path prefix"},
	} {
		_, err := Parse("cadang.yaml", []byte(base+tc.conf))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.conf, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.conf, err, tc.want)
		}
	}
}
