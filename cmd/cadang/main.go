// Command cadang is the one binary of cadang: `cadang daemon` runs the daemon, and
// every other command is a client of its API (except `config check`, `init` and
// `version`, which work without one).
//
// The command line is built with github.com/spf13/cobra, one file per command
// (cmd_<verb>.go) as restic does: newXCommand() builds the command, XOptions holds its
// flags (AddFlags), runX does the work.
//
// Exit status: 0 ok, 1 failed, 2 bad usage or config, 3 partial (some files unreadable),
// 4 stopped waiting (Ctrl-C at a --wait: the run goes on in the daemon).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/targets"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitPartial = 3
)

// exitError carries an exit code with the message to print.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func usageErrorf(format string, args ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, args...)}
}

// globals are the flags every command takes and where output goes.
type globals struct {
	configFile string
	json       bool
	stdout     io.Writer
	stderr     io.Writer

	// ran is set once the command line parsed and a command starts: an error before
	// that is cobra's (unknown command or flag, wrong arguments), a usage error.
	ran bool
	// driftChecked: the daemon's configuration was compared with its file (once).
	driftChecked bool
}

// AddFlags adds the global flags; they are persistent, so they work before or after
// the command (`cadang --config F status` and `cadang status --config F`).
func (g *globals) AddFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&g.configFile, "config", "", "configuration `FILE` (default $CADANG_CONFIG, then ./cadang.yaml, then /etc/cadang/cadang.yaml)")
	f.BoolVar(&g.json, "json", false, "print JSON")
}

func main() {
	if exe, err := os.Executable(); err == nil {
		targets.SelfExecutable = exe
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRootCommand(g)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	var api *api.APIError
	switch {
	case errors.As(err, &ee):
	case !g.ran:
		ee = &exitError{exitUsage, err} // the command line did not parse
	case errors.As(err, &api) && (api.Status == http.StatusBadRequest || api.Status == http.StatusNotFound):
		ee = &exitError{exitUsage, err} // the daemon refused the request as asked, or names nothing it has
	default:
		ee = &exitError{exitFailed, err}
	}
	var cerr *config.Error
	switch {
	case errors.As(ee.err, &cerr):
		// One problem a line, each starting with file:line:col, as compilers print.
		fmt.Fprintln(stderr, cerr.Error())
	case ee.err != nil && ee.err.Error() != "":
		fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), ee.err)
	}
	return ee.code
}

const rootLong = `cadang backs up the targets of a government data center (files, databases,
virtual machines) with restic into one repository per agency at each DRC, replicates
them to the other DRCs, and proves with restore drills that they restore.

"cadang daemon" runs the daemon; every other command is a client of its API on a
unix socket (except "config check", "init" and "version", which work without one).

Where the configuration and the daemon are found, first match wins: --config FILE,
$CADANG_CONFIG, ./cadang.yaml, /etc/cadang/cadang.yaml. A client command also takes
$CADANG_SOCKET first and, without any configuration, tries the default socket
` + "/var/lib/cadang/cadang.sock" + `.

Exit status: 0 ok, 1 failed, 2 bad usage or configuration, 3 partial (some files
could not be read), 4 stopped waiting (Ctrl-C at a --wait: the run goes on in the
daemon).`

// newRootCommand builds the whole command tree; its output goes to g's writers.
func newRootCommand(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "cadang",
		Short: "backup and disaster recovery for a government data center",
		Long:  rootLong,
		Example: `  cadang daemon --config /etc/cadang/cadang.yaml
  cadang status
  cadang backup portal-files --wait
  cadang help backup`,
		// Without a command, the usage (exit 0); an unknown one is a usage error with
		// the closest names.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return unknownCommand(cmd, args[0])
		},
		PersistentPreRun:  func(*cobra.Command, []string) { g.ran = true },
		SilenceErrors:     true,
		SilenceUsage:      true,
		DisableAutoGenTag: true,
	}
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{exitUsage, err} })
	g.AddFlags(root)
	root.AddCommand(
		newDaemonCommand(g),
		newConfigCommand(g),
		newInitCommand(g),
		newBackupCommand(g),
		newRunsCommand(g),
		newSnapshotsCommand(g),
		newLsCommand(g),
		newRestoreCommand(g),
		newCancelCommand(g),
		newStatusCommand(g),
		newScheduleCommand(g),
		newForgetCommand(g),
		newPruneCommand(g),
		newUnlockCommand(g),
		newResticCommand(g),
		newReloadCommand(g),
		newCheckCommand(g),
		newDRCCommand(g),
		newVerifyCommand(g),
		newDrillCommand(g),
		newRunbookCommand(g),
		newReportCommand(g),
		newAuditCommand(g),
		newTokenCommand(g),
		newStateCommand(g),
		newTakeoverCommand(g),
		newHandbackCommand(g),
		newNotifyCommand(g),
		newRequestCommand(g),
		newPGCommand(g),
		newWALPushCommand(g),
		newAgentCommand(g),
		newAgentsCommand(g),
		newVersionCommand(g),
		newInternalStreamCommand(g),
		newGenManCommand(g, root),
	)
	addHelpAndCompletion(root)
	walk(root, func(c *cobra.Command) {
		// The Use lines name their flags already: usage errors print them as they are.
		c.DisableFlagsInUseLine = true
	})
	return root
}

// addHelpAndCompletion adds cobra's help and completion commands now rather than at
// Execute, so that they get examples too (and show in the man pages).
func addHelpAndCompletion(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Example = "  cadang help\n  cadang help backup\n  cadang help drc sync"
		case "completion":
			c.Example = "  source <(cadang completion bash)\n  cadang completion zsh > \"${fpath[1]}/_cadang\"\n  cadang completion fish > ~/.config/fish/completions/cadang.fish"
			for _, sh := range c.Commands() {
				sh.Example = fmt.Sprintf("  cadang completion %s --help", sh.Name())
				switch sh.Name() {
				case "bash":
					sh.Example = "  source <(cadang completion bash)\n  cadang completion bash > /etc/bash_completion.d/cadang"
				case "zsh":
					sh.Example = "  cadang completion zsh > \"${fpath[1]}/_cadang\""
				case "fish":
					sh.Example = "  cadang completion fish > ~/.config/fish/completions/cadang.fish"
				case "powershell":
					sh.Example = "  cadang completion powershell | Out-String | Invoke-Expression"
				}
			}
		}
	}
}

// newGroupCommand is a command that only holds subcommands (config, drc, report):
// without one, or with an unknown one, it is a usage error.
func newGroupCommand(use, short, long, example string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long,
		Example: example,
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				names := ""
				for i, s := range cmd.Commands() {
					if i > 0 {
						names += ", "
					}
					names += s.Name()
				}
				return usageErrorf("give a command: %s (see `%s --help`)", names, cmd.CommandPath())
			}
			return unknownCommand(cmd, args[0])
		},
	}
	cmd.AddCommand(subs...)
	return cmd
}

// unknownCommand is the usage error for a command name cmd does not have, with the
// closest names cobra suggests.
func unknownCommand(cmd *cobra.Command, name string) error {
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, which SuggestionsFor does not apply
	}
	msg := fmt.Sprintf("unknown command %q", name)
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return usageErrorf("%s (see `%s --help`)", msg, cmd.CommandPath())
}

// walk calls fn for cmd and every command under it.
func walk(cmd *cobra.Command, fn func(*cobra.Command)) {
	fn(cmd)
	for _, c := range cmd.Commands() {
		walk(c, fn)
	}
}

// usageArgs checks the positional arguments with check, and on failure is a usage
// error that prints the command's usage line, as before cobra:
// "usage: cadang backup TARGET [--wait]".
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if check(cmd, args) != nil {
			return usageErrorf("usage: %s", cmd.UseLine())
		}
		return nil
	}
}

// Where the configuration and the daemon are found, first match wins:
//
//	--config FILE, then $CADANG_CONFIG
//	./cadang.yaml, if it exists
//	/etc/cadang/cadang.yaml (the packaged daemon's), if it exists
//
// A client command that only needs the daemon's socket also takes $CADANG_SOCKET
// first, and without any configuration tries the default state dir's socket, so that
// `cadang status` works from any folder on a server where the daemon is installed.
var (
	systemConfig  = "/etc/cadang/cadang.yaml"
	defaultSocket = "/var/lib/cadang/cadang.sock"
)

// configPath returns the configuration file to use, and whether one was named or
// found (false: none exists, and the name returned is the one errors should name).
func (g *globals) configPath() (string, bool) {
	for _, f := range []string{g.configFile, os.Getenv("CADANG_CONFIG")} {
		if f != "" {
			return f, true
		}
	}
	for _, f := range []string{"cadang.yaml", systemConfig} {
		if _, err := os.Stat(f); err == nil {
			return f, true
		}
	}
	return "cadang.yaml", false
}

// loadConfig loads the configuration; its problems are a usage error (exit 2).
func (g *globals) loadConfig() (*config.Config, error) {
	file, _ := g.configPath()
	cfg, err := config.Load(file)
	if err != nil {
		return nil, &exitError{exitUsage, err}
	}
	return cfg, nil
}

// client returns a client of the daemon (see above for where it is found).
func (g *globals) client() (*api.Client, error) {
	if s := os.Getenv("CADANG_SOCKET"); s != "" && g.configFile == "" {
		return g.newClient(s), nil
	}
	if _, found := g.configPath(); !found {
		return g.newClient(defaultSocket), nil
	}
	cfg, err := g.loadConfig()
	if err != nil {
		// A file with a mistake must not lock the operator out: the daemon runs the
		// version it loaded. Say so, and reach it if the socket can still be found.
		file, _ := g.configPath()
		socket, serr := config.SocketOf(file)
		if serr != nil {
			return nil, err
		}
		conn, derr := net.DialTimeout("unix", socket, time.Second)
		if derr != nil {
			return nil, err // no daemon to go on with: the file's problems are the answer
		}
		conn.Close()
		fmt.Fprintf(g.stderr, "cadang: warning: %s has problems; the daemon goes on with the version it loaded:\n%v\n", file, err)
		g.driftChecked = true
		return g.newClient(socket), nil
	}
	return g.newClient(cfg.Daemon.Socket), nil
}

// newClient is a client of the daemon at socket that prints times in the daemon's zone
// and warns when the daemon runs an older version of its configuration file.
func (g *globals) newClient(socket string) *api.Client {
	c := api.NewClient(socket)
	c.OnZone = setDisplayZone
	c.OnConfig = g.checkDrift
	return c
}

// checkDrift warns (once) when the configuration file the daemon runs has changed since
// the daemon loaded it: a target added to the file is unknown to the daemon until
// `cadang reload`. A file this user cannot read is not compared.
func (g *globals) checkDrift(file, digest string) {
	if g.driftChecked || file == "" {
		return
	}
	g.driftChecked = true
	data, err := os.ReadFile(file)
	if err != nil {
		return
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != digest {
		fmt.Fprintf(g.stderr, "cadang: warning: %s has changed since the daemon loaded it; apply it with `cadang reload`\n", file)
	}
}
