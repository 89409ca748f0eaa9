package server

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/cadang/cadang/engine/api"
)

// Idempotency-Key (network API): a portal that retries a POST after a lost answer sends
// the same key again and gets the first answer again, not a second run. Answers are
// kept per principal and key for idempotencyTTL, in the daemon's memory: a restart of
// the daemon forgets them (a retry after a restart may start a second run; the run
// list shows it).

// IdempotencyHeader is the header of a request's idempotency key.
const IdempotencyHeader = "Idempotency-Key"

const (
	idempotencyTTL = 24 * time.Hour
	maxIdempotent  = 10_000 // answers kept at most (the oldest go first)
)

type idemAnswer struct {
	at       time.Time
	bodyHash [32]byte
	status   int
	header   http.Header
	body     []byte
	done     chan struct{} // closed once the first request's answer is kept
}

type idempotency struct {
	mu      sync.Mutex
	answers map[string]*idemAnswer
	order   []string
	now     func() time.Time
}

// serve answers r with next, or with the kept answer of an earlier request of the
// same principal with the same key and the same body.
func (c *idempotency) serve(w http.ResponseWriter, r *http.Request, p Principal, next http.Handler) {
	key := r.Header.Get(IdempotencyHeader)
	if key == "" || r.Method != http.MethodPost {
		next.ServeHTTP(w, r)
		return
	}
	if len(key) > 200 {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "Idempotency-Key: at most 200 characters", Code: "bad_request"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAuditPeek+1))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "reading the request: " + err.Error(), Code: "bad_request"})
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	id := p.Name + "\x00" + p.Agency + "\x00" + r.URL.Path + "\x00" + key
	sum := sha256.Sum256(body)

	c.mu.Lock()
	now := c.now()
	if a := c.answers[id]; a != nil && now.Sub(a.at) < idempotencyTTL {
		c.mu.Unlock()
		<-a.done
		if a.bodyHash != sum {
			writeJSON(w, http.StatusUnprocessableEntity, api.Error{Error: "Idempotency-Key " + key + " was used with another request body", Code: "idempotency_key_reused"})
			return
		}
		for k, v := range a.header {
			w.Header()[k] = v
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
		return
	}
	a := &idemAnswer{at: now, bodyHash: sum, done: make(chan struct{})}
	c.answers[id] = a
	c.order = append(c.order, id)
	for len(c.order) > maxIdempotent {
		delete(c.answers, c.order[0])
		c.order = c.order[1:]
	}
	c.mu.Unlock()

	rec := &keepRecorder{ResponseWriter: w}
	next.ServeHTTP(rec, r)
	a.status, a.header, a.body = rec.code(), w.Header().Clone(), rec.body.Bytes()
	if a.status >= 500 {
		// A failure of the daemon is not an answer to keep: a retry tries again.
		c.mu.Lock()
		delete(c.answers, id)
		c.mu.Unlock()
	}
	close(a.done)
}

// keepRecorder passes an answer through and keeps a copy of it.
type keepRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (k *keepRecorder) WriteHeader(code int) {
	if k.status == 0 {
		k.status = code
	}
	k.ResponseWriter.WriteHeader(code)
}

func (k *keepRecorder) Write(b []byte) (int, error) {
	if k.status == 0 {
		k.status = http.StatusOK
	}
	k.body.Write(b)
	return k.ResponseWriter.Write(b)
}

func (k *keepRecorder) code() int {
	if k.status == 0 {
		return http.StatusOK
	}
	return k.status
}
