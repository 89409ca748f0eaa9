package runbooks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Modes a runbook runs in. Plan is a dry run that executes nothing; test restores
// under scratch names, runs the checks and undoes what it created; real is the
// failover itself.
const (
	ModePlan = "plan"
	ModeTest = "test"
	ModeReal = "real"
)

// Runbook is a failover plan: a `runbooks:` entry of cadang.yaml or a file of its
// runbooks_dir, with the same shape. engine/config decodes it strictly (unknown keys
// are located errors) and calls Validate with what the configuration knows.
type Runbook struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Version is the plan's own version label (e.g. "2026-11 rev 3"); the report
	// prints it beside the file's SHA-256.
	Version    string     `yaml:"version"`
	Objectives Objectives `yaml:"objectives"`
	// Services declare objectives per service; a step names its service with
	// `service:`. A runbook without services is one service named after the runbook.
	Services map[string]Objectives `yaml:"services"`
	Groups   []Group               `yaml:"groups"`
	// Undo lists steps that run at the end of a test-mode run, whatever its outcome,
	// after cadang has removed what the test's restores created (scratch databases,
	// paths, domains): e.g. a `run` that stops a service the test started.
	Undo []StepSpec `yaml:"undo"`

	File   string `yaml:"-"` // where it was loaded from (cadang.yaml or a runbooks_dir file)
	Line   int    `yaml:"-"` // where it starts in File
	Digest string `yaml:"-"` // SHA-256 (hex) of its source (the file, or the runbook's YAML in cadang.yaml)
}

// Objectives are declared recovery objectives.
type Objectives struct {
	RTO time.Duration `yaml:"rto" json:"rto_ns,omitempty"`
	RPO time.Duration `yaml:"rpo" json:"rpo_ns,omitempty"`
}

// Group is a set of steps run in sequence, or all at once when Parallel. Groups run in
// the order they are listed; a group with depends_on waits only for the groups it
// names (so two groups that depend on the same one run side by side).
type Group struct {
	Name      string     `yaml:"name"`
	DependsOn []string   `yaml:"depends_on"`
	Parallel  bool       `yaml:"parallel"`
	Steps     []StepSpec `yaml:"steps"`
}

// StepSpec is one step of a runbook file: exactly one of restore, run, check,
// manual, notify.
type StepSpec struct {
	Name    string       `yaml:"name"`
	Service string       `yaml:"service"` // whose RTO this step counts towards (default: the runbook's only service)
	Restore *RestoreSpec `yaml:"restore"`
	Run     []string     `yaml:"run"` // argv, executed without a shell
	Check   *CheckSpec   `yaml:"check"`
	Manual  *ManualSpec  `yaml:"manual"`
	Notify  string       `yaml:"notify"`

	// Timeout bounds each attempt; 0: the kind's default (DefaultStepTimeout, or the
	// gate's own timeout for manual steps).
	Timeout time.Duration `yaml:"timeout"`
	// Retries is how many times a failed attempt is tried again.
	Retries int `yaml:"retries"`
	// Critical: a failure halts the plan (default true: a failover goes no further
	// than a step it needed; mark checks that only inform `critical: false`).
	Critical *bool `yaml:"critical"`
	// Modes the step runs in (default both test and real).
	Modes []string `yaml:"modes"`
}

// RestoreSpec restores a target's snapshot to a destination.
type RestoreSpec struct {
	Target string `yaml:"target"`
	// DRC names the DRC to restore from; empty or "any": the first that answers, in
	// the order primary, secondaries (the report shows which one served).
	DRC string `yaml:"drc"`
	// Snapshot is "latest" (the newest good snapshot, the default), a snapshot id, or
	// a time (RFC 3339): the newest good snapshot taken at or before it.
	Snapshot string `yaml:"snapshot"`
	// To is where it lands: a folder (files targets), or postgres://host:port/dbname
	// (database targets: that database on that server; no password in the URL, use
	// ?password_file=). In test mode the last element gets a scratch suffix.
	To string `yaml:"to"`
	// Domain and Hypervisor restore a libvirt target as a new domain defined on the
	// hypervisor (a libvirt URI of a configured libvirt target; default the target's),
	// started when Start is set; its disks go to To (a folder the hypervisor's QEMU
	// reaches), by default DomainDiskDir/DOMAIN. In test mode the domain's name gets
	// the same scratch suffix as the folder.
	Domain     string `yaml:"domain"`
	Hypervisor string `yaml:"hypervisor"`
	Start      bool   `yaml:"start"`
	// InPlace restores over the target's own source: real mode only, and only with
	// this explicit flag.
	InPlace bool `yaml:"in_place"`
}

// CheckSpec is one readiness check: exactly one of tcp, http, sql, file.
type CheckSpec struct {
	TCP  string     `yaml:"tcp"` // host:port that must accept a connection
	HTTP *HTTPCheck `yaml:"http"`
	SQL  *SQLCheck  `yaml:"sql"`
	File string     `yaml:"file"` // a file whose SHA-256 must be SHA256
	// SHA256 is the expected hash of File (hex).
	SHA256 string `yaml:"sha256"`
}

// HTTPCheck expects a status (default 200) and, if Body is set, a body containing it.
type HTTPCheck struct {
	URL    string `yaml:"url"`
	Status int    `yaml:"status"`
	Body   string `yaml:"body"`
}

// SQLCheck runs Query against a database and compares the first column of the first
// row, as text, with Expect. Database is a postgres:// URL, or "restore:STEP" for the
// database a restore step of this runbook created (its scratch name in test mode).
type SQLCheck struct {
	Database string `yaml:"database"`
	Query    string `yaml:"query"`
	Expect   string `yaml:"expect"`
}

// ManualSpec is a gate: the run waits until a principal with Role confirms it.
type ManualSpec struct {
	Prompt string `yaml:"prompt"`
	Role   string `yaml:"role"`
	// Ticket is the service-desk reference the confirmation belongs to (printed in the report).
	Ticket string `yaml:"ticket"`
	// Timeout is how long the gate waits (default DefaultGateTimeout); the step's
	// timeout, when set, wins.
	Timeout time.Duration `yaml:"timeout"`
}

// DomainDiskDir is where the disks of a domain a restore step defines go by default
// (in a folder named after the domain): libvirt's image folder, which QEMU reaches.
const DomainDiskDir = "/var/lib/libvirt/images"

// domainName is what a restore step accepts as a domain's name (as cadang restore
// --define does; the test-mode suffix must still fit in 64).
var domainName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,47}$`)

// Defaults of runbook steps.
const (
	DefaultStepTimeout = 2 * time.Hour
	DefaultGateTimeout = 4 * time.Hour
)

// Step kinds (Kind).
const (
	KindRestore = "restore"
	KindRun     = "run"
	KindCheck   = "check"
	KindManual  = "manual"
	KindNotify  = "notify"
)

// Kind is the step's kind, or "" if it has none or several (Validate reports it).
func (s *StepSpec) Kind() string {
	var kinds []string
	if s.Restore != nil {
		kinds = append(kinds, KindRestore)
	}
	if s.Run != nil {
		kinds = append(kinds, KindRun)
	}
	if s.Check != nil {
		kinds = append(kinds, KindCheck)
	}
	if s.Manual != nil {
		kinds = append(kinds, KindManual)
	}
	if s.Notify != "" {
		kinds = append(kinds, KindNotify)
	}
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0]
}

// IsCritical is the step's critical flag with its default (true).
func (s *StepSpec) IsCritical() bool { return s.Critical == nil || *s.Critical }

// RunsIn reports whether the step runs in mode.
func (s *StepSpec) RunsIn(mode string) bool {
	if len(s.Modes) == 0 {
		return true
	}
	for _, m := range s.Modes {
		if m == mode {
			return true
		}
	}
	return false
}

// Key is the step's stable identifier in a run: group/step (undo/step for undo steps).
func Key(group, step string) string { return group + "/" + step }

// Refs is what the configuration knows, against which a runbook's references are
// checked when it is loaded (so that a typo is a located error, not a failure in the
// middle of a failover).
type Refs interface {
	TargetKind(name string) (kind string, ok bool)
	HasDRC(name string) bool
	HasHypervisor(uri string) bool
	Roles() []string
}

// Validate reports every problem of rb through report, with the field's path relative
// to the runbook (groups[1].steps[0].restore.target).
func (rb *Runbook) Validate(refs Refs, report func(field, msg string)) {
	if rb.Name == "" {
		report("name", "required")
	} else if !validName(rb.Name) {
		report("name", fmt.Sprintf("%q is not a valid name (lower-case letters, digits, '-' and '_')", rb.Name))
	}
	if rb.Objectives.RTO < 0 || rb.Objectives.RPO < 0 {
		report("objectives", "must not be negative")
	}
	if len(rb.Groups) == 0 {
		report("groups", "required: at least one group")
	}
	groups := map[string]int{}
	steps := map[string]string{} // step name -> kind, across the runbook
	for i, g := range rb.Groups {
		path := fmt.Sprintf("groups[%d]", i)
		switch {
		case g.Name == "":
			report(path+".name", "required")
		case g.Name == "undo":
			report(path+".name", `"undo" is reserved for the undo section`)
		case groups[g.Name] > 0:
			report(path+".name", fmt.Sprintf("group %q is defined twice", g.Name))
		}
		for j, dep := range g.DependsOn {
			at := fmt.Sprintf("%s.depends_on[%d]", path, j)
			switch n, ok := groups[dep]; {
			case dep == g.Name:
				report(at, "a group cannot depend on itself")
			case !ok || n == 0:
				if rb.hasGroup(dep) {
					report(at, fmt.Sprintf("group %q comes later: list a group after the groups it depends on", dep))
				} else {
					report(at, fmt.Sprintf("unknown group %q", dep))
				}
			}
		}
		groups[g.Name] = i + 1
		if len(g.Steps) == 0 {
			report(path+".steps", "required: at least one step")
		}
		for j := range g.Steps {
			rb.validateStep(&g.Steps[j], fmt.Sprintf("%s.steps[%d]", path, j), steps, refs, report)
		}
	}
	for j := range rb.Undo {
		s := &rb.Undo[j]
		path := fmt.Sprintf("undo[%d]", j)
		if k := s.Kind(); k == KindRestore || k == KindManual {
			report(path, fmt.Sprintf("an undo step cannot be a %s", k))
		}
		rb.validateStep(s, path, steps, refs, report)
	}
	for name, o := range rb.Services {
		if o.RTO < 0 || o.RPO < 0 {
			report("services."+name, "must not be negative")
		}
	}
}

func (rb *Runbook) hasGroup(name string) bool {
	for _, g := range rb.Groups {
		if g.Name == name {
			return true
		}
	}
	return false
}

func (rb *Runbook) validateStep(s *StepSpec, path string, seen map[string]string, refs Refs, report func(field, msg string)) {
	switch {
	case s.Name == "":
		report(path+".name", "required")
	case strings.Contains(s.Name, "/"):
		report(path+".name", "must not contain '/'")
	case seen[s.Name] != "":
		report(path+".name", fmt.Sprintf("step %q is defined twice (step names are unique in a runbook)", s.Name))
	}
	kind := s.Kind()
	seen[s.Name] = kind + " "
	if kind == "" {
		report(path, "needs exactly one of restore, run, check, manual, notify")
	}
	if s.Timeout < 0 {
		report(path+".timeout", "must not be negative")
	}
	if s.Retries < 0 || s.Retries > 100 {
		report(path+".retries", "must be between 0 and 100")
	}
	for i, m := range s.Modes {
		if m != ModeTest && m != ModeReal {
			report(fmt.Sprintf("%s.modes[%d]", path, i), fmt.Sprintf("unknown mode %q (test or real)", m))
		}
	}
	if s.Service != "" && len(rb.Services) > 0 {
		if _, ok := rb.Services[s.Service]; !ok {
			report(path+".service", fmt.Sprintf("unknown service %q (not in services:)", s.Service))
		}
	}
	switch kind {
	case KindRestore:
		s.Restore.validate(s, path+".restore", refs, report)
	case KindRun:
		if len(s.Run) == 0 || s.Run[0] == "" {
			report(path+".run", "an argv with at least the program")
		}
	case KindCheck:
		s.Check.validate(rb, path+".check", seen, report)
	case KindManual:
		m := s.Manual
		if m.Prompt == "" {
			report(path+".manual.prompt", "required")
		}
		switch {
		case m.Role == "":
			report(path+".manual.role", "required: the role that may confirm the gate")
		case refs != nil && !contains(refs.Roles(), m.Role):
			report(path+".manual.role", fmt.Sprintf("unknown role %q (one of %s)", m.Role, strings.Join(refs.Roles(), ", ")))
		}
		if m.Timeout < 0 {
			report(path+".manual.timeout", "must not be negative")
		}
	}
}

func (r *RestoreSpec) validate(s *StepSpec, path string, refs Refs, report func(field, msg string)) {
	kind := ""
	switch {
	case r.Target == "":
		report(path+".target", "required")
	case refs != nil:
		k, ok := refs.TargetKind(r.Target)
		if !ok {
			report(path+".target", fmt.Sprintf("unknown target %q", r.Target))
		}
		kind = k
	}
	if r.DRC != "" && r.DRC != "any" && refs != nil && !refs.HasDRC(r.DRC) {
		report(path+".drc", fmt.Sprintf("unknown drc %q", r.DRC))
	}
	if r.Snapshot != "" && r.Snapshot != "latest" {
		if _, err := time.Parse(time.RFC3339, r.Snapshot); err != nil && !isHex(r.Snapshot) {
			report(path+".snapshot", fmt.Sprintf("%q: latest, a snapshot id, or a time such as 2026-11-30T02:00:00+07:00", r.Snapshot))
		}
	}
	if r.InPlace {
		if r.To != "" || r.Domain != "" {
			report(path+".in_place", "in place restores to the target's own source: give no to: or domain:")
		}
		if len(s.Modes) != 1 || s.Modes[0] != ModeReal {
			report(path+".in_place", "an in-place restore runs in real mode only: add modes: [real]")
		}
		return
	}
	switch kind {
	case "libvirt":
		switch {
		case r.Domain == "":
			report(path+".domain", "required for a libvirt target: the new domain's name")
		case !domainName.MatchString(r.Domain):
			report(path+".domain", fmt.Sprintf("%q: a domain name is letters, digits, '.', '_', '+' and '-', at most 48", r.Domain))
		}
		if r.To != "" && !strings.HasPrefix(r.To, "/") {
			report(path+".to", "the folder of the restored disks: an absolute folder (default "+DomainDiskDir+"/DOMAIN)")
		}
		if r.Hypervisor != "" && refs != nil && !refs.HasHypervisor(r.Hypervisor) {
			report(path+".hypervisor", fmt.Sprintf("unknown hypervisor %q (the uri of a configured libvirt target)", r.Hypervisor))
		}
	case "postgres", "mysql":
		u, err := url.Parse(r.To)
		switch {
		case r.To == "":
			report(path+".to", fmt.Sprintf("required: %s://host:port/database", kind))
		case err != nil || !strings.HasPrefix(u.Scheme, kind[:5]) || strings.Trim(u.Path, "/") == "":
			report(path+".to", fmt.Sprintf("%q: want %s://host:port/database", r.To, kind))
		case u.User != nil && hasPassword(u):
			report(path+".to", "a password in the URL is refused (it would show in the process list): use ?password_file=")
		}
	case "files":
		if r.To == "" || !strings.HasPrefix(r.To, "/") {
			report(path+".to", "required: an absolute folder")
		}
	default:
		if kind != "" && r.To == "" && r.Domain == "" {
			report(path+".to", "required")
		}
	}
}

func hasPassword(u *url.URL) bool { _, ok := u.User.Password(); return ok }

func (c *CheckSpec) validate(rb *Runbook, path string, seen map[string]string, report func(field, msg string)) {
	n := 0
	if c.TCP != "" {
		n++
		if _, _, err := net.SplitHostPort(c.TCP); err != nil {
			report(path+".tcp", fmt.Sprintf("%q: want host:port", c.TCP))
		}
	}
	if c.HTTP != nil {
		n++
		if u, err := url.Parse(c.HTTP.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			report(path+".http.url", fmt.Sprintf("%q: want an http:// or https:// URL", c.HTTP.URL))
		}
		if c.HTTP.Status != 0 && (c.HTTP.Status < 100 || c.HTTP.Status > 599) {
			report(path+".http.status", "must be an HTTP status (100-599)")
		}
	}
	if c.SQL != nil {
		n++
		q := c.SQL
		if q.Query == "" {
			report(path+".sql.query", "required")
		}
		if ref, ok := strings.CutPrefix(q.Database, "restore:"); ok {
			if seen[ref] != KindRestore+" " {
				report(path+".sql.database", fmt.Sprintf("no restore step %q before this check", ref))
			}
		} else if u, err := url.Parse(q.Database); err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" || strings.Trim(u.Path, "/") == "" {
			report(path+".sql.database", fmt.Sprintf("%q: want postgres://host:port/database or restore:STEP", q.Database))
		} else if hasPassword(u) {
			report(path+".sql.database", "a password in the URL is refused: use ?password_file=")
		}
	}
	if c.File != "" {
		n++
		if len(c.SHA256) != 64 || !isHex(c.SHA256) {
			report(path+".sha256", "required with file: 64 hex digits")
		}
	} else if c.SHA256 != "" {
		report(path+".sha256", "only with file:")
	}
	if n != 1 {
		report(path, "needs exactly one of tcp, http, sql, file")
	}
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}

// DigestOf is the hex SHA-256 of a runbook's source bytes.
func DigestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ObjectivesOf returns the declared objectives of service (the runbook's own when the
// service declares none).
func (rb *Runbook) ObjectivesOf(service string) Objectives {
	if o, ok := rb.Services[service]; ok {
		if o.RTO == 0 {
			o.RTO = rb.Objectives.RTO
		}
		if o.RPO == 0 {
			o.RPO = rb.Objectives.RPO
		}
		return o
	}
	return rb.Objectives
}

// ServiceOf is the service a step counts towards.
func (rb *Runbook) ServiceOf(s *StepSpec) string {
	if s.Service != "" {
		return s.Service
	}
	return rb.Name
}
