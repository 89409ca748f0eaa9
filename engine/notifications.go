package engine

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/engine/catalog"
	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/notify"
	"github.com/cadang/cadang/engine/server"
)

// Notifications (docs/operations.md, "Notifications"): the daemon raises and clears
// conditions on its notifier (engine/notify), which routes them to the channels of
// `notify:`. Runs ending raise or clear theirs at once; what is only seen by looking
// (RPO, replication lag, alarms) is looked at every notifyEvery.

const notifyEvery = time.Minute

// raisedStore keeps the notifier's conditions in the catalog (notify.Store).
type raisedStore struct{ cat *catalog.Catalog }

func (s raisedStore) PutRaised(e notify.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.cat.PutRaised(e.Subject, b)
}

func (s raisedStore) DeleteRaised(subject string) error { return s.cat.DeleteRaised(subject) }

// keepRaised gives the notifier the conditions the catalog holds as on (told by this
// daemon before it stopped, or by the primary this one takes over from), so that they
// are not told again and their end is, and makes it record every change there. A
// condition of a target no longer configured is dropped: nothing would tell its end.
func (d *Daemon) keepRaised() {
	st := raisedStore{d.cat}
	all, err := d.cat.Raised()
	if err != nil {
		d.log.Error("notify: the conditions on before the restart are not known: they will be told again", "err", err)
	}
	cf := d.conf()
	var on []notify.Event
	for subject, b := range all {
		var e notify.Event
		if err := json.Unmarshal(b, &e); err != nil || e.Subject != subject || (e.Target != "" && cf.targets[e.Target] == nil) {
			if err := st.DeleteRaised(subject); err != nil {
				d.log.Warn("notify: a stale condition not removed", "subject", subject, "err", err)
			}
			continue
		}
		on = append(on, e)
	}
	d.notifier.SetStore(st, on)
}

// notifyRoutes builds the notifier's routes from the configuration; a channel whose
// secret cannot be read is left out (and logged).
func (d *Daemon) notifyRoutes(cfg *config.Config) []notify.Route {
	var out []notify.Route
	for _, ch := range cfg.Notify {
		c, err := buildChannel(ch)
		if err != nil {
			d.log.Error("notification channel not usable", "channel", ch.Name, "err", err)
			continue
		}
		out = append(out, notify.Route{Channel: c, Kinds: ch.Events, Agencies: ch.Agencies})
	}
	return out
}

// langs maps a channel name to its language, for the messages.
func channelLang(cfg *config.Config, name string) string {
	for _, ch := range cfg.Notify {
		if ch.Name == name && ch.Lang != "" {
			return ch.Lang
		}
	}
	return "id"
}

func buildChannel(ch config.Channel) (notify.Channel, error) {
	switch ch.Kind {
	case "webhook":
		secret, err := notify.ReadSecret(ch.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("secret_file: %w", err)
		}
		return &notify.Webhook{ChannelName: ch.Name, URL: ch.URL, Secret: secret}, nil
	case "email":
		m := &notify.Email{ChannelName: ch.Name, Addr: notify.Port(ch.SMTP.Host, ch.SMTP.Port), From: ch.From, To: ch.To,
			Username: ch.SMTP.Username, StartTLS: ch.SMTP.UsesStartTLS()}
		if ch.SMTP.PasswordFile != "" {
			pw, err := notify.ReadSecret(ch.SMTP.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("smtp.password_file: %w", err)
			}
			m.Password = pw
		}
		if ch.SMTP.CAFile != "" {
			pem, err := os.ReadFile(ch.SMTP.CAFile)
			if err != nil {
				return nil, fmt.Errorf("smtp.ca_file: %w", err)
			}
			m.RootCAs = x509.NewCertPool()
			if !m.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("smtp.ca_file %s: no PEM certificate", ch.SMTP.CAFile)
			}
		}
		return m, nil
	}
	return nil, fmt.Errorf("unknown kind %q", ch.Kind)
}

// The texts, in Bahasa Indonesia (the default) and English. One event is sent in
// one language to all channels: the daemon's report.language.
type words struct{ id, en string }

func (w words) in(lang string) string {
	if lang == "en" {
		return w.en
	}
	return w.id
}

// runEnded raises or clears the condition of a backup or drill that ended.
func (d *Daemon) runEnded(r *catalog.Run) {
	lang := d.conf().cfg.Report.Language
	var kind string
	switch r.Op {
	case "backup":
		kind = notify.BackupFailed
	case "drill":
		kind = notify.DrillFailed
	default:
		return
	}
	e := notify.Event{Kind: kind, Subject: kind + "/" + r.Target + "/" + r.DRC, Agency: r.Agency, Target: r.Target, DRC: r.DRC, Run: r.ID, Time: d.now()}
	what := words{"Pencadangan", "Backup"}
	if r.Op == "drill" {
		what = words{"Uji pemulihan", "Restore drill"}
	}
	switch r.Status {
	case catalog.Succeeded:
		e.Title = fmt.Sprintf(words{"%s %s kembali berhasil", "%s of %s succeeds again"}.in(lang), what.in(lang), r.Target)
		e.Text = fmt.Sprintf(words{"%s target %s (instansi %s) di DRC %s berhasil pada run %d.", "%s of target %s (agency %s) at DRC %s succeeded in run %d."}.in(lang),
			what.in(lang), r.Target, r.Agency, r.DRC, r.ID)
		d.notifier.Clear(e)
	case catalog.Failed, catalog.Partial:
		e.Title = fmt.Sprintf(words{"%s %s gagal", "%s of %s failed"}.in(lang), what.in(lang), r.Target)
		e.Text = fmt.Sprintf(words{"%s target %s (instansi %s) di DRC %s tidak berhasil (run %d, status %s): %s", "%s of target %s (agency %s) at DRC %s did not succeed (run %d, status %s): %s"}.in(lang),
			what.in(lang), r.Target, r.Agency, r.DRC, r.ID, r.Status, r.Error)
		d.notifier.Raise(e)
	}
}

// requestMade tells the approvers a request waits for them.
func (d *Daemon) requestMade(r catalog.Request) {
	lang := d.conf().cfg.Report.Language
	kind := words{"pemulihan", "restore"}
	if r.Kind == catalog.RequestExport {
		kind = words{"ekspor", "export"}
	}
	d.notifier.Once(notify.Event{Kind: notify.RequestPending, Subject: fmt.Sprintf("request/%d", r.ID), Agency: r.Agency, Target: r.Target,
		Time:  d.now(),
		Title: fmt.Sprintf(words{"Permohonan %s #%d menunggu persetujuan", "%s request #%d waits for approval"}.in(lang), kind.in(lang), r.ID),
		Text: fmt.Sprintf(words{"Permohonan %s #%d untuk target %s (instansi %s) dari %s menunggu persetujuan %s. Tiket: %s.",
			"%s request #%d of target %s (agency %s) by %s waits for the approval of %s. Ticket: %s."}.in(lang),
			kind.in(lang), r.ID, r.Target, r.Agency, r.Requester, strings.Join(r.Approvers, " + "), orNone(r.Ticket))})
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// watchConditions looks at what is only seen by looking, every notifyEvery, until ctx
// ends: RPO per target and DRC, replication lag, alarms.
func (d *Daemon) watchConditions(ctx context.Context) {
	t := time.NewTicker(notifyEvery)
	defer t.Stop()
	for {
		d.lookAtConditions()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Daemon) lookAtConditions() {
	cf := d.conf()
	if len(cf.cfg.Notify) == 0 {
		return // nobody to tell: no need to look
	}
	lang := cf.cfg.Report.Language
	now := d.now()
	for _, t := range cf.targets {
		rpo := effectiveRPO(t, cf.sched.Loc(), now)
		if rpo <= 0 {
			continue
		}
		snaps, err := d.cat.Snapshots(t.Cfg.Name)
		if err != nil {
			continue
		}
		for _, site := range d.sites {
			newest := d.rpoNewest(t.Cfg.Name, snaps, site.Name)
			e := notify.Event{Kind: notify.RPOExceeded, Subject: "rpo/" + t.Cfg.Name + "/" + site.Name, Agency: t.Cfg.Agency, Target: t.Cfg.Name, DRC: site.Name, Time: now}
			if !newest.IsZero() && now.Sub(newest) <= rpo {
				e.Title = fmt.Sprintf(words{"RPO %s di DRC %s terpenuhi kembali", "RPO of %s at DRC %s met again"}.in(lang), t.Cfg.Name, site.Name)
				e.Text = fmt.Sprintf(words{"Salinan baik terbaru target %s di DRC %s berumur %s (RPO %s).", "The newest good copy of %s at DRC %s is %s old (RPO %s)."}.in(lang),
					t.Cfg.Name, site.Name, now.Sub(newest).Round(time.Minute), rpo)
				d.notifier.Clear(e)
				continue
			}
			age := words{"tidak ada salinan baik", "no good copy"}.in(lang)
			if !newest.IsZero() {
				age = now.Sub(newest).Round(time.Minute).String()
			}
			e.Title = fmt.Sprintf(words{"RPO %s di DRC %s terlampaui", "RPO of %s at DRC %s exceeded"}.in(lang), t.Cfg.Name, site.Name)
			e.Text = fmt.Sprintf(words{"Target %s (instansi %s) di DRC %s: %s, melewati RPO %s.", "Target %s (agency %s) at DRC %s: %s, past its RPO of %s."}.in(lang),
				t.Cfg.Name, t.Cfg.Agency, site.Name, age, rpo)
			d.notifier.Raise(e)
		}
	}
	if lags, err := (service{d}).replicationLags(); err == nil {
		for _, l := range lags {
			e := notify.Event{Kind: notify.ReplicationLag, Subject: "lag/" + l.DRC, DRC: l.DRC, Time: now}
			if l.LagExceeded {
				e.Title = fmt.Sprintf(words{"DRC %s tertinggal %s", "DRC %s is %s behind"}.in(lang), l.DRC, l.Lag)
				e.Text = fmt.Sprintf(words{"Replikasi ke DRC %s tertinggal %s (batas %s): %d snapshot menunggu.", "Replication to DRC %s is %s behind (limit %s): %d snapshots wait."}.in(lang),
					l.DRC, l.Lag, l.MaxLag, l.SnapshotsPending)
				d.notifier.Raise(e)
			} else {
				e.Title = fmt.Sprintf(words{"DRC %s tidak lagi tertinggal", "DRC %s caught up"}.in(lang), l.DRC)
				e.Text = e.Title
				d.notifier.Clear(e)
			}
		}
	}
	d.announceMaintenance(now)
	d.lookAtAgents(lang, now)
	for _, site := range d.sites {
		h, probed := d.repl.HealthOf(site.Name)
		if !probed {
			continue
		}
		e := notify.Event{Kind: notify.DRCUnreachable, Subject: "drc/" + site.Name, DRC: site.Name, Time: now}
		if h.Reachable {
			e.Title = fmt.Sprintf(words{"DRC %s dapat dihubungi kembali", "DRC %s is reachable again"}.in(lang), site.Name)
			e.Text = e.Title
			d.notifier.Clear(e)
			continue
		}
		e.Title = fmt.Sprintf(words{"DRC %s tidak dapat dihubungi", "DRC %s is unreachable"}.in(lang), site.Name)
		e.Text = h.Error
		d.notifier.Raise(e)
	}
	alarms, err := d.cat.Alarms(true)
	if err != nil {
		return
	}
	for _, a := range alarms {
		e := notify.Event{Kind: notify.Alarm, Subject: fmt.Sprintf("alarm/%d", a.ID), Agency: a.Agency, DRC: a.DRC, Time: now}
		if a.Resolved.IsZero() {
			e.Title = fmt.Sprintf(words{"Alarm %s di DRC %s", "Alarm %s at DRC %s"}.in(lang), a.Kind, a.DRC)
			e.Text = a.Message
			d.notifier.Raise(e)
		} else if d.notifier.On(e.Subject) {
			e.Title = fmt.Sprintf(words{"Alarm %s di DRC %s selesai", "Alarm %s at DRC %s resolved"}.in(lang), a.Kind, a.DRC)
			e.Text = a.Message
			d.notifier.Clear(e)
		}
	}
}

// NotifyTest sends a test message to a channel now, and says whether it arrived.
func (s service) NotifyTest(ctx context.Context, req api.NotifyTestRequest) error {
	d := s.d
	cf := d.conf()
	for _, ch := range cf.cfg.Notify {
		if ch.Name != req.Channel {
			continue
		}
		c, err := buildChannel(ch)
		if err != nil {
			return fmt.Errorf("%w: channel %q: %v", errBadRequest, ch.Name, err)
		}
		lang := channelLang(cf.cfg, ch.Name)
		e := notify.Event{Kind: notify.Test, Subject: "test", Time: d.now(),
			Title: words{"Pesan uji dari cadang", "A test message from cadang"}.in(lang),
			Text:  fmt.Sprintf(words{"Kanal %s menerima pemberitahuan cadang.", "Channel %s receives cadang's notifications."}.in(lang), ch.Name)}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := c.Send(sctx, e); err != nil {
			return server.Unavailable(err)
		}
		return nil
	}
	names := []string{}
	for _, ch := range cf.cfg.Notify {
		names = append(names, ch.Name)
	}
	if len(names) == 0 {
		names = []string{"none"}
	}
	return server.NotFound(fmt.Errorf("unknown channel %q (configured: %s)", req.Channel, strings.Join(names, ", ")))
}

// maintenanceNotice is how long before a maintenance window its agencies are told
// (policy 4.2: at least 24 hours before).
const maintenanceNotice = 24 * time.Hour

// announceMaintenance tells each agency, once, of a maintenance window that starts
// within maintenanceNotice and holds some of its scheduled runs, and which.
func (d *Daemon) announceMaintenance(now time.Time) {
	cf := d.conf()
	lang := cf.cfg.Report.Language
	loc := cf.sched.Loc()
	for _, w := range cf.cfg.Scheduler.Windows(now, now.Add(maintenanceNotice)) {
		if !w.Start.After(now) {
			continue // already open: too late to announce
		}
		held := map[string][]string{} // agency -> targets whose scheduled runs it holds
		for _, t := range cf.targets {
			if t.Cfg.Schedule == "" {
				continue
			}
			s, err := cron.ParseStandard(t.Cfg.Schedule)
			if err != nil {
				continue
			}
			if next := s.Next(w.Start.In(loc).Add(-time.Second)); next.Before(w.End) {
				held[t.Cfg.Agency] = append(held[t.Cfg.Agency], t.Cfg.Name)
			}
		}
		for agency, targets := range held {
			slices.Sort(targets)
			d.notifier.Raise(notify.Event{Kind: notify.Maintenance, Subject: fmt.Sprintf("maintenance/%s/%d/%s", w.Name, w.Start.Unix(), agency),
				Agency: agency, Time: now,
				Title: fmt.Sprintf(words{"Pemeliharaan %s: %s s.d. %s", "Maintenance %s: %s to %s"}.in(lang), w.Name,
					w.Start.In(loc).Format("2006-01-02 15:04"), w.End.In(loc).Format("2006-01-02 15:04 MST")),
				Text: fmt.Sprintf(words{"Selama pemeliharaan %s (%s s.d. %s), pencadangan terjadwal instansi %s untuk target %s ditunda hingga jendela pemeliharaan berakhir.",
					"During maintenance %s (%s to %s), the scheduled backups of agency %s for %s wait until the window ends."}.in(lang),
					w.Name, w.Start.In(loc).Format("2006-01-02 15:04"), w.End.In(loc).Format("2006-01-02 15:04 MST"), agency, strings.Join(targets, ", "))})
		}
	}
}

// shortNotice warns of the maintenance windows the new configuration adds that start
// within maintenanceNotice (their agencies cannot be told 24 hours ahead), naming the
// agencies whose scheduled runs they hold.
func (d *Daemon) shortNotice(old, cfg *config.Config) []string {
	now := d.now()
	known := map[string]bool{}
	for _, w := range old.Scheduler.Windows(now, now.Add(maintenanceNotice)) {
		known[fmt.Sprintf("%d/%d", w.Start.Unix(), w.End.Unix())] = true
	}
	var out []string
	for _, w := range cfg.Scheduler.Windows(now, now.Add(maintenanceNotice)) {
		if known[fmt.Sprintf("%d/%d", w.Start.Unix(), w.End.Unix())] || !w.Start.After(now) {
			continue
		}
		agencies := map[string]bool{}
		for _, t := range cfg.Targets {
			if s, err := cron.ParseStandard(t.Schedule); err == nil && s.Next(w.Start.In(cfg.Scheduler.Location).Add(-time.Second)).Before(w.End) {
				agencies[t.Agency] = true
			}
		}
		if len(agencies) == 0 {
			continue
		}
		msg := fmt.Sprintf("maintenance window %s starts %s, less than 24 hours from now: agencies %s are told late (policy 4.2 asks for 24 hours)",
			w.Name, w.Start.In(cfg.Scheduler.Location).Format("2006-01-02 15:04 MST"), strings.Join(slices.Sorted(maps.Keys(agencies)), ", "))
		d.log.Warn(msg)
		out = append(out, msg)
	}
	return out
}
