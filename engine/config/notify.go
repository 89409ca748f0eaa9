package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/cadang/cadang/engine/notify"
)

// Channel is one entry of `notify:`: where events go (docs/operations.md,
// "Notifications").
type Channel struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"` // webhook or email
	// Webhook: the URL events are posted to as JSON, signed with HMAC-SHA256 by the
	// secret in SecretFile (header X-Cadang-Signature: sha256=<hex>).
	URL        string `yaml:"url"`
	SecretFile string `yaml:"secret_file"`
	// Email: the SMTP server, the sender and the recipients.
	SMTP SMTP     `yaml:"smtp"`
	From string   `yaml:"from"`
	To   []string `yaml:"to"`
	// Events are the kinds sent (all when empty); Agencies, whose events (all when
	// empty; events of no agency go to every channel).
	Events   []string `yaml:"events"`
	Agencies []string `yaml:"agencies"`
	// Lang is the messages' language: id (default) or en.
	Lang string `yaml:"lang"`
}

// SMTP is an e-mail channel's server.
type SMTP struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"` // default 587
	// StartTLS is on by default; it may be turned off only for a server on loopback.
	StartTLS     *bool  `yaml:"starttls"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	CAFile       string `yaml:"ca_file"` // the server's CA (PEM), when not the system's
}

// UsesStartTLS reports whether the channel's SMTP session is upgraded with STARTTLS.
func (s SMTP) UsesStartTLS() bool { return s.StartTLS == nil || *s.StartTLS }

func (c *Config) validateNotify(report func(path, msg string)) {
	seen := map[string]bool{}
	for i := range c.Notify {
		ch := &c.Notify[i]
		at := func(f string) string { return fmt.Sprintf("notify[%d].%s", i, f) }
		switch {
		case ch.Name == "":
			report(at("name"), "required")
		case seen[ch.Name]:
			report(at("name"), fmt.Sprintf("channel %q is defined twice", ch.Name))
		}
		seen[ch.Name] = true
		switch ch.Kind {
		case "webhook":
			u, err := url.Parse(ch.URL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				report(at("url"), "give the receiver's http(s):// URL")
			} else if u.Scheme == "http" && !(API{Listen: u.Host}).Loopback() && !strings.HasPrefix(u.Host, "localhost") {
				report(at("url"), "plain http only to a loopback receiver: use https")
			}
			if ch.SecretFile == "" {
				report(at("secret_file"), "required: the file of the HMAC key the receiver checks the signature with")
			}
		case "email":
			if ch.SMTP.Host == "" {
				report(at("smtp.host"), "required")
			}
			if ch.From == "" || !strings.Contains(ch.From, "@") {
				report(at("from"), "give the sender's address")
			}
			if len(ch.To) == 0 {
				report(at("to"), "give at least one recipient")
			}
			if !ch.SMTP.UsesStartTLS() && !(API{Listen: fmt.Sprintf("%s:%d", ch.SMTP.Host, ch.SMTP.Port)}).Loopback() {
				report(at("smtp.starttls"), "may be off only for a server on loopback")
			}
		case "":
			report(at("kind"), "required: webhook or email")
		default:
			report(at("kind"), fmt.Sprintf("unknown kind %q (webhook or email)", ch.Kind))
		}
		for j, e := range ch.Events {
			if !slices.Contains(notify.Kinds, e) {
				report(fmt.Sprintf("notify[%d].events[%d]", i, j), fmt.Sprintf("unknown event %q (%s)", e, strings.Join(notify.Kinds, ", ")))
			}
		}
		for j, a := range ch.Agencies {
			if !c.HasAgency(a) {
				report(fmt.Sprintf("notify[%d].agencies[%d]", i, j), fmt.Sprintf("unknown agency %q", a))
			}
		}
		if ch.Lang != "" && ch.Lang != "id" && ch.Lang != "en" {
			report(at("lang"), "id (Bahasa Indonesia, the default) or en")
		}
	}
}
