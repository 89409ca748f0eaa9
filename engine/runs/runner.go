package runs

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/lease"
	"github.com/cadang/cadang/engine/replication"
	"github.com/cadang/cadang/engine/reports"
	"github.com/cadang/cadang/targets"
)

// ErrCancelled is the cause of a run cancelled by request (cadang cancel).
var ErrCancelled = errors.New("cancelled by request")

// ReasonRetention is the reason of a forget run that follows a backup: it runs only
// after a successful one.
const ReasonRetention = "retention"

// Target is a configured target with its implementation.
type Target struct {
	Cfg  *config.Target
	Impl targets.Target
}

// Hooks are what a run asks of the daemon that runs it.
type Hooks interface {
	// DeferPrune is called when PruneGate holds a prune at the primary back: the daemon
	// queues it again once replication lets it go.
	DeferPrune(agency string)
	// DamageFound is called when a run recorded a damaged object at a DRC: its
	// repair is queued.
	DamageFound(drc, agency string)
}

// Deps are a Runner's parts, all owned by the daemon.
type Deps struct {
	Config   *config.Config
	Log      *slog.Logger
	Catalog  *catalog.Catalog
	Sites    []*drc.Site // primary first
	Repl     *replication.Replicator
	Leases   *lease.Manager
	Reports  *reports.Builder
	Location *time.Location // the scheduler's zone (retention's days, weeks, months)
	Now      func() time.Time
	Hooks    Hooks
	// Remote, if set, runs the backups of targets with agent: or agent_pool:.
	Remote Remote
}

// Runner executes runs: the body of each op, given its queued job.
type Runner struct {
	cfg     *config.Config
	log     *slog.Logger
	cat     *catalog.Catalog
	sites   []*drc.Site
	repl    *replication.Replicator
	leases  *lease.Manager
	reports *reports.Builder
	loc     *time.Location
	now     func() time.Time
	hooks   Hooks
	rem     Remote
}

// New returns a Runner over the daemon's parts.
func New(d Deps) *Runner {
	return &Runner{cfg: d.Config, log: d.Log, cat: d.Catalog, sites: d.Sites, repl: d.Repl, leases: d.Leases, reports: d.Reports,
		loc: d.Location, now: d.Now, hooks: d.Hooks, rem: d.Remote}
}

func (x *Runner) primary() *drc.Site { return x.sites[0] }

// site returns the DRC named name, or the primary for "".
func (x *Runner) site(name string) (*drc.Site, error) {
	if name == "" {
		return x.primary(), nil
	}
	for _, s := range x.sites {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("unknown drc %q", name)
}
