package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/escrow"
	"github.com/cadang/cadang/internal/oneline"
)

// A warm standby, the takeover and the handback.
//
// Two cadangs share the DRCs: the main site's, and a standby at the DR site
// (daemon.standby) that applies the main site's newest state bundle (protect.go) every
// interval and schedules nothing. `cadang takeover` promotes the standby: it writes a
// takeover lease into every DRC that answers (_state/primary-lease.json, naming it the
// primary, with an epoch one higher than any lease before), marks the other DRCs down
// (backups go to the DR site's DRC, as when the primary does not answer), and starts
// acting: schedules, replication, state bundles. A cadang that starts and finds a lease
// naming another site acts on nothing: it starts read-only and says why; a primary that
// finds one while it runs (it was cut off when the standby took over) steps down at its
// next look. `cadang handback` at the site that took over waits for its runs, brings
// both DRCs together (replication passes), writes a last state bundle and a lease
// naming the main site with that bundle, and returns to standby; `cadang handback` at
// the main site then applies that bundle (with an escrow identity) and acts again. So
// two cadangs never act as the primary at once, and the snapshots made during the
// takeover are in the main site's catalog, written once, under the ids they have.

// Roles of a cadang among the sites.
const (
	rolePrimary  = "primary"
	roleStandby  = "standby"
	roleReadOnly = "read-only"
)

// leaseObject is the takeover lease's object name in every DRC.
const leaseObject = escrow.Prefix + "primary-lease.json"

// leaseLook is how often a primary or a read-only cadang looks at the lease.
const leaseLook = time.Minute

// errPassive refuses work at a cadang that is not the primary.
var errPassive = errors.New("this cadang is not the primary")

// siteState is what the daemon is among the sites, under mu.
type siteState struct {
	mu      sync.Mutex
	role    string
	why     string
	lease   *api.SiteLease
	applied appliedBundle // a standby's
	checked time.Time
	lastErr string
	notes   []string
	// handingBack is set while a handback brings the DRCs together: only replication runs.
	handingBack bool
	// stop stops the loops of the primary (activate); nil when they do not run.
	stop func()
	// busy serialises takeover, handback and the standby's apply.
	busy sync.Mutex
}

// appliedBundle is the state bundle a standby applied last (kept in state_dir/standby.json).
type appliedBundle struct {
	Bundle  string    `json:"bundle"`
	Created time.Time `json:"created"`
	Site    string    `json:"site"`
	Host    string    `json:"host"`
	Applied time.Time `json:"applied"`
	// Accepted is the epoch of the last handback lease this site applied.
	Accepted int `json:"accepted_epoch,omitempty"`
}

func (d *Daemon) sitePath() string { return filepath.Join(d.conf().cfg.StateDir, "standby.json") }

func (d *Daemon) loadApplied() {
	b, err := os.ReadFile(d.sitePath())
	if err != nil {
		return
	}
	var a appliedBundle
	if json.Unmarshal(b, &a) == nil {
		d.site.applied = a
	}
}

func (d *Daemon) saveApplied(a appliedBundle) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	tmp := d.sitePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, d.sitePath())
}

// role returns the daemon's role and why it is not the primary.
func (d *Daemon) role() (string, string) {
	d.site.mu.Lock()
	defer d.site.mu.Unlock()
	if d.site.role == "" {
		return rolePrimary, ""
	}
	return d.site.role, d.site.why
}

// passive says why this cadang takes no work of kind op now ("" when it does).
func (d *Daemon) passive(op string) error {
	d.site.mu.Lock()
	defer d.site.mu.Unlock()
	switch {
	case d.site.role == roleStandby:
		return fmt.Errorf("%w: %s", errPassive, d.site.why)
	case d.site.role == roleReadOnly:
		return fmt.Errorf("%w: %s", errPassive, d.site.why)
	case d.site.handingBack && op != "replicate":
		return fmt.Errorf("%w: it is handing the primary role back to site %q", errPassive, d.site.lease.Previous)
	}
	return nil
}

func (d *Daemon) setRole(role, why string) {
	d.site.mu.Lock()
	d.site.role, d.site.why = role, why
	d.site.mu.Unlock()
	if role != rolePrimary {
		d.log.Warn("this cadang acts on nothing", "role", role, "why", why)
	}
}

// readLease reads the takeover lease at every DRC that answers: the one of the highest
// epoch (nil: none anywhere), and the DRCs that could not be read.
func (d *Daemon) readLease(ctx context.Context) (*api.SiteLease, []string) {
	var best *api.SiteLease
	var unread []string
	for _, s := range d.sites {
		sctx, cancel := context.WithTimeout(ctx, drc.CheckTimeout)
		b, err := drc.ReadObject(sctx, s.Store, leaseObject)
		cancel()
		if errors.Is(err, drc.ErrNotExist) || errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			unread = append(unread, fmt.Sprintf("drc %q: %s", s.Name, oneline.Error(err)))
			continue
		}
		var l api.SiteLease
		if err := json.Unmarshal(b, &l); err != nil {
			unread = append(unread, fmt.Sprintf("drc %q: %s: %v", s.Name, leaseObject, err))
			continue
		}
		if best == nil || l.Epoch > best.Epoch {
			best = &l
		}
	}
	return best, unread
}

// writeLease writes l into every DRC that answers; it returns the DRCs written.
func (d *Daemon) writeLease(ctx context.Context, l api.SiteLease) ([]string, []string) {
	b, _ := json.MarshalIndent(l, "", "  ")
	var ok, failed []string
	for _, s := range d.sites {
		sctx, cancel := context.WithTimeout(ctx, drc.CheckTimeout)
		err := s.Store.Put(sctx, leaseObject, strings.NewReader(string(b)), int64(len(b)))
		cancel()
		if err != nil {
			failed = append(failed, fmt.Sprintf("drc %q: %s", s.Name, oneline.Error(err)))
			continue
		}
		ok = append(ok, s.Name)
	}
	return ok, failed
}

// decideRole is the role a starting daemon takes: the primary, unless a lease names
// another site (read-only) or it is configured as a standby and no lease names it.
func (d *Daemon) decideRole(ctx context.Context) {
	cf := d.conf()
	me := cf.cfg.Daemon.Site
	d.loadApplied()
	l, unread := d.readLease(ctx)
	d.site.mu.Lock()
	d.site.lease = l
	d.site.mu.Unlock()
	if len(unread) > 0 {
		d.log.Warn("takeover lease: some DRCs could not be read", "drcs", strings.Join(unread, "; "))
	}
	switch {
	case l != nil && l.Site == me && l.Kind == "handback" && d.site.applied.Accepted < l.Epoch:
		d.setRole(roleReadOnly, handedBackWhy(l))
	case l != nil && l.Site == me:
		d.setRole(rolePrimary, "")
		d.log.Info("this site holds the takeover lease: it is the primary", "site", me, "epoch", l.Epoch, "since", l.Since)
	case cf.cfg.Daemon.Standby != nil:
		d.setRole(roleStandby, fmt.Sprintf("it is a standby (daemon.standby): it applies the state bundles at drc %q and runs nothing until `cadang takeover`",
			cf.cfg.Daemon.Standby.SourceDRC))
	case l != nil:
		d.setRole(roleReadOnly, leaseWhy(l))
	default:
		d.setRole(rolePrimary, "")
	}
}

func leaseWhy(l *api.SiteLease) string {
	return fmt.Sprintf("site %q took over as the primary at %s (lease epoch %d, by %s): this cadang acts on nothing until the role is handed back (`cadang handback` at %q, see docs/site-loss.md)",
		l.Site, l.Since.UTC().Format(time.RFC3339), l.Epoch, l.By, l.Site)
}

func handedBackWhy(l *api.SiteLease) string {
	return fmt.Sprintf("site %q handed the primary role back at %s with state bundle %s: run `cadang handback --identity FILE` here to apply it and act again",
		l.Previous, l.Since.UTC().Format(time.RFC3339), l.Bundle)
}

// activate starts what only the primary does: schedules, replication, the export
// sweep, the watch of conditions, state bundles.
func (d *Daemon) activate() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){d.scheduleLoop, d.repl.Loop, d.exportSweepLoop, d.watchConditions, d.protectLoop} {
		wg.Add(1)
		go func() { defer wg.Done(); loop(ctx) }()
	}
	d.site.mu.Lock()
	d.site.stop = func() { cancel(); wg.Wait() }
	d.site.mu.Unlock()
}

// deactivate stops them and waits.
func (d *Daemon) deactivate() {
	d.site.mu.Lock()
	stop := d.site.stop
	d.site.stop = nil
	d.site.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// becomePrimary does what a starting primary does (runs a dead daemon left, due
// schedules) and starts the loops.
func (d *Daemon) becomePrimary() error {
	orphans, err := d.recoverOrphans()
	if err != nil {
		return err
	}
	d.setRole(rolePrimary, "")
	if err := d.takeOver(orphans); err != nil { // as a restarted daemon does
		return err
	}
	d.activate()
	d.stateChanged()
	return nil
}

// siteLoop is the standby's apply loop, and the lease watch of a primary or a
// read-only cadang, until ctx ends.
func (d *Daemon) siteLoop(ctx context.Context) {
	for {
		every := leaseLook
		if sb := d.conf().cfg.Daemon.Standby; sb != nil && sb.Interval < every {
			every = sb.Interval
		}
		role, _ := d.role()
		switch role {
		case roleStandby:
			if err := d.applyNewest(ctx); err != nil && ctx.Err() == nil {
				d.log.Error("standby: state bundle not applied", "err", err)
			}
		case rolePrimary:
			d.watchLease(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// watchLease steps a primary down when a lease names another site (it was cut off
// while the standby took over).
func (d *Daemon) watchLease(ctx context.Context) {
	l, _ := d.readLease(ctx)
	if l == nil {
		return
	}
	me := d.conf().cfg.Daemon.Site
	d.site.mu.Lock()
	known := d.site.lease
	handingBack := d.site.handingBack
	d.site.mu.Unlock()
	if l.Site == me || handingBack || (known != nil && known.Epoch >= l.Epoch && known.Site == l.Site) {
		return
	}
	d.site.mu.Lock()
	d.site.lease = l
	d.site.mu.Unlock()
	d.log.Error("another site holds the takeover lease: this cadang steps down", "site", l.Site, "epoch", l.Epoch)
	d.deactivate()
	if d.conf().cfg.Daemon.Standby != nil {
		d.setRole(roleStandby, "it handed the primary role back: it applies the state bundles again")
		return
	}
	d.setRole(roleReadOnly, leaseWhy(l))
}

// identity reads the escrow identities of content, or of daemon.standby.identity_file.
func (d *Daemon) identity(content string) ([]age.Identity, error) {
	if content == "" {
		sb := d.conf().cfg.Daemon.Standby
		if sb == nil {
			return nil, fmt.Errorf("%w: give an escrow identity (--identity FILE): this cadang has no daemon.standby.identity_file", errBadRequest)
		}
		b, err := os.ReadFile(sb.IdentityFile)
		if err != nil {
			return nil, fmt.Errorf("daemon.standby.identity_file: %v", err)
		}
		content = string(b)
	}
	ids, err := age.ParseIdentities(strings.NewReader(content))
	if err != nil {
		return nil, fmt.Errorf("%w: escrow identity: %v (an age identity, AGE-SECRET-KEY-1...)", errBadRequest, err)
	}
	return ids, nil
}

// applyNewest applies the newest state bundle at the standby's source DRC, if it is
// newer than the one applied. A bundle that is damaged or does not open is passed over
// for the one before it (never older than the one applied), and the reason kept.
func (d *Daemon) applyNewest(ctx context.Context) error {
	d.site.busy.Lock()
	defer d.site.busy.Unlock()
	sb := d.conf().cfg.Daemon.Standby
	err := d.applyNewestLocked(ctx)
	d.site.mu.Lock()
	d.site.checked = d.now()
	d.site.lastErr = ""
	if err != nil {
		d.site.lastErr = oneline.Error(err)
	}
	d.site.mu.Unlock()
	if err != nil {
		return fmt.Errorf("drc %q: %w", sb.SourceDRC, err)
	}
	return nil
}

func (d *Daemon) applyNewestLocked(ctx context.Context) error {
	sb := d.conf().cfg.Daemon.Standby
	if sb == nil {
		return errors.New("not a standby")
	}
	site, err := d.sites.site(sb.SourceDRC)
	if err != nil {
		return err
	}
	times, err := stateBundles(ctx, site)
	if err != nil {
		return fmt.Errorf("listing the state bundles: %v", oneline.Error(err))
	}
	d.site.mu.Lock()
	applied := d.site.applied
	d.site.mu.Unlock()
	ids, err := d.identity("")
	if err != nil {
		return err
	}
	var skipped []string
	for _, t := range times {
		name := escrow.BundleName(t)
		if name == applied.Bundle || (!applied.Created.IsZero() && !t.After(applied.Created)) {
			break
		}
		if err := d.applyBundle(ctx, site, name, ids, func(a *appliedBundle) {}); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			skipped = append(skipped, fmt.Sprintf("%s: %s", name, oneline.Error(err)))
			continue
		}
		break
	}
	if len(skipped) > 0 {
		return fmt.Errorf("state bundle(s) refused: %s", strings.Join(skipped, "; "))
	}
	if len(times) == 0 {
		return fmt.Errorf("no state bundle yet (%s): is state_protection on at the main site?", escrow.Prefix)
	}
	return nil
}

// applyBundle opens bundle name at site and makes its catalog and keys this daemon's:
// the catalog replaced in one transaction, the key files written beside the others.
func (d *Daemon) applyBundle(ctx context.Context, site *drc.Site, name string, ids []age.Identity, also func(*appliedBundle)) error {
	stateDir := d.conf().cfg.StateDir
	scratch := filepath.Join(stateDir, "scratch")
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(scratch, "standby-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	m, err := openStateBundle(ctx, site, name, ids, tmp)
	if err != nil {
		return err
	}
	if err := d.cat.ReplaceFrom(filepath.Join(tmp, escrow.CatalogName)); err != nil {
		return err
	}
	keys := filepath.Join(tmp, strings.TrimSuffix(escrow.KeysDir, "/"))
	err = filepath.WalkDir(keys, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(keys, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(stateDir, "keys", rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		return os.Rename(p, dst) // the same file system: scratch is in state_dir
	})
	if err != nil {
		return fmt.Errorf("installing the keys: %w", err)
	}
	a := appliedBundle{Bundle: name, Created: m.Created, Site: m.Site, Host: m.Host, Applied: d.now()}
	d.site.mu.Lock()
	a.Accepted = d.site.applied.Accepted
	also(&a)
	d.site.applied = a
	d.site.mu.Unlock()
	if err := d.saveApplied(a); err != nil {
		d.log.Warn("standby: cannot keep what was applied", "err", err)
	}
	d.log.Info("state bundle applied", "bundle", name, "drc", site.Name, "made", m.Created, "site", m.Site)
	return nil
}

// waitIdle waits until no run is queued or running, or ctx ends.
func (d *Daemon) waitIdle(ctx context.Context) error {
	for {
		q, _ := d.queue.Counts()
		if q == 0 && len(d.queue.Running()) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("runs still going: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Takeover promotes this standby to the primary.
func (d *Daemon) Takeover(ctx context.Context, req api.TakeoverRequest, by api.Actor) (api.SiteStatus, error) {
	d.site.busy.Lock()
	defer d.site.busy.Unlock()
	cf := d.conf()
	me := cf.cfg.Daemon.Site
	role, why := d.role()
	if role != roleStandby {
		if role == rolePrimary {
			return api.SiteStatus{}, fmt.Errorf("%w: this cadang (site %q) is the primary already", errBadRequest, me)
		}
		return api.SiteStatus{}, fmt.Errorf("%w: this cadang is not a standby: %s", errBadRequest, why)
	}
	var notes []string
	if err := d.applyNewestLocked(ctx); err != nil {
		notes = append(notes, "the newest state could not be applied, the last one applied is used: "+oneline.Error(err))
	}
	d.site.mu.Lock()
	applied := d.site.applied
	d.site.mu.Unlock()
	if applied.Bundle == "" {
		return api.SiteStatus{}, fmt.Errorf("%w: no state bundle has been applied here: this standby knows nothing of the main site yet", errBadRequest)
	}
	lost := applied.Site
	if lost == "" {
		lost = applied.Host
	}
	if req.Confirm != lost {
		return api.SiteStatus{}, fmt.Errorf("%w: confirm with the name of the site taken over: --confirm %s", errBadRequest, lost)
	}
	old, _ := d.readLease(ctx)
	l := api.SiteLease{Site: me, Epoch: 1, Kind: "takeover", Since: d.now().UTC(), By: by.Name, Previous: lost}
	if old != nil {
		l.Epoch = old.Epoch + 1
	}
	written, failed := d.writeLease(ctx, l)
	source := cf.cfg.Daemon.Standby.SourceDRC
	if !contains(written, source) {
		return api.SiteStatus{}, fmt.Errorf("the takeover lease could not be written to drc %q, so the main site could not know: %s", source, strings.Join(failed, "; "))
	}
	notes = append(notes, fmt.Sprintf("state as of %s (bundle %s) applied", applied.Created.UTC().Format(time.RFC3339), applied.Bundle),
		fmt.Sprintf("takeover lease (epoch %d) written to drc %s", l.Epoch, strings.Join(written, ", ")))
	if len(failed) > 0 {
		notes = append(notes, "not written to "+strings.Join(failed, "; ")+": the main site reads it at the DRCs that have it")
	}
	for _, s := range d.sites {
		if s.Name != source {
			d.repl.MarkDown(s.Name, fmt.Sprintf("site %q was taken over at %s", lost, l.Since.Format(time.RFC3339)))
			notes = append(notes, fmt.Sprintf("drc %q marked down: backups go to drc %q until the handback", s.Name, source))
		}
	}
	d.site.mu.Lock()
	d.site.lease = &l
	d.site.notes = notes
	d.site.mu.Unlock()
	if err := d.becomePrimary(); err != nil {
		return api.SiteStatus{}, err
	}
	d.log.Warn("takeover: this cadang is the primary", "site", me, "from", lost, "epoch", l.Epoch, "by", by.Name)
	st := d.siteStatus()
	st.Notes = notes
	return st, nil
}

// Handback returns the primary role: at the site that took over, it brings the DRCs
// together, writes a last bundle and a lease naming the site taken over, and goes back
// to standby; at that site (read-only until then), it applies that bundle and acts.
func (d *Daemon) Handback(ctx context.Context, req api.HandbackRequest, by api.Actor) (api.SiteStatus, error) {
	d.site.busy.Lock()
	defer d.site.busy.Unlock()
	me := d.conf().cfg.Daemon.Site
	d.site.mu.Lock()
	l := d.site.lease
	d.site.mu.Unlock()
	if fresh, _ := d.readLease(ctx); fresh != nil && (l == nil || fresh.Epoch > l.Epoch) {
		l = fresh
	}
	role, _ := d.role()
	switch {
	case l == nil:
		return api.SiteStatus{}, fmt.Errorf("%w: no takeover lease at any DRC: there is nothing to hand back", errBadRequest)
	case role == rolePrimary && l.Site == me && l.Kind == "takeover":
		return d.release(ctx, *l, req, by)
	case role == roleReadOnly && l.Site == me && l.Kind == "handback":
		return d.resume(ctx, *l, req, by)
	case role == roleReadOnly:
		return api.SiteStatus{}, fmt.Errorf("%w: site %q still holds the primary role (lease epoch %d): run `cadang handback --confirm %s` there first", errBadRequest, l.Site, l.Epoch, me)
	}
	return api.SiteStatus{}, fmt.Errorf("%w: this cadang (site %q, %s) has no primary role to hand back (lease: site %q, %s, epoch %d)", errBadRequest, me, role, l.Site, l.Kind, l.Epoch)
}

// release is the handback at the site that took over.
func (d *Daemon) release(ctx context.Context, l api.SiteLease, req api.HandbackRequest, by api.Actor) (api.SiteStatus, error) {
	if req.Confirm != l.Previous {
		return api.SiteStatus{}, fmt.Errorf("%w: confirm with the name of the site the role goes back to: --confirm %s", errBadRequest, l.Previous)
	}
	for _, s := range d.sites {
		if err := s.Check(ctx); err != nil {
			return api.SiteStatus{}, fmt.Errorf("%w: drc %q does not answer (%s): hand back once the main site's DRC is back", errBadRequest, s.Name, oneline.Error(err))
		}
	}
	var notes []string
	d.deactivate() // no new scheduled work
	d.site.mu.Lock()
	d.site.handingBack = true
	d.site.mu.Unlock()
	undo := func(err error) (api.SiteStatus, error) {
		d.site.mu.Lock()
		d.site.handingBack = false
		d.site.mu.Unlock()
		d.activate()
		return api.SiteStatus{}, fmt.Errorf("handback stopped, this cadang stays the primary: %w", err)
	}
	if err := d.waitIdle(ctx); err != nil {
		return undo(err)
	}
	for _, s := range d.sites {
		d.repl.MarkUp(s.Name)
	}
	runs, err := d.Replicate(ReplicateRequest{})
	if err != nil {
		return undo(err)
	}
	if err := d.waitIdle(ctx); err != nil {
		return undo(err)
	}
	for _, r := range runs {
		run, err := d.cat.Run(r.ID)
		if err != nil {
			return undo(err)
		}
		if run.Status != catalog.Succeeded {
			return undo(fmt.Errorf("replication run %d (%s to drc %q) %s: %s", run.ID, run.Agency, run.DRC, run.Status, run.Error))
		}
	}
	notes = append(notes, fmt.Sprintf("both DRCs brought together by %d replication run(s)", len(runs)))
	name, err := d.protectStateNamed(ctx)
	if err != nil {
		return undo(fmt.Errorf("the last state bundle: %w", err))
	}
	notes = append(notes, "last state bundle "+name+" written to every DRC")
	back := api.SiteLease{Site: l.Previous, Epoch: l.Epoch + 1, Kind: "handback", Since: d.now().UTC(), By: by.Name, Previous: l.Site, Bundle: name}
	written, failed := d.writeLease(ctx, back)
	if len(failed) > 0 {
		// The bundle is written; a lease at only some DRCs would leave the sites
		// disagreeing: say so, and stay the primary.
		return undo(fmt.Errorf("the handback lease could not be written to every DRC: %s", strings.Join(failed, "; ")))
	}
	notes = append(notes, fmt.Sprintf("handback lease (epoch %d) written to drc %s: site %q resumes with `cadang handback --identity FILE`", back.Epoch, strings.Join(written, ", "), back.Site))
	made, _ := escrow.ParseName(name)
	d.site.mu.Lock()
	d.site.lease = &back
	d.site.handingBack = false
	// Its own last bundle counts as applied: the standby never applies it back.
	d.site.applied = appliedBundle{Bundle: name, Created: made, Site: d.conf().cfg.Daemon.Site, Applied: d.now(), Accepted: d.site.applied.Accepted}
	d.site.notes = notes
	a := d.site.applied
	d.site.mu.Unlock()
	_ = d.saveApplied(a)
	if d.conf().cfg.Daemon.Standby != nil {
		d.setRole(roleStandby, "it handed the primary role back: it applies the state bundles again")
	} else {
		d.setRole(roleReadOnly, leaseWhy(&back))
	}
	d.log.Warn("handback: the primary role goes back", "to", back.Site, "epoch", back.Epoch, "bundle", name, "by", by.Name)
	st := d.siteStatus()
	st.Notes = notes
	return st, nil
}

// resume is the handback at the site taken over: it applies the bundle handed back.
func (d *Daemon) resume(ctx context.Context, l api.SiteLease, req api.HandbackRequest, by api.Actor) (api.SiteStatus, error) {
	ids, err := d.identity(req.Identity)
	if err != nil {
		return api.SiteStatus{}, err
	}
	var tried []string
	applied := ""
	for _, s := range d.sites {
		err := d.applyBundle(ctx, s, l.Bundle, ids, func(a *appliedBundle) { a.Accepted = l.Epoch })
		if err != nil {
			tried = append(tried, fmt.Sprintf("drc %q: %s", s.Name, oneline.Error(err)))
			continue
		}
		applied = s.Name
		break
	}
	if applied == "" {
		return api.SiteStatus{}, fmt.Errorf("state bundle %s could not be applied: %s", l.Bundle, strings.Join(tried, "; "))
	}
	notes := []string{fmt.Sprintf("state bundle %s (handed back by site %q) applied from drc %q", l.Bundle, l.Previous, applied)}
	d.site.mu.Lock()
	d.site.lease = &l
	d.site.notes = notes
	d.site.mu.Unlock()
	if err := d.becomePrimary(); err != nil {
		return api.SiteStatus{}, err
	}
	d.log.Warn("handback: this cadang is the primary again", "site", l.Site, "epoch", l.Epoch, "by", by.Name)
	st := d.siteStatus()
	st.Notes = notes
	return st, nil
}

// siteStatus is what this cadang is among the sites.
func (d *Daemon) siteStatus() api.SiteStatus {
	cf := d.conf()
	d.site.mu.Lock()
	defer d.site.mu.Unlock()
	role := d.site.role
	if role == "" {
		role = rolePrimary
	}
	st := api.SiteStatus{Name: cf.cfg.Daemon.Site, Role: role, Why: d.site.why, Lease: d.site.lease, Down: d.repl.Down()}
	if sb := cf.cfg.Daemon.Standby; sb != nil && role == roleStandby {
		a := d.site.applied
		ss := &api.StandbyStatus{Of: a.Site, SourceDRC: sb.SourceDRC, Bundle: a.Bundle, StateAsOf: a.Created, Applied: a.Applied,
			Checked: d.site.checked, Error: d.site.lastErr}
		if ss.Of == "" {
			ss.Of = a.Host
		}
		if !a.Created.IsZero() {
			ss.Lag = d.now().Sub(a.Created).Round(time.Second).String()
		}
		st.Standby = ss
	}
	return st
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Service calls.

func (s service) Takeover(ctx context.Context, req api.TakeoverRequest, by api.Actor) (api.SiteStatus, error) {
	out, err := s.d.Takeover(ctx, req, by)
	return out, wireErr(err)
}

func (s service) Handback(ctx context.Context, req api.HandbackRequest, by api.Actor) (api.SiteStatus, error) {
	out, err := s.d.Handback(ctx, req, by)
	return out, wireErr(err)
}
