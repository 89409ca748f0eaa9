// Command cadang is the one binary of cadang: `cadang daemon` runs the daemon, and
// every other command is a client of its API (except `config check`, `init` and
// `version`, which work without one).
//
// Exit status: 0 ok, 1 failed, 2 bad usage or config, 3 partial (some files unreadable),
// 4 stopped waiting (Ctrl-C at a --wait: the run goes on in the daemon).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

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

// command is one subcommand.
type command struct {
	name   string
	args   string // usage after the name
	short  string
	hidden bool
	run    func(ctx context.Context, g *globals, args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// globals are the flags every command takes and where output goes.
type globals struct {
	configFile string
	json       bool
	stdout     io.Writer
	stderr     io.Writer
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

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stdout)
		return exitOK
	}
	name, rest := args[0], args[1:]
	if len(rest) > 0 { // two-word commands: config check, drc status, ...
		if _, ok := commands[name+" "+rest[0]]; ok {
			name, rest = name+" "+rest[0], rest[1:]
		}
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "cadang: unknown command %q (see `cadang help`)\n", args[0])
		return exitUsage
	}
	err := c.run(ctx, g, rest)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	var api *api.APIError
	switch {
	case errors.As(err, &ee):
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
		fmt.Fprintf(stderr, "cadang %s: %v\n", c.name, ee.err)
	}
	return ee.code
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "cadang: backup and disaster recovery for a government data center")
	fmt.Fprintln(w, "\nUsage: cadang COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		c := commands[n]
		fmt.Fprintf(w, "  %-40s %s\n", strings.TrimSpace(n+" "+c.args), c.short)
	}
	fmt.Fprintln(w, "\nEvery command takes --config FILE (default $CADANG_CONFIG, then ./cadang.yaml);")
	fmt.Fprintln(w, "list commands take --json. Exit status: 0 ok, 1 failed, 2 bad usage or config, 3 partial,")
	fmt.Fprintln(w, "4 stopped waiting (Ctrl-C at a --wait: the run goes on in the daemon).")
}

// parse parses flags that may come before, between or after positional arguments,
// and returns the positional ones.
func parse(fs *flag.FlagSet, g *globals, args []string) ([]string, error) {
	fs.StringVar(&g.configFile, "config", "", "configuration `file`")
	fs.BoolVar(&g.json, "json", false, "print JSON")
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, usageErrorf("flags: %s", flagList(fs))
			}
			return nil, usageErrorf("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func flagList(fs *flag.FlagSet) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, "--"+f.Name) })
	return strings.Join(names, " ")
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
		return api.NewClient(s), nil
	}
	if _, found := g.configPath(); !found {
		return api.NewClient(defaultSocket), nil
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, err
	}
	return api.NewClient(cfg.Daemon.Socket), nil
}
