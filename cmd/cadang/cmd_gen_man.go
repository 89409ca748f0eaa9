package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// GenManOptions are the flags of `cadang gen-man` (none but the global ones).
type GenManOptions struct{}

// newGenManCommand is the hidden command `make man` runs to write the man pages of
// root and of every command under it into a folder (docs/man in the repository). The
// pages' date comes from $SOURCE_DATE_EPOCH when it is set (the Makefile sets the last
// commit's), so that regenerating them changes nothing when no command changed.
func newGenManCommand(g *globals, root *cobra.Command) *cobra.Command {
	var opts GenManOptions
	return &cobra.Command{
		Use:     "gen-man DIR",
		Short:   "(development) write the man pages into DIR",
		Long:    "Write a man page (section 1) for cadang and for each of its commands into DIR, which must exist.",
		Example: "  cadang gen-man docs/man",
		Hidden:  true,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			return runGenMan(g, opts, root, args[0])
		},
	}
}

func runGenMan(g *globals, _ GenManOptions, root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	header := &doc.GenManHeader{Title: "CADANG", Section: "1", Source: "cadang", Manual: "cadang manual"}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "man pages written to %s\n", dir)
	return nil
}
