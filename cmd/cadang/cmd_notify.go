package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newNotifyCommand(g *globals) *cobra.Command {
	return newGroupCommand("notify COMMAND", "notification channels: send a test message", `The notification channels of "notify:" in the configuration: webhooks (JSON signed
with HMAC-SHA256) and e-mail (SMTP with STARTTLS). The daemon tells them when a backup or
a drill fails (and when it succeeds again), when a target's newest good copy at a DRC is
older than its RPO, when a secondary falls behind, when an alarm is raised, and when a
request waits for approval: each condition once when it begins and once when it ends.`,
		"  cadang notify test ops-webhook", newNotifyTestCommand(g))
}

func newNotifyTestCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "test CHANNEL",
		Short: "send a test message on a channel now, and say whether it arrived",
		Long: `Send a test message on the notification channel CHANNEL now, from the daemon, and wait
for the channel to take it: a webhook's receiver answering 2xx, an SMTP server accepting
the message. Exit 1 with the reason when it does not.`,
		Example: `  cadang notify test ops-webhook
  cadang notify test dinkes-mail`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.NotifyTest(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "test message sent on channel %s\n", args[0])
			return nil
		},
	}
}
