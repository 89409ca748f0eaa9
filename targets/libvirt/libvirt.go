package libvirt

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/cadang/cadang/targets"
)

func init() {
	targets.Register(targets.Kind{
		Name:      "libvirt",
		NewConfig: newConfig,
		New: func(s targets.Spec) (targets.Target, error) {
			return &Target{name: s.Name, cfg: *s.Config.(*Config), log: s.Logger}, nil
		},
	})
}

// Target backs up one libvirt domain.
type Target struct {
	name string
	cfg  Config
	log  *slog.Logger

	// afterBegin, if set, runs when libvirt has started a backup job (tests abort the
	// job through libvirt from it).
	afterBegin func(domain string)
	// beforeStore, if set, runs when the disks are in scratch, before restic stores
	// them (tests stop the domain from it).
	beforeStore func(domain string)
	// jobWait, if set, replaces defaultJobWait; onJobWait, if set, runs when a backup
	// starts waiting for another job of the domain.
	jobWait   time.Duration
	onJobWait func(domain string)
	// beforeFreeze, if set, runs after the check for other jobs, just before the
	// guest is frozen (tests start a job there, as if it started at that instant).
	beforeFreeze func(domain string)
}

var _ targets.Target = (*Target)(nil) // interface guard

// lookup finds the configured domain.
func (t *Target) lookup(c *conn) (golibvirt.Domain, error) {
	dom, err := c.DomainLookupByName(t.cfg.Domain)
	if err != nil {
		return dom, fmt.Errorf("domain %q at %s: %s", t.cfg.Domain, c.uri, reason(err))
	}
	return dom, nil
}

// stateName names a domain state as virsh does.
func stateName(s int32) string {
	switch golibvirt.DomainState(s) {
	case golibvirt.DomainRunning:
		return "running"
	case golibvirt.DomainBlocked:
		return "blocked"
	case golibvirt.DomainPaused:
		return "paused"
	case golibvirt.DomainShutdown:
		return "shutting down"
	case golibvirt.DomainShutoff:
		return "shut off"
	case golibvirt.DomainCrashed:
		return "crashed"
	case golibvirt.DomainPmsuspended:
		return "suspended"
	}
	return fmt.Sprintf("state %d", s)
}

// active reports whether QEMU runs for a domain in state s (a backup job is possible).
func active(s int32) bool {
	switch golibvirt.DomainState(s) {
	case golibvirt.DomainShutoff, golibvirt.DomainCrashed, golibvirt.DomainNostate:
		return false
	}
	return true
}

// contextErr returns the context's cause if it ended, else err: once the context ends,
// the connection is closed and libvirt's errors only say so.
func contextErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}
