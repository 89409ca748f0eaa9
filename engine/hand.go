package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/queue"
)

// checkHandArgs refuses what a hand run may not do.
func checkHandArgs(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no restic command given (cadang restic AGENCY -- COMMAND [ARGS])", errBadRequest)
	}
	cmd := args[0]
	if why, ok := handRefused[cmd]; ok {
		return fmt.Errorf("%w: restic %s is refused: %s", errBadRequest, cmd, why)
	}
	allowed, ok := handCommands[cmd]
	if !ok {
		return fmt.Errorf("%w: restic %q is not a command cadang runs by hand (allowed: %s)", errBadRequest, cmd, handList())
	}
	if allowed != nil {
		if len(args) < 2 || !slices.Contains(allowed, args[1]) {
			return fmt.Errorf("%w: restic %s: give one of %s", errBadRequest, cmd, strings.Join(allowed, ", "))
		}
	}
	for _, a := range args[1:] {
		name, _, _ := strings.Cut(a, "=")
		if slices.Contains(handFlagRefused, name) {
			return fmt.Errorf("%w: restic flag %s is refused: cadang chooses the repository and its password", errBadRequest, name)
		}
	}
	return nil
}

func handList() string {
	return "snapshots, ls, find, stats, check, diff, list, cat, key, repair, unlock, version"
}

// Restic queues a hand run of restic on an agency's repository at a DRC (the primary
// if none is named); requester says who asked.
func (d *Daemon) Restic(req api.ResticRequest, requester string) (catalog.Run, error) {
	cf := d.conf()
	if !cf.cfg.HasAgency(req.Agency) {
		return catalog.Run{}, fmt.Errorf("%w: unknown agency %q", errBadRequest, req.Agency)
	}
	site, err := d.sites.site(req.DRC)
	if err != nil {
		return catalog.Run{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if err := checkHandArgs(req.Args); err != nil {
		return catalog.Run{}, err
	}
	r := &catalog.Run{Op: "restic", Agency: req.Agency, DRC: site.Name, Reason: reasonOnDemand,
		Notes: []string{"restic " + strings.Join(req.Args, " ")}}
	if requester != "" {
		r.Notes = append(r.Notes, "requested by "+requester)
	}
	args := append([]string(nil), req.Args...)
	return d.submit(r, queue.PriorityOnDemand, func(ctx context.Context, j *queue.Job) error {
		return cf.runs.Hand(ctx, j, site, args)
	})
}

// handCommands are the restic commands a hand run may run; a value lists the only
// first arguments allowed (nil: any).
var handCommands = map[string][]string{
	"snapshots": nil, "ls": nil, "find": nil, "stats": nil, "check": nil, "diff": nil, "version": nil,
	"list":   {"blobs", "packs", "index", "snapshots", "keys", "locks"},
	"cat":    {"config", "index", "snapshot", "lock"},
	"key":    {"list"},
	"repair": {"index", "snapshots", "packs"},
	"unlock": nil,
}

// handRefused says why a command is refused.
var handRefused = map[string]string{
	"restore": "it reads the agency's data, which the operator must not: the agency restores through cadang restore",
	"dump":    "it reads the agency's data, which the operator must not",
	"mount":   "it reads the agency's data, which the operator must not",
	"init":    "cadang init creates repositories (and keeps their keys)",
	"forget":  "cadang forget applies the retention and keeps the catalog and the other DRC right",
	"prune":   "cadang prune runs it where it is safe (never at a secondary)",
	"tag":     "cadang's tags say which snapshots are good",
	"rewrite": "it changes snapshots cadang records",
	"backup":  "cadang backup takes snapshots",
	"copy":    "replication copies between DRCs",
	"recover": "it writes a snapshot cadang did not take",
}

// handFlagRefused are the flags that would point restic elsewhere or at another secret.
var handFlagRefused = []string{"-r", "--repo", "--repository-file", "-p", "--password-file", "--password-command",
	"--insecure-no-password", "--key-hint", "-o", "--option", "--cache-dir", "--tls-client-cert", "--from-repo",
	"--from-repository-file", "--from-password-file", "--from-password-command", "--from-key-hint"}
