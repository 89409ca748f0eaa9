package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/cadang/cadang/engine/api"
)

// The audit log is written here, in one middleware, never by a handler: every request
// that changes something (every method but GET and HEAD, refused or not, even to a
// route that does not exist) and every read of data (dataReads) is recorded after its
// handler answered, with the status and a short outcome.

// dataReads are the GET routes that read the agencies' data, not just cadang's records.
var dataReads = map[string]bool{
	"GET /v1/ls":                    true,
	"GET /v1/exports/{id}/download": true, // the hand-over of an export
}

// Principal is who sent a request, as the audit log records it.
type Principal struct {
	Name   string // "uid:0" for the unix socket's peer
	Role   string // operator, ...
	Agency string // the agency a principal acts for, "" for the data center's own
}

type principalKey struct{}

// WithPrincipal returns ctx saying that p sent the request: an authenticating layer
// (tokens) states it so; without one, the unix socket's peer is the principal.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalOf returns who sent r: what an authenticating layer said, else the unix
// socket's peer, who is an operator (the socket is its owner's alone, mode 0600).
func principalOf(r *http.Request) Principal {
	if p, ok := r.Context().Value(principalKey{}).(Principal); ok {
		return p
	}
	if cred, ok := r.Context().Value(peerKey{}).(syscall.Ucred); ok {
		return Principal{Name: "uid:" + strconv.FormatUint(uint64(cred.Uid), 10), Role: "operator"}
	}
	return Principal{Name: "unknown"}
}

// source is where r came from: "unix" for the socket, else the remote address.
func source(r *http.Request) string {
	if _, ok := r.Context().Value(peerKey{}).(syscall.Ucred); ok || r.RemoteAddr == "" || r.RemoteAddr == "@" {
		return "unix"
	}
	return r.RemoteAddr
}

// maxAuditPeek is how much of a request's body is read for its object: what decode
// accepts at most.
const maxAuditPeek = 1 << 20

// audited records the requests next answers that the audit log keeps.
func audited(s Service, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mutating := r.Method != http.MethodGet && r.Method != http.MethodHead
		var body requestObject
		if mutating && r.Body != nil {
			// Read the body for its object, and hand the handler the same bytes
			// (and, past the limit, the rest, so that it refuses it as before).
			peek, err := io.ReadAll(io.LimitReader(r.Body, maxAuditPeek+1))
			if err == nil && len(peek) <= maxAuditPeek {
				_ = json.Unmarshal(peek, &body)
			}
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(peek), r.Body), r.Body}
		}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if !mutating && !dataReads[r.Pattern] {
			return
		}
		action := r.Pattern
		if action == "" { // no route: what was asked
			action = r.Method + " " + r.URL.Path
		}
		if body.Target == "" {
			body.Target = r.URL.Query().Get("target")
		}
		var run uint64
		object := body.Target
		id, idErr := strconv.ParseUint(r.PathValue("id"), 10, 64)
		switch {
		case strings.HasPrefix(r.Pattern, r.Method+" /v1/runbook"), strings.HasPrefix(r.Pattern, r.Method+" /v1/reports/runbook/"):
			// Runbook runs are no catalog runs: named, never looked up as one.
			object = "runbook " + r.PathValue("name")
			if r.PathValue("id") != "" {
				object = "runbook run " + r.PathValue("id")
			}
		case idErr == nil && (strings.HasPrefix(r.Pattern, r.Method+" /v1/requests/") || strings.HasPrefix(r.Pattern, r.Method+" /v1/exports/")):
			object = "request " + r.PathValue("id")
			if req, err := s.Request(id, ""); err == nil {
				body.Target = req.Target // its agency's entry
			}
		case idErr == nil && object == "":
			run, object = id, "run "+r.PathValue("id")
		}
		if object == "" && body.DRC != "" {
			object = "drc " + body.DRC
		}
		if name := r.PathValue("name"); name != "" && object == "" && strings.HasPrefix(r.Pattern, r.Method+" /v1/tokens/") {
			object = "token " + name // POST /v1/tokens/{name}/revoke
		} else if r.Pattern == "POST /v1/tokens" && body.Name != "" && object == "" {
			object = "token " + body.Name
		}
		p := principalOf(r)
		agency := body.Agency
		if agency == "" {
			agency = p.Agency
		}
		s.RecordAudit(api.AuditEntry{
			Principal: p.Name,
			Role:      p.Role,
			Agency:    agency,
			Action:    action,
			Object:    oneLine(object, 200),
			Ticket:    oneLine(r.Header.Get(api.TicketHeader), 100),
			Status:    rec.code(),
			Result:    rec.outcome(),
			Source:    source(r),
		}, body.Target, run)
	})
}

// requestObject is what a request body says about its object; the request types of
// engine/api name them so.
type requestObject struct {
	Target string `json:"target"`
	Agency string `json:"agency"`
	DRC    string `json:"drc"`
	Name   string `json:"name"` // a token's (POST /v1/tokens); never its secret, which no request holds
}

// statusRecorder notes the status a handler answered, and the start of an error's body.
type statusRecorder struct {
	http.ResponseWriter
	status int
	body   []byte // of an error answer, up to maxErrBody bytes
}

const maxErrBody = 4 << 10

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.status >= 400 && len(r.body) < maxErrBody {
		r.body = append(r.body, b[:min(len(b), maxErrBody-len(r.body))]...)
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) code() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// outcome is "ok", or the error's first line.
func (r *statusRecorder) outcome() string {
	if r.code() < 400 {
		return "ok"
	}
	var e api.Error
	if json.Unmarshal(r.body, &e) == nil && e.Error != "" {
		return oneLine(e.Error, 200)
	}
	if s := oneLine(string(r.body), 200); s != "" {
		return s
	}
	return http.StatusText(r.code())
}

// oneLine is the first line of s, at most max bytes (whole runes).
func oneLine(s string, max int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = strings.TrimSpace(s)
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}

func (h *handlers) audit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			fail(w, fmt.Errorf("%w: limit %q", ErrBadRequest, s))
			return
		}
		limit = n
	}
	var since time.Time
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t, err = time.ParseInLocation("2006-01-02", s, h.s.Zone())
		}
		if err != nil {
			fail(w, fmt.Errorf("%w: since %q: give a time (RFC 3339) or a date (YYYY-MM-DD)", ErrBadRequest, s))
			return
		}
		since = t
	}
	out, err := h.s.Audit(q.Get("agency"), since, limit)
	answer(w, out, err)
}

func (h *handlers) auditVerify(w http.ResponseWriter, _ *http.Request) {
	out, err := h.s.AuditVerify()
	answer(w, out, err)
}
