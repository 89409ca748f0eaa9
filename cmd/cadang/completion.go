package main

import (
	"github.com/spf13/cobra"
)

// completeTargets completes a TARGET argument with the names of the configuration's
// targets (read from the file, as `config check` does: no daemon needed). A
// configuration that does not load completes nothing.
func completeTargets(g *globals) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cfg, err := g.loadConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := make([]cobra.Completion, 0, len(cfg.Targets))
		for _, t := range cfg.Targets {
			names = append(names, cobra.CompletionWithDesc(t.Name, "agency "+t.Agency))
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
