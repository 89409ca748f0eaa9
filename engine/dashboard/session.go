package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// Sessions: a signed-in user is a random session id in a cookie (HttpOnly,
// SameSite=Strict, Secure when the listener speaks TLS) that names, in this process's
// memory only, the API token it signed in with. Sessions are kept in memory on
// purpose: the token's secret is never written anywhere, and a daemon restart signs
// everyone out. A session ends sessionIdle after its last request, sessionMax after
// sign-in, at sign-out, or at once when the API no longer accepts its token (revoked,
// expired).
const (
	sessionCookie = "cadang_session"
	loginCookie   = "cadang_login" // the sign-in form's CSRF token (double submit)
	langCookie    = "cadang_lang"
	sessionIdle   = time.Hour
	sessionMax    = 12 * time.Hour
	maxSessions   = 10_000
)

// session is a signed-in user.
type session struct {
	id      string
	secret  string // the API token
	user    User
	csrf    string // every form of the session carries it
	created time.Time
	seen    time.Time
}

type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	now func() time.Time
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail (Go 1.24)
	return hex.EncodeToString(b)
}

// open starts a session for user, who signed in with secret.
func (s *sessions) open(secret string, u User) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.m) >= maxSessions {
		for id, ss := range s.m {
			if s.expired(ss, now) {
				delete(s.m, id)
			}
		}
	}
	ss := &session{id: randomToken(), secret: secret, user: u, csrf: randomToken(), created: now, seen: now}
	s.m[ss.id] = ss
	return ss
}

func (s *sessions) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.seen) > sessionIdle || now.Sub(ss.created) > sessionMax
}

// get returns the live session named by id, or nil.
func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss == nil {
		return nil
	}
	now := s.now()
	if s.expired(ss, now) {
		delete(s.m, id)
		return nil
	}
	ss.seen = now
	return ss
}

func (s *sessions) close(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// sameToken compares two CSRF tokens in constant time ("" never matches).
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}
