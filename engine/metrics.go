package engine

import (
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robfig/cron/v3"

	"github.com/cadang/cadang/engine/catalog"
)

// Prometheus metrics (docs/operations.md, "Metrics"). What the catalog and the queue know
// is read at each scrape (the collector keeps no state of its own); what only happens
// (runs ending) is counted as it happens. Labels are bounded: agency, target, drc, op,
// kind, status, state; never a snapshot id or a path.

// RPO grades: the age of a target's newest good snapshot at a DRC over its RPO.
const (
	RPOOk       = "ok"       // below 1x
	RPOExceeded = "exceeded" // up to 2x
	RPOSevere   = "severe"   // up to 4x
	RPOCritical = "critical" // above, or no good snapshot at all
)

// rpoGrades in order, for the state-set metric.
var rpoGrades = []string{RPOOk, RPOExceeded, RPOSevere, RPOCritical}

// RPOGrade grades an age against an RPO (ratio = age/rpo; +Inf without a snapshot).
func RPOGrade(ratio float64) string {
	switch {
	case ratio < 1:
		return RPOOk
	case ratio <= 2:
		return RPOExceeded
	case ratio <= 4:
		return RPOSevere
	}
	return RPOCritical
}

// rpoSlack is added to a schedule's interval to make a target's default RPO: a daily
// backup that may take a while is late after 26 hours.
const rpoSlack = 2 * time.Hour

// effectiveRPO is a target's RPO: its own, else its schedule's interval plus rpoSlack,
// else 0 (a target backed up on demand only has none).
func effectiveRPO(t *target, loc *time.Location, now time.Time) time.Duration {
	if t.Cfg.RPO > 0 {
		return t.Cfg.RPO
	}
	if iv, ok := continuousRPO(t); ok { // continuous.go: the archive interval
		return iv
	}
	if t.Cfg.Schedule == "" {
		return 0
	}
	s, err := cron.ParseStandard(t.Cfg.Schedule)
	if err != nil {
		return 0
	}
	first := s.Next(now.In(loc))
	return s.Next(first).Sub(first) + rpoSlack
}

// runMetrics are counted as runs end.
type runMetrics struct {
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	added    *prometheus.CounterVec
}

func newRunMetrics() *runMetrics {
	return &runMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cadang_runs_total",
			Help: "Runs ended since the daemon started, by op and status."}, []string{"op", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cadang_run_duration_seconds",
			Help:    "How long runs took, by op.",
			Buckets: []float64{1, 5, 15, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600}}, []string{"op"}),
		added: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cadang_backup_added_bytes_total",
			Help: "Bytes backups added to the repositories since the daemon started, by agency and target."}, []string{"agency", "target"}),
	}
}

// ended counts a run that ended.
func (m *runMetrics) ended(r *catalog.Run) {
	m.runs.WithLabelValues(r.Op, string(r.Status)).Inc()
	if !r.Started.IsZero() && !r.Ended.IsZero() {
		m.duration.WithLabelValues(r.Op).Observe(r.Ended.Sub(r.Started).Seconds())
	}
	if r.Op == "backup" && r.BytesAdded > 0 {
		m.added.WithLabelValues(r.Agency, r.Target).Add(float64(r.BytesAdded))
	}
}

// metricsHandler is the daemon's /metrics: its own collector, the run counters, and
// the Go runtime's and the process's.
func (d *Daemon) metricsHandler() http.Handler {
	d.metricsOnce.Do(func() { d.metricsH = d.newMetricsHandler() })
	return d.metricsH
}

func (d *Daemon) newMetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{d}, d.metrics.runs, d.metrics.duration, d.metrics.added,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4})
}

// collector reads the daemon's state at each scrape.
type collector struct{ d *Daemon }

var (
	descExpected = prometheus.NewDesc("cadang_targets_expected", "Targets configured, by agency and kind (each is expected to have good snapshots at every DRC).",
		[]string{"agency", "kind"}, nil)
	descRPO = prometheus.NewDesc("cadang_target_rpo_seconds", "A target's recovery point objective: its rpo, else twice the archive interval of a continuous postgres target, else its schedule's interval plus 2h (0: none).",
		[]string{"agency", "target"}, nil)
	descNewestGood = prometheus.NewDesc("cadang_target_last_good_snapshot_timestamp_seconds", "Time of a target's newest good snapshot restorable at a DRC (absent: none there).",
		[]string{"agency", "target", "drc"}, nil)
	descRatio = prometheus.NewDesc("cadang_target_rpo_ratio", "Age of a target's newest good snapshot at a DRC over its RPO (+Inf: none there).",
		[]string{"agency", "target", "drc"}, nil)
	descGrade = prometheus.NewDesc("cadang_target_rpo_state", "A target's RPO grade at a DRC (1 for the current one): ok below 1x, exceeded to 2x, severe to 4x, critical above or without a snapshot.",
		[]string{"agency", "target", "drc", "state"}, nil)
	descLastBackup = prometheus.NewDesc("cadang_target_last_backup_success", "Whether a target's last ended backup succeeded (1), or not (0).",
		[]string{"agency", "target"}, nil)
	descLastBackupTime = prometheus.NewDesc("cadang_target_last_backup_timestamp_seconds", "When a target's last backup run was recorded.",
		[]string{"agency", "target"}, nil)
	descQueue = prometheus.NewDesc("cadang_queue_runs", "Runs in the queue, by state (queued, running).",
		[]string{"state"}, nil)
	descOldestWait = prometheus.NewDesc("cadang_queue_oldest_wait_seconds", "How long the oldest queued run has waited.", nil, nil)
	descLag        = prometheus.NewDesc("cadang_replication_lag_seconds", "Age of the oldest snapshot at the primary not yet at a secondary.",
		[]string{"drc"}, nil)
	descPendingSnaps = prometheus.NewDesc("cadang_replication_pending_snapshots", "Snapshots at the primary not yet at a secondary.",
		[]string{"drc"}, nil)
	descPendingBytes = prometheus.NewDesc("cadang_replication_pending_bytes", "Bytes still to copy to a secondary.",
		[]string{"drc"}, nil)
	descAlarms = prometheus.NewDesc("cadang_alarms_active", "Active alarms, by kind and DRC.",
		[]string{"kind", "drc"}, nil)
	descStateBundle = prometheus.NewDesc("cadang_state_bundle_timestamp_seconds", "When the last state bundle was written to a DRC (state_protection).",
		[]string{"drc"}, nil)
	descSiteRole = prometheus.NewDesc("cadang_site_role", "This cadang's role among the sites sharing the DRCs (1 for the current one): primary, standby, read-only.",
		[]string{"site", "role"}, nil)
	descAgentUp = prometheus.NewDesc("cadang_agent_up", "Whether an enrolled agent sent a heartbeat within cluster.heartbeat_timeout (1) or not (0).",
		[]string{"agent", "pool"}, nil)
	descAgentSeen = prometheus.NewDesc("cadang_agent_last_heartbeat_timestamp_seconds", "When an agent's last heartbeat arrived (absent: never).",
		[]string{"agent"}, nil)
	descAgentRunning = prometheus.NewDesc("cadang_agent_running_jobs", "Jobs an agent said it runs, in its last heartbeat.",
		[]string{"agent"}, nil)
	descStandbyState = prometheus.NewDesc("cadang_standby_state_timestamp_seconds", "A standby's state: when the state bundle it applied last was made (its lag is time() minus this).",
		[]string{"site", "of"}, nil)
)

// Describe sends nothing: the collector is unchecked (its series depend on the
// configuration, which a reload changes).
func (collector) Describe(chan<- *prometheus.Desc) {}

// Collect reads the daemon's state.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	cf := d.conf()
	now := d.now()
	loc := cf.sched.Loc()
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	expected := map[[2]string]int{}
	for _, t := range cf.targets {
		expected[[2]string{t.Cfg.Agency, t.Cfg.Kind}]++
		rpo := effectiveRPO(t, loc, now)
		gauge(descRPO, rpo.Seconds(), t.Cfg.Agency, t.Cfg.Name)
		snaps, err := d.cat.Snapshots(t.Cfg.Name)
		if err != nil {
			continue
		}
		for _, site := range d.sites {
			newest := newestGood(snaps, site.Name)
			ratio := math.Inf(1)
			if !newest.IsZero() {
				gauge(descNewestGood, float64(newest.Unix()), t.Cfg.Agency, t.Cfg.Name, site.Name)
				if rpo > 0 {
					ratio = now.Sub(d.rpoNewest(t.Cfg.Name, snaps, site.Name)).Seconds() / rpo.Seconds()
				}
			}
			if rpo > 0 || newest.IsZero() {
				gauge(descRatio, ratio, t.Cfg.Agency, t.Cfg.Name, site.Name)
				grade := RPOGrade(ratio)
				for _, g := range rpoGrades {
					v := 0.0
					if g == grade {
						v = 1
					}
					gauge(descGrade, v, t.Cfg.Agency, t.Cfg.Name, site.Name, g)
				}
			}
		}
		if last, err := d.cat.Runs(catalog.RunFilter{Target: t.Cfg.Name, Op: "backup", Limit: 1}); err == nil && len(last) == 1 {
			r := last[0]
			gauge(descLastBackupTime, float64(r.Queued.Unix()), t.Cfg.Agency, t.Cfg.Name)
			if r.Status.Done() {
				ok := 0.0
				if r.Status == catalog.Succeeded {
					ok = 1
				}
				gauge(descLastBackup, ok, t.Cfg.Agency, t.Cfg.Name)
			}
		}
	}
	for k, n := range expected {
		gauge(descExpected, float64(n), k[0], k[1])
	}
	queued, running := d.queue.Counts()
	oldest := 0.0
	for _, j := range d.queue.Pending(queued) {
		oldest = max(oldest, now.Sub(j.Run.Queued).Seconds())
	}
	gauge(descQueue, float64(queued), "queued")
	gauge(descQueue, float64(running), "running")
	gauge(descOldestWait, oldest)
	lags, _ := service{d}.replicationLags()
	for _, l := range lags {
		gauge(descLag, l.LagSeconds, l.DRC)
		gauge(descPendingSnaps, float64(l.SnapshotsPending), l.DRC)
		gauge(descPendingBytes, float64(l.BytesPending), l.DRC)
	}
	if alarms, err := d.cat.Alarms(false); err == nil {
		count := map[[2]string]int{}
		for _, a := range alarms {
			count[[2]string{a.Kind, a.DRC}]++
		}
		for k, n := range count {
			gauge(descAlarms, float64(n), k[0], k[1])
		}
	}
	d.stateMu.Lock()
	for name, w := range d.stateLast {
		if w.Err == "" && !w.Time.IsZero() {
			gauge(descStateBundle, float64(w.Time.Unix()), name)
		}
	}
	d.stateMu.Unlock()
	site := d.siteStatus()
	for _, role := range []string{rolePrimary, roleStandby, roleReadOnly} {
		v := 0.0
		if site.Role == role {
			v = 1
		}
		gauge(descSiteRole, v, site.Name, role)
	}
	if sb := site.Standby; sb != nil && !sb.StateAsOf.IsZero() {
		gauge(descStandbyState, float64(sb.StateAsOf.Unix()), site.Name, sb.Of)
	}
	for _, a := range d.agentStatuses() {
		up := 0.0
		if a.Up {
			up = 1
		}
		gauge(descAgentUp, up, a.Name, a.Pool)
		if !a.LastSeen.IsZero() {
			gauge(descAgentSeen, float64(a.LastSeen.Unix()), a.Name)
			gauge(descAgentRunning, float64(len(a.Running)), a.Name)
		}
	}
}

// Metrics is GET /metrics.
func (s service) Metrics() http.Handler { return s.d.metricsHandler() }

// newestGood is the time of the newest good snapshot among snaps that is restorable
// whole at drc (zero: none): what a target's RPO there is measured by (metrics,
// notifications).
func newestGood(snaps []catalog.Snapshot, drc string) time.Time {
	var newest time.Time
	for _, s := range snaps {
		if _, there := s.Sites[drc]; there && s.Status == catalog.SnapshotGood && s.Damaged[drc] == "" && s.Time.After(newest) {
			newest = s.Time
		}
	}
	return newest
}
