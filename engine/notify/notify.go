// Package notify tells people what cadang sees: events (a backup failed, a target's RPO
// is exceeded, a DRC is behind, an alarm, a request waits for approval) routed to
// channels (a webhook signed with HMAC-SHA256, or e-mail over SMTP with STARTTLS), by
// event and agency. A condition notifies once when it begins and once when it clears,
// however often it is seen in between; delivery is in the background, retried with
// backoff, and never blocks the daemon's work.
//
// It imports nothing of the daemon: the daemon raises and clears events.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event kinds.
const (
	BackupFailed   = "backup.failed"   // a backup failed or was partial (cleared by a good one)
	DrillFailed    = "drill.failed"    // a drill failed (cleared by a good one)
	RPOExceeded    = "rpo.exceeded"    // a target's newest good copy at a DRC is older than its RPO
	ReplicationLag = "replication.lag" // a secondary is behind more than its max_lag
	DRCUnreachable = "drc.unreachable" // a DRC does not answer its health probe
	Maintenance    = "maintenance"     // a maintenance window will hold an agency's runs (told 24 h ahead)
	Alarm          = "alarm"           // an alarm (damaged object, data lost, state bundle, ...)
	RequestPending = "request.pending" // an agency's restore or export request waits for approval
	RunbookNotice  = "runbook.notice"  // a runbook's notify step (the failover's own messages)
	AgentDown      = "agent.down"      // an enrolled agent silent past cluster.heartbeat_timeout (docs/agents.md)
	Test           = "test"            // cadang notify test
)

// Kinds lists the event kinds a route may name.
var Kinds = []string{BackupFailed, DrillFailed, RPOExceeded, ReplicationLag, DRCUnreachable, Maintenance, Alarm, RequestPending, RunbookNotice, AgentDown, Test}

// Event is one thing to tell.
type Event struct {
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"` // what the condition is about, its identity for de-duplication
	Agency  string    `json:"agency,omitempty"`
	Target  string    `json:"target,omitempty"`
	DRC     string    `json:"drc,omitempty"`
	Run     uint64    `json:"run,omitempty"`
	Title   string    `json:"title"`
	Text    string    `json:"text"`
	Time    time.Time `json:"time"`
	Cleared bool      `json:"cleared,omitempty"` // the condition is over
}

// Channel sends events somewhere.
type Channel interface {
	Name() string
	Send(ctx context.Context, e Event) error
}

// Route sends the events of Kinds (all when empty) about Agencies (all when empty)
// to a channel. An event of no agency (a DRC's, the daemon's) goes to every route that
// takes its kind.
type Route struct {
	Channel  Channel
	Kinds    []string
	Agencies []string
}

func (r Route) takes(e Event) bool {
	return (len(r.Kinds) == 0 || slices.Contains(r.Kinds, e.Kind)) &&
		(len(r.Agencies) == 0 || e.Agency == "" || slices.Contains(r.Agencies, e.Agency))
}

// Notifier routes events to channels, in the background.
type Notifier struct {
	log    *slog.Logger
	mu     sync.Mutex
	routes []Route
	raised map[string]bool // subjects whose condition is on
	store  Store
	queue  chan delivery
	// Backoff is the wait before the first retry, doubled at each (default 2s); Tries
	// the attempts per event and channel (default 5).
	Backoff time.Duration
	Tries   int
}

type delivery struct {
	ch Channel
	e  Event
}

// queueSize bounds the events waiting for delivery: past it, new ones are dropped (and
// logged), so that a dead receiver cannot grow the daemon's memory.
const queueSize = 1000

// New returns a notifier; Run delivers its events.
func New(log *slog.Logger) *Notifier {
	return &Notifier{log: log, raised: map[string]bool{}, queue: make(chan delivery, queueSize), Backoff: 2 * time.Second, Tries: 5}
}

// Store keeps the conditions on across restarts of the daemon (its catalog): a
// condition on before a restart is not told again after it, and its end is told.
type Store interface {
	PutRaised(e Event) error
	DeleteRaised(subject string) error
}

// SetStore makes the notifier record in s every condition it raises or clears, and
// marks on, without telling them again, the conditions of on (what s held: they were
// told before the restart).
func (n *Notifier) SetStore(s Store, on []Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.store = s
	for _, e := range on {
		n.raised[e.Subject] = true
	}
}

// keep records a change of subject's condition in the store (e nil: over). Called
// with n.mu held, so that the store sees the changes of a subject in their order.
func (n *Notifier) keep(subject string, e *Event) {
	if n.store == nil {
		return
	}
	var err error
	if e != nil {
		err = n.store.PutRaised(*e)
	} else {
		err = n.store.DeleteRaised(subject)
	}
	if err != nil {
		n.log.Error("notify: a condition's state not kept: after a restart it may be told again, or its end not told", "subject", subject, "err", err)
	}
}

// SetRoutes replaces the routes (after a reload); the conditions on stay on.
func (n *Notifier) SetRoutes(routes []Route) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.routes = routes
}

// Raise tells e's condition has begun, unless it was on already.
func (n *Notifier) Raise(e Event) {
	n.mu.Lock()
	if n.raised[e.Subject] {
		n.mu.Unlock()
		return
	}
	n.raised[e.Subject] = true
	n.keep(e.Subject, &e)
	routes := n.routes
	n.mu.Unlock()
	n.enqueue(routes, e)
}

// Clear tells e's condition is over, if it was on.
func (n *Notifier) Clear(e Event) {
	n.mu.Lock()
	if !n.raised[e.Subject] {
		n.mu.Unlock()
		return
	}
	delete(n.raised, e.Subject)
	n.keep(e.Subject, nil)
	routes := n.routes
	n.mu.Unlock()
	e.Cleared = true
	n.enqueue(routes, e)
}

// Once tells a one-time event (a request made).
func (n *Notifier) Once(e Event) {
	n.mu.Lock()
	routes := n.routes
	n.mu.Unlock()
	n.enqueue(routes, e)
}

// On reports whether subject's condition is on.
func (n *Notifier) On(subject string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.raised[subject]
}

func (n *Notifier) enqueue(routes []Route, e Event) {
	for _, r := range routes {
		if !r.takes(e) {
			continue
		}
		select {
		case n.queue <- delivery{r.Channel, e}:
		default:
			n.log.Error("notification dropped: too many waiting", "channel", r.Channel.Name(), "event", e.Kind, "subject", e.Subject)
		}
	}
}

// Run delivers events until ctx ends, each with its retries.
func (n *Notifier) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-n.queue:
			n.deliver(ctx, d)
		}
	}
}

func (n *Notifier) deliver(ctx context.Context, d delivery) {
	wait := n.Backoff
	for try := 1; ; try++ {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := d.ch.Send(sctx, d.e)
		cancel()
		if err == nil {
			n.log.Info("notification sent", "channel", d.ch.Name(), "event", d.e.Kind, "subject", d.e.Subject, "cleared", d.e.Cleared)
			return
		}
		if try >= n.Tries || ctx.Err() != nil {
			n.log.Error("notification not sent", "channel", d.ch.Name(), "event", d.e.Kind, "subject", d.e.Subject, "tries", try, "err", err)
			return
		}
		n.log.Warn("notification: retrying", "channel", d.ch.Name(), "event", d.e.Kind, "try", try, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// SignatureHeader carries a webhook body's HMAC-SHA256 with the channel's secret:
// "sha256=<hex>".
const SignatureHeader = "X-Cadang-Signature"

// Sign returns the signature header's value of body with secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Webhook posts events as JSON, signed.
type Webhook struct {
	ChannelName string
	URL         string
	Secret      []byte
	Client      *http.Client
}

// Name implements Channel.
func (w *Webhook) Name() string { return w.ChannelName }

// Send implements Channel: a 2xx answer is a delivery.
func (w *Webhook) Send(ctx context.Context, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Cadang-Event", e.Kind)
	req.Header.Set(SignatureHeader, Sign(w.Secret, body))
	c := w.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.ChannelName, redactURL(err))
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s: the receiver answered %s", w.ChannelName, resp.Status)
	}
	return nil
}

// redactURL keeps a URL's query (which may hold a token) out of an error.
func redactURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// Email sends events as plain-text mail over SMTP, with STARTTLS unless the server is
// on loopback and StartTLS is off.
type Email struct {
	ChannelName string
	Addr        string // host:port
	From        string
	To          []string
	Username    string
	Password    []byte
	StartTLS    bool
	RootCAs     *x509.CertPool // nil: the system's
}

// Name implements Channel.
func (m *Email) Name() string { return m.ChannelName }

// Send implements Channel.
func (m *Email) Send(ctx context.Context, e Event) error {
	host, _, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return fmt.Errorf("email %s: %w", m.ChannelName, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("email %s: %w", m.ChannelName, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("email %s: %w", m.ChannelName, err)
	}
	defer c.Close()
	if m.StartTLS {
		if err := c.StartTLS(&tls.Config{ServerName: host, RootCAs: m.RootCAs, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("email %s: STARTTLS: %w", m.ChannelName, err)
		}
	}
	if m.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.Username, string(m.Password), host)); err != nil {
			return fmt.Errorf("email %s: authentication: %w", m.ChannelName, err)
		}
	}
	if err := c.Mail(m.From); err != nil {
		return fmt.Errorf("email %s: MAIL FROM: %w", m.ChannelName, err)
	}
	for _, to := range m.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("email %s: RCPT TO %s: %w", m.ChannelName, to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("email %s: DATA: %w", m.ChannelName, err)
	}
	var msg strings.Builder
	fmt.Fprintf(&msg, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\n", m.From, strings.Join(m.To, ", "),
		mime.QEncoding.Encode("utf-8", "[cadang] "+e.Title), e.Time.Format(time.RFC1123Z))
	fmt.Fprintf(&msg, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nX-Cadang-Event: %s\r\n\r\n", e.Kind)
	msg.WriteString(strings.ReplaceAll(e.Text, "\n", "\r\n") + "\r\n")
	if _, err := w.Write([]byte(msg.String())); err != nil {
		return fmt.Errorf("email %s: %w", m.ChannelName, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("email %s: %w", m.ChannelName, err)
	}
	return c.Quit()
}

// ReadSecret reads a secret file (a webhook's key, an SMTP password): its first line.
func ReadSecret(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return []byte(strings.TrimRight(line, "\r")), nil
}

// Port is a helper for messages: host:port with a default port.
func Port(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
