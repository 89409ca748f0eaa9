package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/cadang/cadang/engine"
	"github.com/cadang/cadang/internal/iec"
	"github.com/spf13/cobra"
)

const stateLong = `cadang's own state: the catalog (runs, snapshots, drills, requests, the audit log),
the configuration and the repositories' keys, kept in state_dir on the main site. With
state_protection (escrow_recipients), the daemon writes them as one bundle encrypted to
the escrow keys into EVERY DRC, soon after every backup or drill and at least every
interval, so that the loss of the main site does not take them: on a new machine,
"cadang state restore" rebuilds the state dir from the off-site DRC with one escrow
identity (docs/site-loss.md is the procedure). Without any bundle, "cadang state
rebuild" rebuilds a catalog of snapshots from the keys alone and the repositories' tags.
restore and rebuild work without a daemon, and refuse a state dir a daemon holds.`

func newStateCommand(g *globals) *cobra.Command {
	return newGroupCommand("state COMMAND", "cadang's own state: its bundles at the DRCs (status), rebuilding a state dir (restore, rebuild)", stateLong,
		`  cadang state status
  cadang state restore --from-drc offsite --identity /media/usb/kepala.agekey
  cadang state rebuild --from-drc offsite --keys /media/usb/cadang-keys`,
		newStateStatusCommand(g), newStateRestoreCommand(g), newStateRebuildCommand(g))
}

func newStateStatusCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "the newest state bundle at each DRC, its age, and whether its bytes are whole",
		Long: `Show, for each DRC, the newest state bundle there (written by the daemon with
state_protection), how old it is, how many are kept, and whether its bytes are whole
(their SHA-256 is its sidecar's: the bundle was read back in full). Whether it opens
needs an escrow identity, which the daemon does not hold: "cadang state restore" on a
spare machine proves it. The last failure to write a bundle to a DRC is shown too (it
raises an alarm).`,
		Example: `  cadang state status
  cadang state status --json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			st, err := c.StateStatus(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, st)
			}
			if !st.Enabled {
				fmt.Fprintln(g.stdout, "state protection is off: set state_protection.escrow_recipients (docs/site-loss.md)")
			} else {
				fmt.Fprintf(g.stdout, "state protection: every %s, to %d escrow key(s)\n", st.Interval, st.Recipients)
			}
			rows := [][]string{}
			for _, d := range st.DRCs {
				whole := "-"
				switch {
				case d.Newest != "" && d.Whole:
					whole = "yes"
				case d.Newest != "":
					whole = "NO: " + d.Problem
				case d.Problem != "":
					whole = d.Problem
				}
				last := "-"
				if d.LastError != "" {
					last = shortTime(d.LastErrorTime) + ": " + d.LastError
				}
				rows = append(rows, []string{d.DRC, orDash(d.Newest), orDash(d.Age), iec.Bytes(d.Bytes), strconv.Itoa(d.Bundles), whole, last})
			}
			table(g.stdout, []string{"DRC", "NEWEST", "AGE", "SIZE", "KEPT", "WHOLE", "LAST FAILURE"}, rows)
			return nil
		},
	}
}

func newStateRestoreCommand(g *globals) *cobra.Command {
	var from, identity, at string
	var force bool
	cmd := &cobra.Command{
		Use:   "restore --from-drc NAME --identity FILE [--at TIME] [--force]",
		Short: "rebuild the state dir from a state bundle at a DRC (after the main site is lost)",
		Long: `Rebuild the state dir of the configuration given (--config) from the newest state
bundle at the DRC named (at or before --at): the catalog and the repositories' keys.
It needs only a configuration that names the DRCs, and one escrow identity (the age
private key one of the keepers holds offline). It works without a daemon, and must run
while none runs on this state dir.

The bundle is checked before anything is written: its bytes against its sidecar's
SHA-256, its decryption (authenticated: a flipped byte is refused), and every file
against its manifest. A bundle that fails is refused with the reason; --at takes an
older one. An existing state dir is refused unless --force, which moves it aside
(never deletes it). The bundle's own configuration is put beside, as
restored-cadang.yaml, for reference. Then "cadang daemon" works on the state dir.`,
		Example: `  cadang state restore --config /etc/cadang/dr.yaml --from-drc offsite --identity /media/usb/kepala.agekey
  cadang state restore --from-drc offsite --identity key.txt --at 2026-12-01T22:00:00+07:00 --force`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || identity == "" {
				return usageErrorf("give --from-drc and --identity")
			}
			var when time.Time
			if at != "" {
				t, err := time.Parse(time.RFC3339Nano, at)
				if err != nil {
					return usageErrorf("--at %q: give a time as RFC 3339 (2026-12-01T22:00:00+07:00)", at)
				}
				when = t
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			key, err := os.ReadFile(identity)
			if err != nil {
				return fmt.Errorf("identity file: %w", err)
			}
			res, err := engine.RestoreState(cmd.Context(), cfg, engine.RestoreStateOptions{DRC: from, Identity: key, At: when, Force: force})
			if err != nil {
				return err
			}
			for _, s := range res.Skipped {
				fmt.Fprintf(g.stderr, "passed over %s: %s\n", s.Bundle, s.Why)
			}
			if g.json {
				return printJSON(g.stdout, res)
			}
			fmt.Fprintf(g.stdout, "state dir %s rebuilt from %s at drc %s\n", res.StateDir, res.Bundle, res.DRC)
			fmt.Fprintf(g.stdout, "  written %s by %s (cadang %s): the catalog, %d key file(s)\n", shortTime(res.Created), res.Host, res.Version, res.Keys)
			if res.MovedTo != "" {
				fmt.Fprintf(g.stdout, "  the state dir that was there is now %s\n", res.MovedTo)
			}
			if res.Config != "" {
				fmt.Fprintf(g.stdout, "  the main site's configuration, for reference: %s\n", res.Config)
			}
			fmt.Fprintln(g.stdout, "next: cadang daemon (see docs/site-loss.md)")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from-drc", "", "the DRC to read the bundle from (`NAME`)")
	f.StringVar(&identity, "identity", "", "an escrow identity `FILE` (age private key)")
	f.StringVar(&at, "at", "", "the newest bundle made at or before `TIME` (RFC 3339)")
	f.BoolVar(&force, "force", false, "move an existing state dir aside instead of refusing")
	return cmd
}
