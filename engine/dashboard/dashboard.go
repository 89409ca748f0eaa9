package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cadang/cadang/engine/api"
)

//go:embed templates/*.html static/*
var assets embed.FS

// User is who a token belongs to: its name, role and agency ("" for the data
// center's own), as the API authenticates it.
type User struct {
	Name   string
	Role   string
	Agency string
}

// Options are what the dashboard is given.
type Options struct {
	// API is the network API's handler (authentication, roles, agency scoping, audit):
	// every page is made of calls to it with the user's own token.
	API http.Handler
	// Identify names the user of a token the API accepted (for what the pages offer:
	// the API decides what is allowed).
	Identify func(secret string) (User, error)
	Log      *slog.Logger
	Now      func() time.Time // injected clock; time.Now if nil
}

// Dashboard is the handler served at / of the network listener: the API's own routes
// (/v1/..., /metrics) go to the API unchanged, every other path is the dashboard's.
type Dashboard struct {
	o        Options
	sessions *sessions
	mux      *http.ServeMux
	pages    map[string]*pageTemplate

	zoneMu sync.Mutex
	zone   *time.Location
}

// New returns the dashboard in front of o.API.
func New(o Options) *Dashboard {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	d := &Dashboard{o: o, sessions: &sessions{m: map[string]*session{}, now: o.Now}, zone: time.UTC}
	d.pages = parsePages()
	d.routes()
	return d
}

// ServeHTTP sends the API's paths to the API, the rest to the dashboard's pages.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v1/") || r.URL.Path == "/metrics" {
		d.o.API.ServeHTTP(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	d.mux.ServeHTTP(w, r)
}

// who is the user of a request: its session, or its bearer token (for scripts: no
// session, no CSRF token needed, as no browser sends it by itself).
type who struct {
	User
	secret  string
	csrf    string // "" for a bearer token
	session string
}

// errSignedOut: no session, or the API no longer accepts its token.
var errSignedOut = errors.New("signed out")

// whoIs authenticates r. A bearer token is checked through the API first, so that a
// wrong one counts against its address there (the API's limit on guessing).
func (d *Dashboard) whoIs(r *http.Request) (*who, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, secret, _ := strings.Cut(h, " ")
		secret = strings.TrimSpace(secret)
		if !strings.EqualFold(scheme, "Bearer") || secret == "" {
			return nil, errSignedOut
		}
		if err := d.check(r, secret); err != nil {
			return nil, err
		}
		u, err := d.o.Identify(secret)
		if err != nil {
			return nil, errSignedOut
		}
		return &who{User: u, secret: secret}, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, errSignedOut
	}
	ss := d.sessions.get(c.Value)
	if ss == nil {
		return nil, errSignedOut
	}
	return &who{User: ss.user, secret: ss.secret, csrf: ss.csrf, session: ss.id}, nil
}

// check asks the API whether it accepts secret (a cheap GET every role may make).
func (d *Dashboard) check(r *http.Request, secret string) error {
	err := d.call(r, &who{secret: secret}, http.MethodGet, "/v1/openapi.json", nil, nil)
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusUnauthorized {
		return errSignedOut
	}
	return err
}

// apiError is an error answer of the API.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// recorder is the response of an in-process API call.
type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.h }
func (rec *recorder) WriteHeader(code int) {
	if rec.code == 0 {
		rec.code = code
	}
}
func (rec *recorder) Write(b []byte) (int, error) {
	rec.WriteHeader(http.StatusOK)
	return rec.body.Write(b)
}

// call makes one API request as u, in-process: body is sent as JSON, the answer is
// decoded into out (a *[]byte takes the bytes as they are; nil: discarded).
func (d *Dashboard) call(r *http.Request, u *who, method, path string, body, out any) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx := r.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return err
	}
	req.RemoteAddr, req.TLS = r.RemoteAddr, r.TLS
	req.Header.Set("Authorization", "Bearer "+u.secret)
	req.Header.Set("Content-Type", "application/json")
	rec := &recorder{h: http.Header{}}
	d.o.API.ServeHTTP(rec, req)
	if z := rec.h.Get(api.ZoneHeader); z != "" {
		d.setZone(z)
	}
	if rec.code >= 400 {
		var e api.Error
		if json.Unmarshal(rec.body.Bytes(), &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s %s: HTTP %d", method, path, rec.code)
		}
		return &apiError{status: rec.code, msg: e.Error}
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*o = bytes.Clone(rec.body.Bytes())
		return nil
	}
	return json.Unmarshal(rec.body.Bytes(), out)
}

// setZone keeps the daemon's time zone (every API answer names it): times are shown in it.
func (d *Dashboard) setZone(name string) {
	d.zoneMu.Lock()
	defer d.zoneMu.Unlock()
	if d.zone.String() == name {
		return
	}
	if loc, err := time.LoadLocation(name); err == nil {
		d.zone = loc
	}
}

func (d *Dashboard) loc() *time.Location {
	d.zoneMu.Lock()
	defer d.zoneMu.Unlock()
	return d.zone
}
