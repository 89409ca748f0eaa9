package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cadang/cadang/engine"
)

// DaemonOptions are the flags of `cadang daemon`.
type DaemonOptions struct {
	LogLevel  string
	LogFormat string
}

// AddFlags adds the options' flags to f.
func (o *DaemonOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.LogFormat, "log-format", "text", "text or json")
}

func newDaemonCommand(g *globals) *cobra.Command {
	var opts DaemonOptions
	cmd := &cobra.Command{
		Use:   "daemon [--log-level LEVEL] [--log-format text|json]",
		Short: "run the daemon (stops on SIGTERM)",
		Long: `Run the daemon in the foreground: it runs the schedules, the queue, replication and drills,
and serves the API on its unix socket (daemon.socket) that every other command uses.
It logs to standard error; when that is systemd's journal (JOURNAL_STREAM) its lines carry no
timestamp of their own, as journald adds one, and start with their syslog priority. Under systemd (Type=notify) it reports readiness
once its socket serves. SIGHUP reloads the configuration as ` + "`cadang reload`" + ` does.
SIGTERM (or Ctrl-C) stops it gracefully: running work gets daemon.shutdown_grace to end.`,
		Example: `  cadang daemon
  cadang daemon --config /etc/cadang/cadang.yaml --log-level debug --log-format json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), g, opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runDaemon(ctx context.Context, g *globals, o DaemonOptions) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return usageErrorf("--log-level %q: use debug, info, warn or error", o.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: lv}
	journal := toJournal(g.stderr)
	out := g.stderr
	var buf *bytes.Buffer
	if journal {
		// journald stamps every line itself: a second timestamp only makes
		// `journalctl -u cadang` harder to read. Each line starts with its syslog
		// priority (<3> error ... <7> debug), which journald takes as the entry's
		// priority (`journalctl -u cadang -p warning`).
		opts.ReplaceAttr = dropTime
		buf = &bytes.Buffer{}
		out = buf
	}
	var h slog.Handler
	switch strings.ToLower(o.LogFormat) {
	case "text":
		h = slog.NewTextHandler(out, opts)
	case "json":
		h = slog.NewJSONHandler(out, opts)
	default:
		return usageErrorf("--log-format %q: use text or json", o.LogFormat)
	}
	if journal {
		h = &journalHandler{Handler: h, mu: &sync.Mutex{}, buf: buf, w: g.stderr}
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	log := slog.New(h)
	d, err := engine.New(cfg, engine.Options{Logger: log,
		Ready:    func() { sdNotify(log, "READY=1\nSTATUS=serving") },
		Stopping: func() { sdNotify(log, "STOPPING=1") }})
	if err != nil {
		return err
	}
	return d.Serve(ctx)
}

// toJournal tells whether w is standard error connected to systemd's journal: systemd
// sets JOURNAL_STREAM to the device and inode of that stream ("dev:ino").
func toJournal(w io.Writer) bool {
	js := os.Getenv("JOURNAL_STREAM")
	f, ok := w.(*os.File)
	if js == "" || !ok {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return js == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// journalHandler writes each record of its inner handler (which writes to buf) as one
// line that starts with the record's syslog priority, as journald reads it.
type journalHandler struct {
	slog.Handler
	mu  *sync.Mutex // shared by the handlers derived from one (WithAttrs, WithGroup)
	buf *bytes.Buffer
	w   io.Writer
}

func (j *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf.Reset()
	if err := j.Handler.Handle(ctx, r); err != nil {
		return err
	}
	_, err := fmt.Fprintf(j.w, "<%d>%s", syslogPriority(r.Level), j.buf.Bytes())
	return err
}

func (j *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &journalHandler{Handler: j.Handler.WithAttrs(as), mu: j.mu, buf: j.buf, w: j.w}
}

func (j *journalHandler) WithGroup(name string) slog.Handler {
	return &journalHandler{Handler: j.Handler.WithGroup(name), mu: j.mu, buf: j.buf, w: j.w}
}

// syslogPriority maps a level to syslog's err (3), warning (4), info (6), debug (7).
func syslogPriority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	}
	return 7
}

// dropTime removes slog's own timestamp from top-level records.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// sdNotify sends a state to systemd (Type=notify units) when NOTIFY_SOCKET is set; it
// is the whole of sd_notify(3) that cadang needs. A failure is logged, not fatal.
func sdNotify(log *slog.Logger, state string) {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return
	}
	if strings.HasPrefix(sock, "@") {
		sock = "\x00" + sock[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err == nil {
		_, err = c.Write([]byte(state))
		c.Close()
	}
	if err != nil {
		log.Warn("cannot notify systemd", "state", state, "err", err)
	}
}
