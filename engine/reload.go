package engine

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/reports"
	"github.com/cadang/cadang/engine/runs"
	"github.com/cadang/cadang/engine/schedule"
	"github.com/cadang/cadang/targets"
)

// Reloading the configuration (`cadang reload`, SIGHUP).
//
// The file is read and checked whole first: a configuration with problems is not
// applied (the daemon goes on with the one it runs, and the answer lists every
// problem), nor is one that changes what only a restart can (config.NeedRestart: the
// state dir, the daemon's own settings, restic, the DRCs). Otherwise the targets, the
// schedules, the report and drill settings are built anew and replace the old ones in
// one step. Runs already queued run as they were queued, with the target they were
// queued for; a schedule whose cron or jitter changed starts from now, an unchanged one
// keeps its last slot (the catalog holds it). SIGHUP also comes from restic: its
// `unlock` probes the owner of a lock on this host with it, and the replication's locks
// name the daemon; a reload of an unchanged file does nothing.

// setup is the configuration a daemon runs and what is built from it.
type setup struct {
	cfg     *config.Config
	targets map[string]*target
	sched   *schedule.Scheduler
	runs    *runs.Runner
	reports *reports.Builder // the drills' reports, in the scheduler's zone
}

// conf returns the configuration the daemon runs now.
func (d *Daemon) conf() *setup { return d.live.Load() }

// build makes the targets, schedules, runner and report builder of cfg.
func (d *Daemon) build(cfg *config.Config) (*setup, error) {
	st := &setup{cfg: cfg, targets: map[string]*target{}, sched: schedule.New(cfg)}
	for i := range cfg.Targets {
		tc := &cfg.Targets[i]
		kind, _ := targets.Lookup(tc.Kind) // the config loader checked it
		impl, err := kind.New(targets.Spec{Name: tc.Name, Agency: tc.Agency, Config: tc.Spec, Logger: d.log.With("target", tc.Name)})
		if err != nil {
			return nil, fmt.Errorf("target %q: %w", tc.Name, err)
		}
		st.targets[tc.Name] = &target{Cfg: tc, Impl: impl}
	}
	st.reports = reports.New(d.cat, cfg, st.sched.Loc(), d.now)
	st.runs = runs.New(runs.Deps{Config: cfg, Log: d.log, Catalog: d.cat, Sites: d.sites, Repl: d.repl, Leases: d.leases,
		Reports: st.reports, Location: st.sched.Loc(), Now: d.now, Hooks: runHooks{d}, Remote: d.remote()})
	return st, nil
}

// errNotReloaded wraps why a reload was refused (answered 400: the request cannot
// succeed with the file as it is).
var errNotReloaded = fmt.Errorf("%w: configuration not reloaded", errBadRequest)

// Reload re-reads the configuration file and applies it, or says why not (the daemon
// then goes on with the configuration it runs).
func (d *Daemon) Reload() (api.ReloadAnswer, error) {
	d.schedMu.Lock()
	defer d.schedMu.Unlock()
	old := d.conf()
	ans := api.ReloadAnswer{Config: old.cfg.File, Added: []string{}, Removed: []string{}, Changed: []string{}}
	cfg, err := config.Load(old.cfg.File)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			return ans, fmt.Errorf("%w: %v", errNotReloaded, err)
		}
		return ans, fmt.Errorf("%w: %v", errNotReloaded, err)
	}
	ans.Digest = cfg.Digest
	if cfg.Digest == old.cfg.Digest {
		ans.Unchanged = true
		d.log.Info("configuration unchanged: nothing to reload", "config", cfg.File)
		return ans, nil
	}
	if keys := config.NeedRestart(old.cfg, cfg); len(keys) > 0 {
		return ans, fmt.Errorf("%w: %s changed, which needs a restart of the daemon (the running configuration stays)",
			errNotReloaded, joinAnd(keys))
	}
	st, err := d.build(cfg)
	if err != nil {
		return ans, fmt.Errorf("%w: %v", errNotReloaded, err)
	}
	states, err := d.cat.ScheduleStates()
	if err != nil {
		return ans, fmt.Errorf("%w: catalog: %v", errNotReloaded, err)
	}
	due, store := st.sched.Load(d.now(), states)
	for _, name := range slices.Sorted(maps.Keys(st.targets)) {
		o, ok := old.targets[name]
		switch {
		case !ok:
			ans.Added = append(ans.Added, name)
		case !reflect.DeepEqual(*o.Cfg, *st.targets[name].Cfg):
			ans.Changed = append(ans.Changed, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(old.targets)) {
		if _, ok := st.targets[name]; !ok {
			ans.Removed = append(ans.Removed, name)
		}
	}
	ans.Warnings = d.shortNotice(old.cfg, cfg)
	d.live.Store(st)
	d.notifier.SetRoutes(d.notifyRoutes(cfg)) // notifications.go
	select {
	case d.schedWake <- struct{}{}: // the new schedules' first slot may come sooner
	default:
	}
	d.log.Info("configuration reloaded", "config", cfg.File, "targets", len(st.targets), "added", ans.Added,
		"removed", ans.Removed, "changed", ans.Changed)
	if err := d.fire(due, store); err != nil {
		d.log.Error("cannot queue the schedules' catch-up after the reload", "err", err)
	}
	return ans, nil
}

// joinAnd joins names as "a, b and c".
func joinAnd(names []string) string {
	if len(names) < 2 {
		return fmt.Sprint(names[0])
	}
	out := ""
	for i, n := range names[:len(names)-1] {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out + " and " + names[len(names)-1]
}
