package config

import (
	"fmt"
	"time"

	"github.com/cadang/cadang/engine/export"
)

// StateProtection is the `state_protection:` section: cadang's own state (catalog,
// configuration, repository keys) written as an encrypted bundle into every DRC, so
// that the loss of the main site does not take it (docs/site-loss.md). Without escrow
// recipients there is none.
type StateProtection struct {
	// EscrowRecipients are the age public keys (age1...) or SSH public keys the bundle
	// is encrypted to; their identities are kept offline (the head of the ICT office,
	// the security officer), any one of them opens a bundle.
	EscrowRecipients []string `yaml:"escrow_recipients"`
	// Interval is the longest time between two bundles (default 15m); a bundle is
	// also written soon after every change that matters (a backup, a drill).
	Interval time.Duration `yaml:"interval"`
	// KeepLast bundles are kept at each DRC (default 10), and KeepDaily: the newest
	// of each of the last days (default 30).
	KeepLast  int `yaml:"keep_last"`
	KeepDaily int `yaml:"keep_daily"`
}

// Defaults of state_protection.
const (
	DefaultStateInterval  = 15 * time.Minute
	DefaultStateKeepLast  = 10
	DefaultStateKeepDaily = 30
)

// Enabled reports whether state bundles are written.
func (s StateProtection) Enabled() bool { return len(s.EscrowRecipients) > 0 }

func (s *StateProtection) applyDefaults() {
	if s.Interval == 0 {
		s.Interval = DefaultStateInterval
	}
	if s.KeepLast == 0 {
		s.KeepLast = DefaultStateKeepLast
	}
	if s.KeepDaily == 0 {
		s.KeepDaily = DefaultStateKeepDaily
	}
}

func (s *StateProtection) validate(report func(path, msg string)) {
	if _, err := export.ParseRecipients(s.EscrowRecipients); len(s.EscrowRecipients) > 0 && err != nil {
		report("state_protection.escrow_recipients", err.Error())
	}
	if s.Interval < time.Minute {
		report("state_protection.interval", fmt.Sprintf("%s is too short: at least 1m (default 15m)", s.Interval))
	}
	if s.KeepLast < 1 {
		report("state_protection.keep_last", "must be at least 1")
	}
	if s.KeepDaily < 0 {
		report("state_protection.keep_daily", "must not be negative")
	}
}
