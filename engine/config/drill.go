package config

import (
	"fmt"
	"net/url"
	"time"
)

// Drill says when and how a target's restores are proven (restore drills). The
// top-level `drill:` gives defaults for every target; a target's own `drill:` overrides
// them field by field.
type Drill struct {
	// Schedule is when drills run (cron, 5 fields); empty: on demand only.
	Schedule string `yaml:"schedule"`
	// DRCs are the DRCs each drill restores from, one drill run per DRC (default: every
	// DRC, so that the off-site copy is proven too).
	DRCs []string `yaml:"drcs"`
	// Checks are the target's own verifications: for databases, SQL queries run in the
	// restored scratch database that must return true.
	Checks []string `yaml:"checks"`
	// BootSeconds is how long a restored VM must stay running (default 30).
	BootSeconds int `yaml:"boot_seconds"`
	// Server is where database drills restore: a postgres:// or mysql:// URL without
	// a database name (the drill creates and drops a scratch database there).
	Server string `yaml:"server"`
	// AllowProduction lets a database drill restore into a scratch database on the
	// target's own server when no drill server is given.
	AllowProduction bool `yaml:"allow_production"`
	// Postgres and MySQL give the drill server of targets of their kind (drill:
	// {postgres: {server: ...}, mysql: {server: ...}}); Server, the older key, applies
	// to the targets of the kind its URL's scheme names.
	Postgres *KindDrill `yaml:"postgres"`
	MySQL    *KindDrill `yaml:"mysql"`
	// Timeout bounds each step of a drill (default 2h).
	Timeout time.Duration `yaml:"timeout"`
}

// KindDrill is the drill server of one database kind.
type KindDrill struct {
	Server          string `yaml:"server"`
	AllowProduction bool   `yaml:"allow_production"`
}

// kindDrill returns the section of Drill for a target kind, or nil.
func (d *Drill) kindDrill(kind string) *KindDrill {
	switch kind {
	case "postgres":
		return d.Postgres
	case "mysql":
		return d.MySQL
	}
	return nil
}

// serverKind is the target kind a drill server URL is for ("" if none).
func serverKind(server string) string {
	u, err := url.Parse(server)
	if err != nil {
		return ""
	}
	switch u.Scheme {
	case "postgres", "postgresql":
		return "postgres"
	case "mysql", "mariadb":
		return "mysql"
	}
	return ""
}

// serverFor picks the drill server of a target of kind from the target's own drill
// settings (own, may be nil) and the top-level ones (top): the most specific that fits
// the kind, the target's before the top level's, a kind's section before server.
func serverFor(kind string, own *Drill, top Drill) (string, bool) {
	var layers []*Drill
	if own != nil {
		layers = append(layers, own)
	}
	layers = append(layers, &top)
	allow := top.AllowProduction || (own != nil && own.AllowProduction)
	for _, l := range layers {
		if k := l.kindDrill(kind); k != nil && k.Server != "" {
			return k.Server, allow || k.AllowProduction
		}
		if l.Server != "" && serverKind(l.Server) == kind {
			return l.Server, allow
		}
	}
	for _, l := range layers {
		if k := l.kindDrill(kind); k != nil && k.AllowProduction {
			allow = true
		}
	}
	return "", allow
}

// Defaults of drills.
const (
	DefaultBootSeconds  = 30
	DefaultDrillTimeout = 2 * time.Hour
)

// DrillOf returns the drill settings of t: its own over the top-level ones, with
// defaults. DRCs default to every DRC, the primary first.
func (c *Config) DrillOf(t *Target) Drill {
	d := c.Drill
	if o := t.Drill; o != nil {
		if o.Schedule != "" {
			d.Schedule = o.Schedule
		}
		if len(o.DRCs) > 0 {
			d.DRCs = o.DRCs
		}
		if len(o.Checks) > 0 {
			d.Checks = o.Checks
		}
		if o.BootSeconds > 0 {
			d.BootSeconds = o.BootSeconds
		}
		if o.Server != "" {
			d.Server = o.Server
		}
		if o.AllowProduction {
			d.AllowProduction = true
		}
		if o.Timeout > 0 {
			d.Timeout = o.Timeout
		}
	}
	d.Server, d.AllowProduction = serverFor(t.Kind, t.Drill, c.Drill)
	if len(d.DRCs) == 0 {
		if p := c.Primary(); p != nil {
			d.DRCs = append(d.DRCs, p.Name)
		}
		for _, x := range c.DRCs {
			if c.Primary() == nil || x.Name != c.Primary().Name {
				d.DRCs = append(d.DRCs, x.Name)
			}
		}
	}
	if d.BootSeconds == 0 {
		d.BootSeconds = DefaultBootSeconds
	}
	if d.Timeout == 0 {
		d.Timeout = DefaultDrillTimeout
	}
	return d
}

func (d *Drill) validate(c *Config, report func(field, msg string)) {
	if d.Schedule != "" {
		if _, err := CronParser.Parse(d.Schedule); err != nil {
			report("schedule", fmt.Sprintf("invalid cron schedule %q: %v", d.Schedule, err))
		}
	}
	seen := map[string]bool{}
	for i, n := range d.DRCs {
		if _, ok := c.DRC(n); !ok {
			report(fmt.Sprintf("drcs[%d]", i), fmt.Sprintf("unknown drc %q", n))
		} else if seen[n] {
			report(fmt.Sprintf("drcs[%d]", i), fmt.Sprintf("drc %q is listed twice", n))
		}
		seen[n] = true
	}
	for i, q := range d.Checks {
		if q == "" {
			report(fmt.Sprintf("checks[%d]", i), "empty check")
		}
	}
	if d.BootSeconds < 0 {
		report("boot_seconds", "must not be negative")
	}
	if d.Timeout < 0 {
		report("timeout", "must not be negative")
	}
	validateServer("server", d.Server, "", report)
	if d.Postgres != nil {
		validateServer("postgres.server", d.Postgres.Server, "postgres", report)
	}
	if d.MySQL != nil {
		validateServer("mysql.server", d.MySQL.Server, "mysql", report)
	}
}

// validateServer checks a drill server URL (of kind, if not "").
func validateServer(field, server, kind string, report func(field, msg string)) {
	if server == "" {
		return
	}
	u, err := url.Parse(server)
	switch {
	case err != nil:
		report(field, "not a URL (postgres://host:port/ or mysql://host:port/)")
	case u.Scheme != "postgres" && u.Scheme != "postgresql" && u.Scheme != "mysql" && u.Scheme != "mariadb":
		report(field, fmt.Sprintf("scheme %q: want postgres:// or mysql://", u.Scheme))
	case kind != "" && serverKind(server) != kind:
		report(field, fmt.Sprintf("scheme %q: the %s drill server must be a %s:// URL", u.Scheme, kind, kind))
	case u.User != nil:
		if _, has := u.User.Password(); has {
			report(field, "a password in the URL is refused (it would show in the process list): use ?password_file=")
		}
	}
}
