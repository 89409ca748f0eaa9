package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// cli runs the command line in-process, as main does, and returns what it printed.
type cliResult struct {
	code           int
	stdout, stderr string
}

func cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return cliResult{code, out.String(), errb.String()}
}

// isolate keeps the test away from any configuration or daemon of the machine: no
// $CADANG_CONFIG or $CADANG_SOCKET, a working directory without cadang.yaml, and a
// system configuration and default socket that do not exist.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("CADANG_CONFIG", "")
	t.Setenv("CADANG_SOCKET", "")
	t.Chdir(dir)
	oldSystem, oldSocket := systemConfig, defaultSocket
	systemConfig, defaultSocket = filepath.Join(dir, "etc-cadang.yaml"), filepath.Join(dir, "no-daemon.sock")
	t.Cleanup(func() { systemConfig, defaultSocket = oldSystem, oldSocket })
	return dir
}

// writeConfig writes a valid configuration whose state dir has no daemon socket, and
// an invalid one, and returns their paths.
func writeConfig(t *testing.T, dir string) (good, bad string) {
	t.Helper()
	good, bad = filepath.Join(dir, "good.yaml"), filepath.Join(dir, "bad.yaml")
	body := "state_dir: " + filepath.Join(dir, "state") + "\ndrcs:\n  - {name: local, role: primary, path: " + filepath.Join(dir, "drc") + "}\n"
	if err := os.WriteFile(good, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("state_dir: "+filepath.Join(dir, "state")+"\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return good, bad
}

// visibleCommands are the commands a user sees (cobra's hidden __complete and our
// internal ones excluded), as the words that call them.
func visibleCommands(t *testing.T) map[string]*cobra.Command {
	t.Helper()
	out := map[string]*cobra.Command{}
	root := newRootCommand(&globals{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}})
	walk(root, func(c *cobra.Command) {
		for p := c; p != nil; p = p.Parent() {
			if p.Hidden {
				return
			}
		}
		out[strings.TrimPrefix(c.CommandPath(), "cadang")] = c
	})
	if len(out) < 25 {
		t.Fatalf("only %d commands found", len(out))
	}
	return out
}

func TestEveryCommandHasHelpWithExample(t *testing.T) {
	isolate(t)
	for path, c := range visibleCommands(t) {
		words := strings.Fields(path)
		t.Run("cadang"+path, func(t *testing.T) {
			if strings.TrimSpace(c.Long) == "" || strings.TrimSpace(c.Example) == "" {
				t.Fatalf("no description or no example: Long %q, Example %q", c.Long, c.Example)
			}
			firstExample := strings.TrimSpace(strings.SplitN(c.Example, "\n", 2)[0])
			for _, args := range [][]string{append(append([]string{}, words...), "--help"), append([]string{"help"}, words...)} {
				r := cli(t, args...)
				if r.code != 0 || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, firstExample) {
					t.Errorf("cadang %s: exit %d, want 0 and the example %q\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, firstExample, r.stdout, r.stderr)
				}
			}
		})
	}
}

func TestTwoWordCommandsAreSubcommands(t *testing.T) {
	cmds := visibleCommands(t)
	for _, path := range []string{" config check", " drc status", " drc sync", " report drill", " report period"} {
		c, ok := cmds[path]
		if !ok || !c.HasParent() || c.Parent().Name() != strings.Fields(path)[0] {
			t.Errorf("cadang%s is not a subcommand", path)
		}
	}
}

func TestGlobalFlagsBeforeOrAfterTheCommand(t *testing.T) {
	dir := isolate(t)
	good, _ := writeConfig(t, dir)
	socket := filepath.Join(dir, "state", "cadang.sock")
	before := cli(t, "--config", good, "status")
	after := cli(t, "status", "--config", good)
	for _, r := range []cliResult{before, after} {
		// Both parsed, found the configuration and reached the client: the socket of
		// its state dir, where no daemon runs.
		if r.code != 1 || !strings.Contains(r.stderr, "no cadang daemon is running") || !strings.Contains(r.stderr, socket) {
			t.Errorf("exit %d, stderr %q: want exit 1, no daemon at %s", r.code, r.stderr, socket)
		}
	}
	if before.stderr != after.stderr {
		t.Errorf("the messages differ:\n%s\n%s", before.stderr, after.stderr)
	}
	// --json too, in both places, and with a two-word command.
	for _, args := range [][]string{{"--json", "--config", good, "drc", "status"}, {"drc", "status", "--config", good, "--json"}, {"drc", "--config", good, "status"}} {
		if r := cli(t, args...); r.code != 1 || !strings.Contains(r.stderr, "no cadang daemon is running") {
			t.Errorf("cadang %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	isolate(t)
	for shell, marker := range map[string]string{
		"bash": "__start_cadang",
		"zsh":  "#compdef cadang",
		"fish": "complete -c cadang",
	} {
		r := cli(t, "completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, marker) || r.stderr != "" {
			t.Errorf("completion %s: exit %d, %d bytes without %q; stderr %q", shell, r.code, len(r.stdout), marker, r.stderr)
		}
	}
}

func TestCompletionOfTargets(t *testing.T) {
	dir := isolate(t)
	good, _ := writeConfig(t, dir)
	body, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "src")
	body = append(body, []byte("agencies:\n  - {id: dinkes, name: Dinas Kesehatan}\ntargets:\n  - {name: portal-files, agency: dinkes, kind: files, files: {paths: ["+src+"]}}\n")...)
	if err := os.WriteFile(good, body, 0o600); err != nil {
		t.Fatal(err)
	}
	r := cli(t, "__complete", "--config", good, "backup", "")
	if r.code != 0 || !strings.Contains(r.stdout, "portal-files\tagency dinkes") {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestExitCodes(t *testing.T) {
	dir := isolate(t)
	good, bad := writeConfig(t, dir)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string // a part of the one line printed
	}{
		{"no command: the usage", nil, 0, ""},
		{"help", []string{"help"}, 0, ""},
		{"unknown command", []string{"bakup"}, 2, `cadang: unknown command "bakup"; did you mean "backup"?`},
		{"unknown subcommand", []string{"drc", "stauts"}, 2, `cadang drc: unknown command "stauts"; did you mean "status"?`},
		{"group without a subcommand", []string{"report"}, 2, "cadang report: give a command: drill, handover, period"},
		{"unknown flag", []string{"backup", "portal-files", "--wiat"}, 2, "cadang backup: unknown flag: --wiat"},
		{"unknown global flag", []string{"--verbose", "status"}, 2, "unknown flag: --verbose"},
		{"flag without its value", []string{"runs", "--limit"}, 2, "flag needs an argument: --limit"},
		{"flag of the wrong type", []string{"runs", "--limit", "many"}, 2, `invalid argument "many" for "--limit"`},
		{"missing argument", []string{"backup"}, 2, "usage: cadang backup TARGET [--wait]"},
		{"too many arguments", []string{"status", "now"}, 2, "usage: cadang status"},
		{"missing required flag", []string{"verify"}, 2, "usage: cadang verify --drc NAME"},
		{"flag only with another", []string{"unlock", "--yes"}, 2, "usage: cadang unlock"},
		{"not a run number", []string{"cancel", "--config", good, "last"}, 2, `run "last": give the run's number`},
		{"report drill without a run", []string{"report", "drill"}, 2, "usage: cadang report drill RUN_ID"},
		{"report period without dates", []string{"report", "period", "--from", "2026-01-01"}, 2, "usage: cadang report period --from DATE --to DATE"},
		{"audit since what", []string{"audit", "--since", "yesterday"}, 2, `--since "yesterday": give a time`},
		{"token without a command", []string{"token"}, 2, "give a command: create, list, revoke"},
		{"token create without a role", []string{"token", "create", "--name", "x"}, 2, "give the token's --name and --role"},
		{"token revoke what", []string{"token", "revoke"}, 2, "usage: cadang token revoke NAME"},
		{"audit verify of no catalog", []string{"audit", "verify", "--catalog", filepath.Join(dir, "none.db")}, 1, "none.db: no such file"},
		// A configuration's problems are one a line, each starting with file:line:col.
		{"bad config", []string{"config", "check", "--config", bad}, 2, "bad.yaml:2:1: bogus: unknown key"},
		{"bad config at a client", []string{"--config", bad, "runs"}, 2, "bogus: unknown key"},
		{"missing config file", []string{"status", "--config", filepath.Join(dir, "none.yaml")}, 2, "none.yaml"},
		{"good config", []string{"config", "check", "--config", good}, 0, ""},
		{"no daemon", []string{"runs", "--config", good}, 1, "cadang runs: no cadang daemon is running"},
		{"no daemon, no configuration", []string{"status"}, 1, "no-daemon.sock"},
		{"report -o, a shorthand", []string{"report", "drill", "3", "-o", "-", "--config", good}, 1, "cadang report drill: no cadang daemon is running"},
		{"report --output", []string{"report", "period", "--from", "2026-01-01", "--to", "2026-03-31", "--output", "p.pdf", "--config", good}, 1, "no cadang daemon is running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("cadang %s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), r.code, tc.code, tc.stderr, r.stdout, r.stderr)
			}
			if tc.code == exitUsage && !strings.HasPrefix(tc.name, "bad config") && strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Errorf("more than one line: %q", r.stderr)
			}
		})
	}
}

func TestManPages(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "0") // a date that does not depend on today or on git
	if r := cli(t, "gen-man", dir); r.code != 0 {
		t.Fatalf("gen-man: exit %d, %s", r.code, r.stderr)
	}
	for _, page := range []string{"cadang.1", "cadang-backup.1", "cadang-drc-sync.1", "cadang-report-period.1", "cadang-completion-bash.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(".SH EXAMPLE")) {
			t.Errorf("%s has no example", page)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "cadang-internal-stream.1")); err == nil {
		t.Error("a man page for a hidden command")
	}
}

// TestManPagesUpToDate fails when docs/man is not what `make man` writes now: a
// command or a flag changed without `make man` (the .TH line, dated, is left out).
func TestManPagesUpToDate(t *testing.T) {
	committed, err := filepath.Abs(filepath.Join("..", "..", "docs", "man"))
	if err != nil {
		t.Fatal(err)
	}
	isolate(t)
	dir := t.TempDir()
	if r := cli(t, "gen-man", dir); r.code != 0 {
		t.Fatalf("gen-man: exit %d, %s", r.code, r.stderr)
	}
	undated := func(b []byte) string {
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(l, ".TH ") {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "\n")
	}
	want, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	have, _ := filepath.Glob(filepath.Join(committed, "*.1"))
	if len(want) != len(have) {
		t.Errorf("docs/man has %d pages, the commands make %d: run `make man`", len(have), len(want))
	}
	for _, f := range want {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := os.ReadFile(filepath.Join(committed, filepath.Base(f)))
		if err != nil || undated(b) != undated(c) {
			t.Errorf("docs/man/%s is not up to date: run `make man`", filepath.Base(f))
		}
	}
}
