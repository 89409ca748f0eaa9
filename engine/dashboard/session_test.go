package dashboard

import (
	"testing"
	"time"
)

// Sessions end an hour after their last request, twelve hours after sign-in, or at
// sign-out; each has its own CSRF token.
func TestSessionsExpire(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	s := &sessions{m: map[string]*session{}, now: func() time.Time { return now }}
	a := s.open("secret-a", User{Name: "token:a", Role: "operator"})
	b := s.open("secret-b", User{Name: "token:b", Role: "auditor"})
	if a.id == b.id || a.csrf == b.csrf || a.csrf == "" || len(a.id) != 64 {
		t.Fatalf("sessions share ids or tokens: %+v %+v", a, b)
	}
	// a is used every 50 minutes; b is left alone.
	for range 10 {
		now = now.Add(50 * time.Minute)
		if s.get(a.id) == nil {
			t.Fatalf("a session in use ended at %s", now)
		}
	}
	if s.get(b.id) != nil {
		t.Error("a session an hour idle is still open")
	}
	now = now.Add(50 * time.Minute) // 9h10 after sign-in: still within 12h
	if s.get(a.id) == nil {
		t.Fatal("a session in use ended before 12 hours")
	}
	for range 4 {
		now = now.Add(50 * time.Minute)
		s.get(a.id)
	}
	if s.get(a.id) != nil {
		t.Error("a session is open more than 12 hours after sign-in")
	}
	c := s.open("secret-c", User{Name: "token:c"})
	s.close(c.id)
	if s.get(c.id) != nil || s.get("") != nil {
		t.Error("a closed (or empty) session id is accepted")
	}
	if sameToken("", "") || !sameToken(c.csrf, c.csrf) || sameToken(c.csrf, a.csrf) {
		t.Error("sameToken compares wrongly")
	}
}
