package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func newReportCommand(g *globals) *cobra.Command {
	return newGroupCommand("report COMMAND", "write a drill report (Berita Acara Uji Pemulihan DRC), a period summary, or an export's hand-over report",
		`Write a report from the daemon: the report of one drill run (Berita Acara Uji Pemulihan
DRC), the summary of every drill of a period (a quarter, a year), or the hand-over report
of an export (Berita Acara Serah Terima Data), as PDF, HTML or JSON, in Bahasa Indonesia
or English.`,
		"  cadang report drill 42\n  cadang report period --from 2026-01-01 --to 2026-03-31 --format html",
		newReportDrillCommand(g), newReportPeriodCommand(g), newReportHandoverCommand(g), newReportRunbookCommand(g))
}

func newReportHandoverCommand(g *globals) *cobra.Command {
	var opts ReportOptions
	cmd := &cobra.Command{
		Use:   "handover REQUEST_ID [--format pdf|html|json] [--lang id|en] [-o FILE]",
		Short: "write the hand-over report of a downloaded export (Berita Acara Serah Terima Data)",
		Long: `Write the hand-over report (Berita Acara Serah Terima Data) of the export request
REQUEST_ID (see "cadang request list"), once its agency has downloaded the bundle: what
was exported, who asked and approved, to whose key it is encrypted, and when and by
whom it was downloaded; from then on the data is outside the data center's
responsibility (policy 5.2.b). By default it is written to handover-ID.FORMAT in the
current folder; -o - writes it to standard output.`,
		Example: `  cadang report handover 12
  cadang report handover 12 --format html --lang en -o handover.html`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := requestID(args[0])
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			b, err := c.HandoverReport(cmd.Context(), id, opts.Format, opts.Lang)
			if err != nil {
				return err
			}
			return writeReport(g, opts, b, fmt.Sprintf("handover-%d.%s", id, opts.Format))
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

// ReportOptions are the flags both reports take.
type ReportOptions struct {
	Format string
	Lang   string
	Output string
}

// AddFlags adds the options' flags to f.
func (o *ReportOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Format, "format", "pdf", "pdf, html or json")
	f.StringVar(&o.Lang, "lang", "", "id (Bahasa Indonesia) or en (default: report.language)")
	f.StringVarP(&o.Output, "output", "o", "", "write to `FILE` (default: drill-RUN.FORMAT or period-FROM-TO.FORMAT here; - for standard output)")
}

func newReportDrillCommand(g *globals) *cobra.Command {
	var opts ReportOptions
	cmd := &cobra.Command{
		Use:   "drill RUN_ID [--format pdf|html|json] [--lang id|en] [-o FILE]",
		Short: "write the report of a drill run",
		Long: `Write the report (Berita Acara Uji Pemulihan DRC) of the drill run RUN_ID (see
"cadang runs"): what was restored from which DRC, how long it took, and what was checked.
By default it is written to drill-RUN_ID.FORMAT in the current folder; -o - writes it to
standard output.`,
		Example: `  cadang report drill 42
  cadang report drill 42 --format html --lang en -o drill.html`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReportDrill(cmd.Context(), g, opts, args[0])
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func newReportRunbookCommand(g *globals) *cobra.Command {
	var opts ReportOptions
	cmd := &cobra.Command{
		Use:   "runbook RUN [--format pdf|html|json] [--lang id|en] [-o FILE]",
		Short: "write the report of a runbook run (Berita Acara pelaksanaan runbook failover)",
		Long: `Write the report of runbook run RUN (see "cadang runbook status"): the runbook's file,
version and SHA-256, the mode, the numbered steps with their actor (cadang, or the
person who confirmed a gate), start, end, duration against the step's time standard,
summary and result, per service the measured RTO against the declared one and the RPO
of the snapshot used, the ticket references, and signature blocks. By default it is
written to runbook-RUN.FORMAT in the current folder; -o - writes it to standard output.
The daemon also writes it into report.dir when the run ends.`,
		Example: `  cadang report runbook 3
  cadang report runbook 3 --format html --lang en -o failover.html`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return usageErrorf("runbook run id %q is not a number", args[0])
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			b, err := c.RunbookReport(cmd.Context(), id, opts.Format, opts.Lang)
			if err != nil {
				return err
			}
			return writeReport(g, opts, b, fmt.Sprintf("runbook-%d.%s", id, opts.Format))
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runReportDrill(ctx context.Context, g *globals, opts ReportOptions, run string) error {
	id, err := strconv.ParseUint(run, 10, 64)
	if err != nil {
		return usageErrorf("run id %q is not a number", run)
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	b, err := c.DrillReport(ctx, id, opts.Format, opts.Lang)
	if err != nil {
		return err
	}
	return writeReport(g, opts, b, fmt.Sprintf("drill-%d.%s", id, opts.Format))
}

// ReportPeriodOptions are the flags of `cadang report period`.
type ReportPeriodOptions struct {
	ReportOptions
	From, To string
}

// AddFlags adds the options' flags to f.
func (o *ReportPeriodOptions) AddFlags(f *pflag.FlagSet) {
	o.ReportOptions.AddFlags(f)
	f.StringVar(&o.From, "from", "", "first day of the period (YYYY-MM-DD)")
	f.StringVar(&o.To, "to", "", "last day of the period (YYYY-MM-DD, included)")
}

func newReportPeriodCommand(g *globals) *cobra.Command {
	var opts ReportPeriodOptions
	cmd := &cobra.Command{
		Use:   "period --from DATE --to DATE [--format pdf|html|json] [--lang id|en] [-o FILE]",
		Short: "write the summary of every drill of a period",
		Long: `Write the summary report of every drill from --from to --to (both days included, as
YYYY-MM-DD): which targets were drilled from which DRC, and how each drill ended. By
default it is written to period-FROM-TO.FORMAT in the current folder; -o - writes it to
standard output.`,
		Example: `  cadang report period --from 2026-01-01 --to 2026-03-31
  cadang report period --from 2026-01-01 --to 2026-12-31 --format json -o -`,
		Args: usageArgs(func(_ *cobra.Command, args []string) error {
			if len(args) > 0 || opts.From == "" || opts.To == "" {
				return fmt.Errorf("give --from and --to")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReportPeriod(cmd.Context(), g, opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

func runReportPeriod(ctx context.Context, g *globals, opts ReportPeriodOptions) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	b, err := c.PeriodReport(ctx, opts.From, opts.To, opts.Format, opts.Lang)
	if err != nil {
		return err
	}
	return writeReport(g, opts.ReportOptions, b, fmt.Sprintf("period-%s-%s.%s", opts.From, opts.To, opts.Format))
}

// writeReport writes a report where -o says, or to name.
func writeReport(g *globals, opts ReportOptions, b []byte, name string) error {
	if opts.Output == "-" {
		_, err := g.stdout.Write(b)
		return err
	}
	if opts.Output != "" {
		name = opts.Output
	}
	if err := os.WriteFile(name, b, 0o640); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "report written: %s (%d bytes)\n", name, len(b))
	return nil
}
