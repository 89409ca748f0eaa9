package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/runbooks"
	"github.com/cadang/cadang/targets"
)

// Config is cadang.yaml.
type Config struct {
	StateDir string       `yaml:"state_dir"` // catalog, keys, socket, scratch; relative to the file
	Restic   Restic       `yaml:"restic"`
	Daemon   Daemon       `yaml:"daemon"`
	DRCs     []drc.Config `yaml:"drcs"`
	Agencies []Agency     `yaml:"agencies"`
	Targets  []Target     `yaml:"targets"`

	// Scheduler says how schedules are read and when scheduled work waits.
	Scheduler Scheduler `yaml:"scheduler"`

	// Drill holds the drill settings of every target (drill.go); Report, how drill
	// reports are written.
	Drill  Drill  `yaml:"drill"`
	Report Report `yaml:"report"`

	// API is the network listener for token holders (api.go); the unix socket is
	// always there.
	API API `yaml:"api"`
	// Notify are the notification channels (notify.go).
	Notify []Channel `yaml:"notify"`
	// Metrics is a loopback listener for Prometheus (api.go).
	Metrics Metrics `yaml:"metrics"`
	// StateProtection writes cadang's own state into every DRC (state.go).
	StateProtection StateProtection `yaml:"state_protection"`
	// Runbooks are failover plans (runbooks.Runbook); RunbooksDir is a folder of
	// files of one runbook each, of the same shape (relative to this file).
	Runbooks    []runbooks.Runbook `yaml:"runbooks"`
	RunbooksDir string             `yaml:"runbooks_dir"`
	// Cluster dispatches runs to agents over NATS JetStream (cluster.go).
	Cluster Cluster `yaml:"cluster"`

	File string `yaml:"-"` // the file the config was loaded from
	// Digest is the SHA-256 of the file's bytes as loaded (hex): a client compares it
	// with the file now to tell that the daemon runs an older version of it.
	Digest string `yaml:"-"`

	pos map[string]yaml.Node // where each path was in the file (Locate)
}

// Locate makes a problem found after loading (by a check that contacts a DRC, say) a
// located one, like Load's: file:line:col: subject: message. path is a config path
// such as drcs[1].immutability.
func (c *Config) Locate(path, msg string) Problem {
	n := nearest(c.pos, path)
	return Problem{File: c.File, Line: n.Line, Column: n.Column, Path: path, Subject: subject(path, c.names()), Message: msg}
}

// Restic says which restic binary to run.
type Restic struct {
	// Binary is a path or a name looked up in PATH. Empty: restic beside the cadang
	// binary, then restic in PATH.
	Binary string `yaml:"binary"`
	// StallTimeout is how long restic may retry a failing backend operation (an object
	// the store cannot read, bitrot) without making progress before cadang cancels it
	// and names the object; restic alone would retry for about 15 minutes. Default 2m;
	// at least 10s; it cannot be turned off.
	StallTimeout time.Duration `yaml:"stall_timeout"`
}

// Daemon holds settings of `cadang daemon`.
type Daemon struct {
	Socket string `yaml:"socket"` // default <state_dir>/cadang.sock
	// Concurrency is how many runs may execute at once (default 2).
	Concurrency int `yaml:"concurrency"`
	// ShutdownGrace is how long SIGTERM waits for running restic processes to end
	// before cancelling them (default 1m).
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// Site names this cadang among the cadangs that share the DRCs (default: the
	// host's name): the takeover lease (standby.go) names the site that is primary.
	Site string `yaml:"site"`
	// Standby makes this cadang a warm standby of the site whose state bundles it
	// applies (standby.go): it schedules nothing until `cadang takeover`.
	Standby *Standby `yaml:"standby"`
}

// Standby is `daemon.standby:`: where a standby cadang reads the main site's state
// bundles, with which escrow identity, and how often.
type Standby struct {
	// SourceDRC is the DRC (at the standby's own site, usually the off-site one) whose
	// state bundles it applies.
	SourceDRC string `yaml:"source_drc"`
	// IdentityFile is an escrow identity (AGE-SECRET-KEY-1...) that opens the bundles.
	IdentityFile string `yaml:"identity_file"`
	// Interval is how often it looks for a newer bundle (default 1m).
	Interval time.Duration `yaml:"interval"`
}

// DefaultStandbyInterval is how often a standby looks for a newer state bundle.
const DefaultStandbyInterval = time.Minute

// Agency is a tenant of the data center (a PD/OPD). Its id names its repositories.
type Agency struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Head is the agency's head (Kepala Dinas, ...): as the owner of the data, they
	// sign the "Mengetahui" (acknowledged) block of its drill reports.
	Head runbooks.Person `yaml:"head"`
	// Approval is who must approve the agency's restore and export requests, made
	// through the network API: "agency-admin" (one of the agency's admins), "operator"
	// (one of the data center's operators), or both (the default). The requester never
	// approves its own request, whatever its role.
	Approval []string `yaml:"approval"`
}

// DefaultApproval is the approval an agency's requests need when it names none: its
// admin's and an operator's.
var DefaultApproval = []string{"agency-admin", "operator"}

// Approvers returns who must approve the agency's requests (DefaultApproval when the
// agency names none).
func (a Agency) Approvers() []string {
	if len(a.Approval) == 0 {
		return DefaultApproval
	}
	return a.Approval
}

// Target is one entry of `targets:`; the section named after its kind (files:,
// postgres:, ...) is decoded into Spec by the kind's own config type.
type Target struct {
	Name      string        `yaml:"name"`
	Agency    string        `yaml:"agency"`
	Kind      string        `yaml:"kind"`
	Schedule  string        `yaml:"schedule"` // cron, 5 fields
	Retention *Retention    `yaml:"retention"`
	Hooks     targets.Hooks `yaml:"hooks"`

	// Jitter delays each scheduled run by a fixed amount between 0 and Jitter derived
	// from the target's name, so that many targets on one schedule do not all start in
	// the same second, yet each starts at the same time every day (default
	// scheduler.jitter).
	Jitter *time.Duration `yaml:"jitter"`
	// Catchup: after downtime, a target whose scheduled run was missed runs once
	// (reason catch-up). false turns that off (default true).
	Catchup *bool `yaml:"catchup"`

	// RPO and RTO are the target's recovery objectives: the most data (as time) its
	// loss may cost, and how long its restore may take. Drills report against them.
	RPO time.Duration `yaml:"rpo"`
	RTO time.Duration `yaml:"rto"`
	// Drill overrides the top-level drill settings for this target.
	Drill *Drill `yaml:"drill"`
	// API is what the agency may ask of this target through the network API.
	API TargetAPI `yaml:"api"`
	// Agent runs the target's backups on the named agent; AgentPool on any free agent
	// of the pool (cluster.go). Neither: in-process.
	Agent     string `yaml:"agent"`
	AgentPool string `yaml:"agent_pool"`

	Spec     any                   `yaml:"-"`
	Sections map[string]*yaml.Node `yaml:",rest"`
}

// Retention is a restic forget policy. Only snapshots of good runs count.
type Retention struct {
	KeepLast    int           `yaml:"keep_last"`
	KeepHourly  int           `yaml:"keep_hourly"`
	KeepDaily   int           `yaml:"keep_daily"`
	KeepWeekly  int           `yaml:"keep_weekly"`
	KeepMonthly int           `yaml:"keep_monthly"`
	KeepYearly  int           `yaml:"keep_yearly"`
	KeepWithin  time.Duration `yaml:"keep_within"`
}

// Defaults.
const (
	DefaultConcurrency   = 2
	DefaultShutdownGrace = time.Minute
	DefaultStallTimeout  = drc.DefaultStallTimeout
	MinStallTimeout      = 10 * time.Second
)

// Load reads, decodes and validates a configuration file. On problems it returns an
// *Error that lists all of them, each as file:line:col: message.
func Load(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(file, data)
}

// Parse decodes and validates data read from file.
func Parse(file string, data []byte) (*Config, error) {
	sum := sha256.Sum256(data)
	cfg := &Config{File: file, Digest: hex.EncodeToString(sum[:])}
	ps := &Problems{file: file}
	d := &decoder{problems: ps, pos: map[string]yaml.Node{}, unknown: map[string]bool{}}

	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		line := 0
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		msg := strings.TrimPrefix(yamlLine.ReplaceAllString(err.Error(), "yaml: "), "yaml: ")
		if errors.Is(err, io.EOF) {
			msg = "the file is empty"
		}
		ps.add(line, 1, "", msg)
		return nil, ps.err(nil)
	}
	if len(root.Content) == 0 {
		ps.add(0, 0, "", "the file is empty")
		return nil, ps.err(nil)
	}
	d.decode(root.Content[0], "", reflect.ValueOf(cfg).Elem())
	for i := range cfg.Targets {
		d.decodeKindSection(&cfg.Targets[i], fmt.Sprintf("targets[%d]", i))
	}
	cfg.pos = d.pos
	cfg.resolvePaths()
	cfg.applyDefaults()
	for i := range cfg.Runbooks {
		rb := &cfg.Runbooks[i]
		rb.File, rb.Digest = file, cfg.Digest
		rb.Line = d.pos[fmt.Sprintf("runbooks[%d]", i)].Line
	}
	inline := len(cfg.Runbooks)
	var dirProblems []Problem
	if cfg.RunbooksDir != "" {
		dirProblems = cfg.loadRunbooksDir(cfg.RunbooksDir)
	}
	decodeProblems := map[string]bool{}
	for _, p := range ps.list {
		decodeProblems[p.Path] = true
	}
	cfg.validate(func(path, msg string) {
		// A value that could not be decoded was reported already: checking what is
		// left of it would only add noise. So would a check of a whole section one of
		// whose keys was misspelt (`keep_dialy` would add "keeps nothing").
		if d.unknown[path] {
			return
		}
		for p := path; ; p = parent(p) {
			if decodeProblems[p] {
				return
			}
			if p == "" {
				break
			}
		}
		n := nearest(d.pos, path)
		ps.add(n.Line, n.Column, path, msg)
	}, inline)
	err := ps.err(cfg.names())
	if len(dirProblems) > 0 {
		var list []Problem
		if e, ok := err.(*Error); ok {
			list = e.Problems
		}
		return nil, &Error{Problems: append(list, dirProblems...)}
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

var yamlLine = regexp.MustCompile(`yaml: line (\d+): `)

// nearest returns the node of path, or of its closest ancestor that was decoded.
func nearest(pos map[string]yaml.Node, path string) yaml.Node {
	for ; path != ""; path = parent(path) {
		if n, ok := pos[path]; ok {
			return n
		}
	}
	return pos[""]
}

// parent returns the path one level up: targets[2].files for targets[2].files.paths,
// targets for targets[2], and "" at the top.
func parent(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

// decodeKindSection decodes the section named after the target's kind into t.Spec;
// any other extra key is unknown.
func (d *decoder) decodeKindSection(t *Target, path string) {
	kind, known := targets.Lookup(t.Kind)
	for key := range t.Sections {
		if known && key == t.Kind {
			continue
		}
		k := d.pos[join(path, key)]
		msg := "unknown key"
		if _, isKind := targets.Lookup(key); isKind {
			msg = fmt.Sprintf("section %q does not match kind %q", key, t.Kind)
		} else {
			fields, _ := structFields(reflect.TypeOf(Target{}))
			names := []string{}
			for n := range fields {
				names = append(names, n)
			}
			names = append(names, targets.Kinds()...)
			msg += Suggest(key, names)
		}
		d.problems.add(k.Line, k.Column, join(path, key), msg)
	}
	if !known {
		return
	}
	t.Spec = kind.NewConfig()
	if n, ok := t.Sections[t.Kind]; ok {
		d.decode(n, join(path, t.Kind), reflect.ValueOf(t.Spec).Elem())
	}
}

// resolvePaths makes relative paths relative to the config file's folder.
func (c *Config) resolvePaths() {
	base := filepath.Dir(c.File)
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	c.StateDir = abs(c.StateDir)
	c.Report.Dir = abs(c.Report.Dir)
	c.RunbooksDir = abs(c.RunbooksDir)
	c.Daemon.Socket = abs(c.Daemon.Socket)
	c.Cluster.CredsFile, c.Cluster.TLS.CertFile, c.Cluster.TLS.KeyFile = abs(c.Cluster.CredsFile), abs(c.Cluster.TLS.CertFile), abs(c.Cluster.TLS.KeyFile)
	c.Cluster.CAFile = abs(c.Cluster.CAFile)
	if sb := c.Daemon.Standby; sb != nil {
		sb.IdentityFile = abs(sb.IdentityFile)
	}
	c.API.TLS.CertFile, c.API.TLS.KeyFile, c.API.ClientCAFile = abs(c.API.TLS.CertFile), abs(c.API.TLS.KeyFile), abs(c.API.ClientCAFile)
	for i := range c.DRCs {
		c.DRCs[i].Path = abs(c.DRCs[i].Path)
		if s3 := c.DRCs[i].S3; s3 != nil {
			s3.AccessKeyFile, s3.SecretKeyFile = abs(s3.AccessKeyFile), abs(s3.SecretKeyFile)
		}
	}
	if strings.Contains(c.Restic.Binary, "/") {
		c.Restic.Binary = abs(c.Restic.Binary)
	}
}

func (c *Config) applyDefaults() {
	if c.Daemon.Concurrency == 0 {
		c.Daemon.Concurrency = DefaultConcurrency
	}
	if c.Daemon.ShutdownGrace == 0 {
		c.Daemon.ShutdownGrace = DefaultShutdownGrace
	}
	if c.Restic.StallTimeout == 0 {
		c.Restic.StallTimeout = DefaultStallTimeout
	}
	if c.Daemon.Socket == "" && c.StateDir != "" {
		c.Daemon.Socket = filepath.Join(c.StateDir, "cadang.sock")
	}
	c.StateProtection.applyDefaults()
	for i := range c.Targets {
		// A kind may give its targets a schedule of their own (a continuous postgres
		// target: its base backups, weekly).
		if t := &c.Targets[i]; t.Schedule == "" {
			if d, ok := t.Spec.(interface{ DefaultSchedule() string }); ok {
				t.Schedule = d.DefaultSchedule()
			}
		}
	}
	c.Cluster.applyDefaults()
	if c.Daemon.Site == "" {
		c.Daemon.Site, _ = os.Hostname()
	}
	if sb := c.Daemon.Standby; sb != nil && sb.Interval == 0 {
		sb.Interval = DefaultStandbyInterval
	}
	for i := range c.Notify {
		if c.Notify[i].Kind == "email" && c.Notify[i].SMTP.Port == 0 {
			c.Notify[i].SMTP.Port = 587
		}
	}
}

// names maps list items (targets[2]) to their names, for messages.
func (c *Config) names() map[string]string {
	m := map[string]string{}
	for i, t := range c.Targets {
		m[fmt.Sprintf("targets[%d]", i)] = t.Name
	}
	for i, d := range c.DRCs {
		m[fmt.Sprintf("drcs[%d]", i)] = d.Name
	}
	for i, a := range c.Agencies {
		m[fmt.Sprintf("agencies[%d]", i)] = a.ID
	}
	return m
}

// CronParser parses the 5-field schedules of cadang.yaml.
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

type validator interface {
	Validate(report func(field, msg string))
}

func (c *Config) validate(report func(path, msg string), inlineRunbooks int) {
	at := func(prefix string) func(field, msg string) {
		return func(field, msg string) { report(join(prefix, field), msg) }
	}
	if c.StateDir == "" {
		report("state_dir", "required")
	}
	if c.Daemon.Concurrency < 0 {
		report("daemon.concurrency", "must be at least 1")
	}
	if c.Daemon.ShutdownGrace < 0 {
		report("daemon.shutdown_grace", "must not be negative")
	}
	if c.Restic.StallTimeout < MinStallTimeout {
		report("restic.stall_timeout", fmt.Sprintf("%s is too short: at least %s (default %s; it cannot be turned off)",
			c.Restic.StallTimeout, MinStallTimeout, DefaultStallTimeout))
	}
	c.Scheduler.validate(report)
	c.API.validate(report)
	c.StateProtection.validate(report)
	c.Metrics.validate(report)
	c.validateNotify(report)
	c.Cluster.validate(report)

	if len(c.DRCs) == 0 {
		report("drcs", "required: at least one DRC")
	}
	drcNames := map[string]bool{}
	var primaries []string
	badRoles := 0
	for i := range c.DRCs {
		d := &c.DRCs[i]
		path := fmt.Sprintf("drcs[%d]", i)
		d.Validate(at(path))
		if drcNames[d.Name] && d.Name != "" {
			report(path+".name", fmt.Sprintf("drc %q is defined twice", d.Name))
		}
		drcNames[d.Name] = true
		switch d.Role {
		case drc.RolePrimary:
			primaries = append(primaries, d.Name)
		case drc.RoleSecondary:
		default:
			badRoles++ // reported by d.Validate; counting primaries would only echo it
		}
	}
	if sb := c.Daemon.Standby; sb != nil {
		switch {
		case sb.SourceDRC == "":
			report("daemon.standby.source_drc", "required: the DRC whose state bundles the standby applies")
		case !drcNames[sb.SourceDRC]:
			report("daemon.standby.source_drc", fmt.Sprintf("unknown drc %q", sb.SourceDRC))
		}
		if sb.IdentityFile == "" {
			report("daemon.standby.identity_file", "required: an escrow identity (AGE-SECRET-KEY-1...) that opens the state bundles")
		}
		if sb.Interval < time.Second {
			report("daemon.standby.interval", fmt.Sprintf("%s is too short: at least 1s (default 1m)", sb.Interval))
		}
	}
	if len(c.DRCs) > 0 && badRoles == 0 && len(primaries) != 1 {
		report("drcs", fmt.Sprintf("exactly one DRC must have role: primary (found %d)", len(primaries)))
	}

	agencies := map[string]bool{}
	for i, a := range c.Agencies {
		path := fmt.Sprintf("agencies[%d]", i)
		switch {
		case a.ID == "":
			report(path+".id", "required")
		case !drc.ValidName(a.ID):
			report(path+".id", fmt.Sprintf("%q is not a valid id (lower-case letters, digits, '-' and '_')", a.ID))
		case agencies[a.ID]:
			report(path+".id", fmt.Sprintf("agency %q is defined twice", a.ID))
		}
		agencies[a.ID] = true
		seenRole := map[string]bool{}
		for j, role := range a.Approval {
			at := fmt.Sprintf("%s.approval[%d]", path, j)
			switch {
			case role != "agency-admin" && role != "operator":
				report(at, fmt.Sprintf("unknown approver %q (agency-admin or operator)", role))
			case seenRole[role]:
				report(at, fmt.Sprintf("%q is named twice", role))
			}
			seenRole[role] = true
		}
	}

	seen := map[string]bool{}
	for i := range c.Targets {
		t := &c.Targets[i]
		path := fmt.Sprintf("targets[%d]", i)
		switch {
		case t.Name == "":
			report(path+".name", "required")
		case !drc.ValidName(t.Name):
			report(path+".name", fmt.Sprintf("%q is not a valid name (lower-case letters, digits, '-' and '_')", t.Name))
		case seen[t.Name]:
			report(path+".name", fmt.Sprintf("target %q is defined twice", t.Name))
		}
		seen[t.Name] = true
		switch {
		case t.Agency == "":
			report(path+".agency", "required")
		case !agencies[t.Agency]:
			report(path+".agency", fmt.Sprintf("unknown agency %q%s", t.Agency, Suggest(t.Agency, keys(agencies))))
		}
		if _, ok := targets.Lookup(t.Kind); !ok {
			msg := "required"
			if t.Kind != "" {
				msg = fmt.Sprintf("unknown kind %q", t.Kind)
			}
			report(path+".kind", fmt.Sprintf("%s (one of %s)", msg, strings.Join(targets.Kinds(), ", ")))
		} else if _, ok := t.Sections[t.Kind]; !ok {
			report(path, fmt.Sprintf("missing section %s:", t.Kind))
		} else if v, ok := t.Spec.(validator); ok {
			v.Validate(at(path + "." + t.Kind))
		}
		if t.Schedule != "" {
			if _, err := CronParser.Parse(t.Schedule); err != nil {
				report(path+".schedule", fmt.Sprintf("invalid cron schedule %q: %v", t.Schedule, err))
			}
		}
		if r := t.Retention; r != nil {
			r.validate(at(path + ".retention"))
		}
		t.Hooks.Validate(at(path + ".hooks"))
		if t.RPO < 0 {
			report(path+".rpo", "must not be negative")
		}
		if t.RTO < 0 {
			report(path+".rto", "must not be negative")
		}
		if t.Drill != nil {
			t.Drill.validate(c, at(path+".drill"))
		}
		t.API.validate(t.Kind, at(path+".api"))
		c.validateTargetAgent(t, path, report)
	}
	c.Drill.validate(c, at("drill"))
	c.Report.validate(at("report"))
	c.validateSchedules(report)
	c.validateRunbooks(inlineRunbooks, report)
}

func (r *Retention) validate(report func(field, msg string)) {
	for name, v := range map[string]int{
		"keep_last": r.KeepLast, "keep_hourly": r.KeepHourly, "keep_daily": r.KeepDaily,
		"keep_weekly": r.KeepWeekly, "keep_monthly": r.KeepMonthly, "keep_yearly": r.KeepYearly,
	} {
		if v < 0 {
			report(name, "must not be negative")
		}
	}
	if *r == (Retention{}) {
		report("", "keeps nothing: set at least one keep_* (or remove retention to keep every snapshot)")
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Target returns the target named name.
func (c *Config) Target(name string) (*Target, bool) {
	for i := range c.Targets {
		if c.Targets[i].Name == name {
			return &c.Targets[i], true
		}
	}
	return nil, false
}

// Primary returns the DRC whose role is primary.
func (c *Config) Primary() *drc.Config {
	for i := range c.DRCs {
		if c.DRCs[i].Role == drc.RolePrimary {
			return &c.DRCs[i]
		}
	}
	return nil
}

// DRC returns the DRC named name.
func (c *Config) DRC(name string) (*drc.Config, bool) {
	for i := range c.DRCs {
		if c.DRCs[i].Name == name {
			return &c.DRCs[i], true
		}
	}
	return nil, false
}

// HasAgency reports whether an agency with id is configured.
func (c *Config) HasAgency(id string) bool {
	for _, a := range c.Agencies {
		if a.ID == id {
			return true
		}
	}
	return false
}

// NeedRestart lists what differs between the configuration a daemon runs (old) and a
// new one that a reload cannot apply: the state dir, the daemon's own settings, restic,
// and the DRCs (the replication loop, the leases and the queue's limits are built on
// them). Targets, agencies, schedules, the time zone, maintenance windows, drills and
// reports reload.
func NeedRestart(old, cfg *Config) []string {
	var out []string
	if old.StateDir != cfg.StateDir {
		out = append(out, "state_dir")
	}
	if old.Daemon != cfg.Daemon {
		out = append(out, "daemon")
	}
	if old.Restic != cfg.Restic {
		out = append(out, "restic")
	}
	if !reflect.DeepEqual(old.DRCs, cfg.DRCs) {
		out = append(out, "drcs")
	}
	if old.Metrics != cfg.Metrics {
		out = append(out, "metrics") // its listener is set up at start
	}
	if old.API != cfg.API {
		out = append(out, "api") // the listener and its certificate are set up at start
	}
	return out
}

// SocketOf finds the daemon's socket in a configuration file that may not pass Load:
// a client must reach the daemon while the file holds a mistake (to reload once it is
// fixed, or to go on working with what the daemon runs). It reads only state_dir and
// daemon.socket.
func SocketOf(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	var c struct {
		StateDir string `yaml:"state_dir"`
		Daemon   struct {
			Socket string `yaml:"socket"`
		} `yaml:"daemon"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	cfg := &Config{File: file, StateDir: c.StateDir, Daemon: Daemon{Socket: c.Daemon.Socket}}
	cfg.resolvePaths()
	cfg.applyDefaults()
	if cfg.Daemon.Socket == "" {
		return "", fmt.Errorf("%s: no state_dir: the daemon's socket is unknown", file)
	}
	return cfg.Daemon.Socket, nil
}
