package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/cadang/cadang/engine/api"
)

func init() {
	register(&command{name: "verify", args: "--drc NAME [--agency ID] [--read-data]",
		short: "restic check at a DRC and compare its objects with the other DRCs", run: runVerify})
}

func runVerify(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	drcName := fs.String("drc", "", "the `DRC` to verify")
	agency := fs.String("agency", "", "only this `agency` (default: every agency)")
	readData := fs.Bool("read-data", false, "also read every object: restic check --read-data and a SHA-256 of each object")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *drcName == "" {
		return usageErrorf("usage: cadang verify --drc NAME [--agency ID] [--read-data]")
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	ri, err := c.Verify(ctx, api.VerifyRequest{DRC: *drcName, Agency: *agency, ReadData: *readData})
	if err != nil {
		return err
	}
	pp := newProgressPrinter(g.stdout, g.json)
	final, err := waitRun(ctx, c, ri.ID, pp.update)
	pp.done()
	if err != nil {
		return err
	}
	if g.json {
		if err := printJSON(g.stdout, final); err != nil {
			return err
		}
		return exitFor(final)
	}
	var rep api.VerifyReport
	if len(final.Manifest) > 0 {
		_ = json.Unmarshal(final.Manifest, &rep)
	}
	fmt.Fprintf(g.stdout, "run %d %s: verify drc %s in %s\n", final.ID, final.Status, final.DRC, took(final.Run))
	var rows [][]string
	for _, a := range rep.Agencies {
		corrupt := "-"
		if rep.ReadData {
			corrupt = fmt.Sprint(len(a.Corrupt))
		}
		for _, sc := range a.Compared {
			cmp := fmt.Sprintf("%d / %d / %d", sc.Missing, sc.Extra, sc.SizeDiffers)
			if sc.Error != "" {
				cmp = "not compared: " + sc.Error
			}
			rows = append(rows, []string{a.Agency, a.Check, fmt.Sprintf("%d (%s)", a.Objects, humanBytes(uint64(a.Bytes))), corrupt, sc.With, cmp, fmt.Sprint(sc.PendingDeletion)})
		}
		if len(a.Compared) == 0 {
			rows = append(rows, []string{a.Agency, a.Check, fmt.Sprintf("%d (%s)", a.Objects, humanBytes(uint64(a.Bytes))), corrupt, "-", "-", "-"})
		}
	}
	table(g.stdout, []string{"AGENCY", "RESTIC CHECK", "OBJECTS", "CORRUPT", "COMPARED WITH", "MISSING / EXTRA / SIZE DIFFERS", "PENDING DELETION"}, rows)
	for _, a := range rep.Agencies {
		for _, x := range a.Corrupt {
			fmt.Fprintf(g.stdout, "  %s: corrupt: %s\n", a.Agency, x)
		}
		for _, x := range a.KeyProblem {
			fmt.Fprintf(g.stdout, "  %s: key: %s\n", a.Agency, x)
		}
		for _, sc := range a.Compared {
			if !sc.SameConfig && sc.Error == "" {
				fmt.Fprintf(g.stdout, "  %s: the config object differs from drc %s: not the same repository\n", a.Agency, sc.With)
			}
			if sc.NotYetReplicated {
				fmt.Fprintf(g.stdout, "  %s: %d object(s) of drc %s are not here yet: replication copies them (see `cadang drc status`)\n", a.Agency, sc.Missing, sc.With)
			}
			for _, x := range sc.DiffersExamples {
				fmt.Fprintf(g.stdout, "  %s: %s has another size at drc %s\n", a.Agency, x, sc.With)
			}
		}
	}
	return exitFor(final)
}
