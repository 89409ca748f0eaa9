package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
)

func init() {
	register(&command{name: "report", args: "drill RUN_ID | period --from DATE --to DATE [--format pdf|html|json] [--lang id|en] [-o FILE]",
		short: "write a drill report (Berita Acara Uji Pemulihan DRC) or a period summary", run: runReport})
}

func runReport(ctx context.Context, g *globals, args []string) error {
	const usage = "usage: cadang report drill RUN_ID | period --from YYYY-MM-DD --to YYYY-MM-DD [--format pdf|html|json] [--lang id|en] [-o FILE]"
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	format := fs.String("format", "pdf", "pdf, html or json")
	lang := fs.String("lang", "", "id (Bahasa Indonesia) or en (default: report.language)")
	out := fs.String("o", "", "write to `FILE` (default: drill-RUN.FORMAT or period-FROM-TO.FORMAT here; - for standard output)")
	from := fs.String("from", "", "first day of the period (YYYY-MM-DD)")
	to := fs.String("to", "", "last day of the period (YYYY-MM-DD, included)")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErrorf(usage)
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	var b []byte
	var name string
	switch pos[0] {
	case "drill":
		if len(pos) != 2 {
			return usageErrorf(usage)
		}
		id, err := strconv.ParseUint(pos[1], 10, 64)
		if err != nil {
			return usageErrorf("run id %q is not a number", pos[1])
		}
		if b, err = c.DrillReport(ctx, id, *format, *lang); err != nil {
			return err
		}
		name = fmt.Sprintf("drill-%d.%s", id, *format)
	case "period":
		if len(pos) != 1 || *from == "" || *to == "" {
			return usageErrorf(usage)
		}
		if b, err = c.PeriodReport(ctx, *from, *to, *format, *lang); err != nil {
			return err
		}
		name = fmt.Sprintf("period-%s-%s.%s", *from, *to, *format)
	default:
		return usageErrorf(usage)
	}
	if *out == "-" {
		_, err := g.stdout.Write(b)
		return err
	}
	if *out != "" {
		name = *out
	}
	if err := os.WriteFile(name, b, 0o640); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "report written: %s (%d bytes)\n", name, len(b))
	return nil
}
