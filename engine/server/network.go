package server

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cadang/cadang/engine/api"
)

// The network API (docs/operations.md, "The network API"): the same routes as the unix
// socket, behind bearer tokens. One layer, here, authenticates every request, slows
// down guessing, and checks the principal's role against the route, before any
// handler runs; the audit middleware then records what the principal did, and this
// layer records what it refused.

// Authenticator turns a bearer secret into the principal it belongs to, or says why
// not (unknown, revoked, expired: the client is told only that it is not accepted).
type Authenticator interface {
	Authenticate(secret string) (Principal, error)
}

// Limits of the network API: failed authentications per source address, and requests
// per principal.
const (
	// maxAuthFailures failed authentications from one address within authWindow
	// block it for the rest of the window.
	maxAuthFailures = 10
	authWindow      = time.Minute
	// A principal may send requestRate requests a second on average, in bursts of
	// requestBurst.
	requestRate  = 50
	requestBurst = 100
)

// NewNetwork returns the handler of the network listener: authentication, limits and
// roles in front of the API of New(s).
func NewNetwork(s Service, auth Authenticator, log *slog.Logger) http.Handler {
	am := agencyMux(s)
	n := &network{s: s, auth: auth, log: log, inner: New(s), agency: audited(s, am), agencyRoutes: am,
		idem: &idempotency{answers: map[string]*idemAnswer{}, now: time.Now}, failures: map[string]*failWindow{}, buckets: map[string]*bucket{}, now: time.Now}
	return n
}

type network struct {
	s      Service
	auth   Authenticator
	log    *slog.Logger
	inner  http.Handler // the whole API, for the data center's own principals
	agency http.Handler // the agencies' scoped API (agency.go), audited
	// agencyRoutes is the agencies' mux, to find a request's route before serving it.
	agencyRoutes *http.ServeMux
	now          func() time.Time

	idem *idempotency

	mu       sync.Mutex
	failures map[string]*failWindow // by source IP
	buckets  map[string]*bucket     // by principal
}

type failWindow struct {
	start    time.Time
	count    int
	reported bool // the block was recorded in the audit log
}

type bucket struct {
	tokens float64
	last   time.Time
}

func (n *network) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ip := remoteIP(r)
	if n.blocked(ip) {
		n.refuse(w, r, Principal{}, http.StatusTooManyRequests, "too_many_failures",
			"too many failed authentications from this address: wait a minute")
		return
	}
	secret, ok := bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cadang"`)
		n.refuse(w, r, Principal{}, http.StatusUnauthorized, "unauthenticated", "a bearer token is required (Authorization: Bearer ...)")
		return
	}
	p, err := n.auth.Authenticate(secret)
	if err != nil {
		n.failed(ip)
		n.log.Warn("api: authentication refused", "source", ip, "path", r.URL.Path, "why", err)
		w.Header().Set("WWW-Authenticate", `Bearer realm="cadang", error="invalid_token"`)
		n.refuse(w, r, Principal{}, http.StatusUnauthorized, "invalid_token", "the token is not accepted (unknown, revoked or expired)")
		return
	}
	if !n.take(p.Name) {
		n.refuse(w, r, p, http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("more than %d requests a second from token %q: slow down", requestRate, p.Name))
		return
	}
	if p.Role == "portal" {
		// The portal acts for the agency each request names, with a requester's rights.
		p.Agency = r.Header.Get(api.OnBehalfOfHeader)
		if p.Agency == "" {
			n.refuse(w, r, p, http.StatusBadRequest, "on_behalf_of_required", "a portal token acts for an agency: give it in "+api.OnBehalfOfHeader)
			return
		}
	}
	if why := permitted(p, r); why != "" {
		n.refuse(w, r, p, http.StatusForbidden, "forbidden", why)
		return
	}
	r = r.WithContext(WithPrincipal(r.Context(), p))
	if !agencyRole(p.Role) {
		n.idem.serve(w, r, p, n.inner)
		return
	}
	if _, pattern := n.agencyRoutes.Handler(r); pattern == "" {
		n.refuse(w, r, p, http.StatusForbidden, "forbidden", fmt.Sprintf("role %q may not use %s %s: the agencies' API serves %s", p.Role, r.Method, r.URL.Path, strings.Join(AgencyRoutes, ", ")))
		return
	} else if agencyWrites[pattern] && p.Role == "agency-viewer" {
		n.refuse(w, r, p, http.StatusForbidden, "forbidden", "an agency viewer reads; it changes nothing")
		return
	}
	n.idem.serve(w, r, p, n.agency)
}

// permitted says why p may not make request r, or "" when it may. Roles, in one place:
//   - operator: every route but the tokens' own (tokens are made at the daemon's
//     host, on the unix socket, so that a stolen token cannot mint others);
//   - auditor: reads every record (runs, snapshots, reports, alarms, the audit log),
//     never data (GET /v1/ls), and changes nothing;
//   - the agencies' roles and the portal (acting for the agency its request names):
//     only the routes of the agencies' scoped API (agency.go), on their own agency's
//     objects; the viewer reads only.
func permitted(p Principal, r *http.Request) string {
	path := r.URL.Path
	switch p.Role {
	case "operator":
		if path == "/v1/tokens" || strings.HasPrefix(path, "/v1/tokens/") {
			return "tokens are managed at the daemon's host only (cadang token, on the unix socket)"
		}
		return ""
	case "auditor":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return "an auditor reads; it changes nothing"
		}
		if dataReads[r.Method+" "+path] {
			return "an auditor reads cadang's records, never the agencies' data"
		}
		return ""
	}
	if agencyRole(p.Role) && p.Agency != "" {
		return "" // the agencies' mux decides, route by route (agency.go)
	}
	return fmt.Sprintf("role %q is not served on the network", p.Role)
}

// refuse answers an error with a stable code and records the refusal.
func (n *network) refuse(w http.ResponseWriter, r *http.Request, p Principal, status int, code, msg string) {
	writeJSON(w, status, api.Error{Error: msg, Code: code})
	if status == http.StatusTooManyRequests && !n.reportBlock(remoteIP(r), p) {
		return // a flood is recorded once a window, not once a request
	}
	name := p.Name
	if name == "" {
		name = "anonymous"
	}
	n.s.RecordAudit(api.AuditEntry{
		Principal: name,
		Role:      p.Role,
		Agency:    p.Agency,
		Action:    r.Method + " " + oneLine(r.URL.Path, 200),
		Ticket:    oneLine(r.Header.Get(api.TicketHeader), 100),
		Status:    status,
		Result:    msg,
		Source:    r.RemoteAddr,
	}, "", 0)
}

// blocked reports whether ip failed too often in the current window.
func (n *network) blocked(ip string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	f := n.failures[ip]
	if f == nil {
		return false
	}
	if n.now().Sub(f.start) >= authWindow {
		delete(n.failures, ip)
		return false
	}
	return f.count >= maxAuthFailures
}

func (n *network) failed(ip string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	f := n.failures[ip]
	if f == nil || now.Sub(f.start) >= authWindow {
		f = &failWindow{start: now}
		n.failures[ip] = f
	}
	f.count++
	if len(n.failures) > 100_000 { // bounded memory under a spread-out attack
		for k, v := range n.failures {
			if now.Sub(v.start) >= authWindow {
				delete(n.failures, k)
			}
		}
	}
}

// reportBlock says whether a 429 is the first of its window for ip or p (recorded).
func (n *network) reportBlock(ip string, p Principal) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	key := ip
	if p.Name != "" {
		key = "token:" + p.Name
	}
	f := n.failures[key]
	now := n.now()
	if f == nil || now.Sub(f.start) >= authWindow {
		f = &failWindow{start: now}
		n.failures[key] = f
	}
	if f.reported {
		return false
	}
	f.reported = true
	return true
}

// take spends one request of the principal's bucket.
func (n *network) take(name string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	b := n.buckets[name]
	if b == nil {
		b = &bucket{tokens: requestBurst, last: now}
		n.buckets[name] = b
	}
	b.tokens = min(requestBurst, b.tokens+now.Sub(b.last).Seconds()*requestRate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// bearer is the secret of an "Authorization: Bearer <secret>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	secret = strings.TrimSpace(secret)
	return secret, secret != ""
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
