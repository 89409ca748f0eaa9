package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/export"
	"github.com/cadang/cadang/engine/queue"
	"github.com/cadang/cadang/engine/runs"
	"github.com/cadang/cadang/engine/server"
)

// Exports: data leaving the data center (policy 5.2.b). An agency asks (POST
// /v1/exports); the request needs the same approval as a restore (requests.go); once
// approved, an export run seals the snapshot into a bundle encrypted to the agency's
// age keys (engine/runs/export.go) and puts it in the exports area of the DRC it read
// (_exports/<agency>/<request>.tar.zst.age). The agency downloads it with its own
// token (the link is not a bearer URL) until the link expires (24 hours by default),
// once only when it asked for a single-use link. Each whole download is the hand-over,
// recorded on the request, with its Berita Acara Serah Terima Data. Expired bundles are
// deleted. Neither the operator nor cadang ever holds the plaintext on disk.

const (
	// DefaultExportLifetime is how long a bundle's link serves when the request does
	// not say; MaxExportLifetime bounds it.
	DefaultExportLifetime = 24 * time.Hour
	MaxExportLifetime     = 7 * 24 * time.Hour
	// exportSweepEvery is how often expired bundles are looked for and deleted.
	exportSweepEvery = 5 * time.Minute
)

// RequestExport records an agency's export request, pending approval.
func (s service) RequestExport(req api.ExportRequest, by api.Actor) (api.Request, error) {
	d := s.d
	if err := d.passive(""); err != nil {
		return api.Request{}, wireErr(err)
	}
	if by.Agency == "" {
		return api.Request{}, server.Forbidden(errors.New("an export is asked by the agency that owns the data (its token, or the portal acting for it): the data center does not take an agency's data out"))
	}
	cf := d.conf()
	t, ok := cf.targets[req.Target]
	if !ok || t.Cfg.Agency != by.Agency {
		return api.Request{}, server.NotFound(fmt.Errorf("unknown target %q", req.Target))
	}
	bad := func(format string, args ...any) (api.Request, error) {
		return api.Request{}, fmt.Errorf("%w: target %q: %s", errBadRequest, req.Target, fmt.Sprintf(format, args...))
	}
	if t.Cfg.Kind == "libvirt" {
		return bad("a VM's disks are not exported: ask for a restore")
	}
	if len(req.Paths) > 0 && t.Cfg.Kind != "files" {
		return bad("a %s target exports its whole dump: paths are for files targets", t.Cfg.Kind)
	}
	for _, p := range req.Paths {
		if parts := strings.Split(p, "/"); !filepath.IsAbs(p) || slices.Contains(parts, "..") || slices.Contains(parts, ".") {
			return bad("path %q: give an absolute path of the snapshot, without . or .. parts", p)
		}
	}
	if len(req.Recipients) == 0 {
		return bad("give the age public key(s) the bundle is encrypted to (recipients)")
	}
	if _, err := export.ParseRecipients(req.Recipients); err != nil {
		return bad("%v", err)
	}
	life := DefaultExportLifetime
	if req.Expires != "" {
		v, err := config.ParseDuration(req.Expires)
		if err != nil || v <= 0 || v > MaxExportLifetime {
			return bad("expires %q: give how long the link serves, at most 7d (24h by default)", req.Expires)
		}
		life = v
	}
	site, err := d.sites.site(req.DRC)
	if err != nil {
		return api.Request{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return s.addRequest(catalog.Request{Kind: catalog.RequestExport, Paths: req.Paths, Recipients: req.Recipients,
		SingleUse: req.SingleUse, Lifetime: life}, t, site, req.Snapshot, by)
}

// exportObject is the name of request id's bundle in its DRC's store.
func exportObject(agency string, id uint64) string {
	return fmt.Sprintf("%s%s/%d%s", catalog.ExportsPrefix, agency, id, export.Extension)
}

// export queues the run that makes approved request r's bundle.
func (d *Daemon) export(r catalog.Request, reason string) (catalog.Run, error) {
	cf := d.conf()
	t, ok := cf.targets[r.Target]
	if !ok {
		return catalog.Run{}, d.unknownTarget(r.Target)
	}
	site, err := d.sites.site(r.DRC)
	if err != nil {
		return catalog.Run{}, err
	}
	run := &catalog.Run{Op: "export", Target: r.Target, Agency: r.Agency, Kind: t.Cfg.Kind, DRC: site.Name, Reason: reason}
	spec := runs.ExportSpec{Snapshot: r.Snapshot, Paths: r.Paths, Recipients: r.Recipients, Object: exportObject(r.Agency, r.ID)}
	return d.submit(run, queue.PriorityOnDemand, func(ctx context.Context, j *queue.Job) error {
		sum, err := cf.runs.Export(ctx, j, site, spec)
		if err != nil {
			return err
		}
		now := d.now()
		if _, err := d.cat.UpdateRequest(r.ID, func(x *catalog.Request) error {
			x.Bundle = &catalog.Bundle{DRC: site.Name, Object: spec.Object, Bytes: sum.Bytes, PlainBytes: sum.PlainBytes,
				Files: sum.Files, SHA256: sum.SHA256, Ready: now, Expires: now.Add(x.Lifetime)}
			return nil
		}); err != nil {
			_ = site.Store.Delete(context.WithoutCancel(ctx), spec.Object)
			return fmt.Errorf("recording the bundle: %w", err)
		}
		j.Run.Notes = append(j.Run.Notes, fmt.Sprintf("bundle %s: %d bytes, SHA-256 %s", spec.Object, sum.Bytes, sum.SHA256))
		return nil
	})
}

// Download opens the bundle of export id for by, an agency principal of its agency.
// done(complete) must be called once the answer is sent: a complete download is the
// hand-over, recorded; a single-use bundle is then deleted.
func (s service) Download(ctx context.Context, id uint64, by api.Actor) (io.ReadCloser, int64, func(bool), error) {
	d := s.d
	if by.Agency == "" {
		return nil, 0, nil, server.Forbidden(errors.New("an export is handed over to its agency only: it downloads it with its own token"))
	}
	now := d.now()
	var expired bool
	r, err := d.cat.UpdateRequest(id, func(r *catalog.Request) error {
		if r.Agency != by.Agency || r.Kind != catalog.RequestExport {
			return noRequest(id)
		}
		b := r.Bundle
		switch {
		case b == nil:
			state := r.Status
			if r.Status == catalog.RequestApproved {
				state = fmt.Sprintf("approved, its bundle is being made (run %d)", r.Run)
			}
			return server.Conflict(fmt.Errorf("export %d has no bundle yet: its request is %s", id, state))
		case !b.Deleted.IsZero():
			return server.Gone(fmt.Errorf("export %d: its bundle was deleted at %s (%s)", id, d.inZone(b.Deleted), b.DeletedWhy))
		case !now.Before(b.Expires):
			expired = true
			return nil
		case r.SingleUse && (len(b.Downloads) > 0 || b.Serving > 0):
			return server.Gone(fmt.Errorf("export %d: its link was for one download, which %s began already", id, firstDownloader(b)))
		}
		b.Serving++
		return nil
	})
	switch {
	case errors.Is(err, catalog.ErrNoRequest):
		return nil, 0, nil, noRequest(id)
	case err != nil:
		return nil, 0, nil, err
	case expired:
		d.deleteBundle(ctx, r.ID, "expired")
		return nil, 0, nil, server.Gone(fmt.Errorf("export %d: its link expired at %s", id, d.inZone(r.Bundle.Expires)))
	}
	release := func(complete bool) {
		single := false
		if _, err := d.cat.UpdateRequest(id, func(x *catalog.Request) error {
			x.Bundle.Serving = max(0, x.Bundle.Serving-1)
			if complete {
				x.Bundle.Downloads = append(x.Bundle.Downloads, catalog.Download{Time: d.now(), By: by.Name, Role: by.Role, Source: by.Source})
				single = x.SingleUse
			}
			return nil
		}); err != nil {
			d.log.Error("export: recording the download", "request", id, "err", err)
		}
		if complete {
			d.log.Info("export downloaded: handed over", "request", id, "agency", by.Agency, "by", by.Name, "source", by.Source)
		}
		if single {
			d.deleteBundle(context.Background(), id, "downloaded once (single use)")
		}
	}
	site, err := d.sites.site(r.Bundle.DRC)
	if err != nil {
		release(false)
		return nil, 0, nil, err
	}
	rc, err := site.Store.Get(ctx, r.Bundle.Object)
	if err != nil {
		release(false)
		return nil, 0, nil, fmt.Errorf("export %d: drc %q: %w", id, site.Name, err)
	}
	return rc, r.Bundle.Bytes, release, nil
}

func firstDownloader(b *catalog.Bundle) string {
	if len(b.Downloads) > 0 {
		return b.Downloads[0].By
	}
	return "another client"
}

// inZone prints t in the daemon's zone.
func (d *Daemon) inZone(t time.Time) string {
	return t.In(d.conf().sched.Loc()).Format(time.RFC3339)
}

// deleteBundle deletes request id's bundle from its DRC and records why.
func (d *Daemon) deleteBundle(ctx context.Context, id uint64, why string) {
	r, err := d.cat.Request(id)
	if err != nil || r.Bundle == nil || !r.Bundle.Deleted.IsZero() {
		return
	}
	site, err := d.sites.site(r.Bundle.DRC)
	if err == nil {
		err = site.Store.Delete(ctx, r.Bundle.Object)
	}
	if err != nil {
		d.log.Error("export: cannot delete the bundle (tried again later)", "request", id, "drc", r.Bundle.DRC, "err", err)
		return
	}
	if _, err := d.cat.UpdateRequest(id, func(x *catalog.Request) error {
		x.Bundle.Deleted, x.Bundle.DeletedWhy = d.now(), why
		return nil
	}); err != nil {
		d.log.Error("export: recording the bundle's deletion", "request", id, "err", err)
		return
	}
	d.log.Info("export bundle deleted", "request", id, "why", why)
}

// sweepExports deletes the bundles whose link has expired.
func (d *Daemon) sweepExports(ctx context.Context) {
	now := d.now()
	rs, err := d.cat.Requests(func(r catalog.Request) bool {
		return r.Bundle != nil && r.Bundle.Deleted.IsZero() && !now.Before(r.Bundle.Expires)
	})
	if err != nil {
		d.log.Error("export: listing bundles", "err", err)
		return
	}
	for _, r := range rs {
		d.deleteBundle(ctx, r.ID, "expired")
	}
}

// exportSweepLoop sweeps expired bundles until ctx ends.
func (d *Daemon) exportSweepLoop(ctx context.Context) {
	t := time.NewTicker(exportSweepEvery)
	defer t.Stop()
	for {
		d.sweepExports(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// resetServing clears the downloads under way a stopped daemon left counted.
func (d *Daemon) resetServing() error {
	rs, err := d.cat.Requests(func(r catalog.Request) bool { return r.Bundle != nil && r.Bundle.Serving > 0 })
	if err != nil {
		return err
	}
	for _, r := range rs {
		if _, err := d.cat.UpdateRequest(r.ID, func(x *catalog.Request) error {
			x.Bundle.Serving = 0
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// Handover renders the hand-over report of export id (agency's only, when not empty).
func (s service) Handover(id uint64, agency, format, lang string) ([]byte, error) {
	d := s.d
	r, err := d.cat.Request(id)
	if err != nil || agency != "" && r.Agency != agency || r.Kind != catalog.RequestExport {
		return nil, noRequest(id)
	}
	if r.Bundle == nil || len(r.Bundle.Downloads) == 0 {
		return nil, server.Conflict(fmt.Errorf("export %d has not been downloaded: there is no hand-over yet", id))
	}
	cf := d.conf()
	if lang == "" {
		lang = cf.cfg.Report.Language
	}
	name := r.Agency
	if a := agencyConfig(cf.cfg, r.Agency); a.Name != "" {
		name = a.Name
	}
	first := r.Bundle.Downloads[0]
	h := export.Handover{ExportID: r.ID, Agency: name, Target: r.Target, Snapshot: r.Snapshot, Paths: r.Paths,
		Ticket: r.Ticket, Requester: r.Requester, Recipient: strings.Join(r.Recipients, ", "),
		Bytes: r.Bundle.Bytes, SHA256: r.Bundle.SHA256, Created: r.Bundle.Ready,
		Downloaded: first.Time, DownloadedBy: first.By, Source: first.Source,
		Provider: cf.cfg.Report.Office.Name, Zone: cf.sched.Loc()}
	if snap, err := d.cat.Snapshot(r.Snapshot); err == nil {
		h.SnapshotTime = snap.Time
	}
	for _, x := range r.Decisions {
		if x.Approve {
			h.Approvers = append(h.Approvers, export.Approver{Name: x.By, Role: x.Role, Time: x.Time, Comment: x.Comment})
		}
	}
	out, err := h.Render(format, lang)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return out, nil
}
