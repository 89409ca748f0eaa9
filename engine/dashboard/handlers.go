package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cadang/cadang/engine/api"
)

// The routes of the dashboard:
//
//	GET  /login, POST /login          the sign-in form (an API token) -> a session
//	POST /logout                      end the session
//	GET  /?q=&agency=&state=&page=    the fleet view
//	GET  /targets/{name}              a target's page
//	POST /targets/{name}/backup       "back up now" (POST /v1/backups)
//	GET  /drills                      drills and their reports
//	GET  /reports/drill/{id}?format=  a drill's report (html opens, pdf downloads)
//	GET  /requests?status=            restore and export requests
//	POST /requests/{id}/{approve|reject}
//	GET  /audit?since=&limit=         the audit log
//	GET  /static/...                  the style sheet
//
// Every form carries the session's CSRF token; a POST without it is refused (403).
func (d *Dashboard) routes() {
	m := http.NewServeMux()
	m.Handle("GET /static/", static())
	m.HandleFunc("GET /login", d.loginPage)
	m.HandleFunc("POST /login", d.login)
	m.HandleFunc("POST /logout", d.signed(d.logout))
	m.HandleFunc("GET /{$}", d.signed(d.fleet))
	m.HandleFunc("GET /targets/{name}", d.signed(d.target))
	m.HandleFunc("POST /targets/{name}/backup", d.signed(d.backupNow))
	m.HandleFunc("GET /drills", d.signed(d.drills))
	m.HandleFunc("GET /reports/drill/{id}", d.signed(d.report))
	m.HandleFunc("GET /requests", d.signed(d.requests))
	m.HandleFunc("POST /requests/{id}/{decision}", d.signed(d.decide))
	m.HandleFunc("GET /audit", d.signed(d.audit))
	d.mux = m
}

type signedHandler func(w http.ResponseWriter, r *http.Request, u *who)

// signed serves h to a signed-in user: others are sent to the sign-in form (a GET) or
// refused (anything else). A form of a session must carry its CSRF token.
func (d *Dashboard) signed(h signedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := d.whoIs(r)
		if err != nil {
			if r.Method == http.MethodGet && r.Header.Get("Authorization") == "" {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="cadang"`)
			d.fail(w, r, nil, http.StatusUnauthorized, word(lang(r), "login.refused"))
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				d.fail(w, r, u, http.StatusBadRequest, "form: "+err.Error())
				return
			}
			if u.session != "" && !sameToken(r.PostForm.Get("csrf"), u.csrf) {
				d.o.Log.Warn("dashboard: form without its CSRF token refused", "path", r.URL.Path, "principal", u.Name, "source", r.RemoteAddr)
				d.fail(w, r, u, http.StatusForbidden, word(lang(r), "csrf"))
				return
			}
		}
		h(w, r, u)
	}
}

// apiFailed answers an API error: a token the API no longer accepts ends the session.
func (d *Dashboard) apiFailed(w http.ResponseWriter, r *http.Request, u *who, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		if ae.status == http.StatusUnauthorized && u.session != "" {
			d.sessions.close(u.session)
			setCookie(w, r, sessionCookie, "", -1)
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		d.fail(w, r, u, ae.status, ae.msg)
		return
	}
	d.fail(w, r, u, http.StatusInternalServerError, err.Error())
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	d.loginForm(w, r, http.StatusOK, "")
}

// loginForm shows the sign-in form with a fresh CSRF token (double submit: the form
// and a cookie carry the same one).
func (d *Dashboard) loginForm(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tok := randomToken()
	setCookie(w, r, loginCookie, tok, 600)
	d.render(w, r, status, "login", &who{csrf: tok}, page{Error: msg})
}

func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		d.loginForm(w, r, http.StatusBadRequest, "form: "+err.Error())
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(r.PostForm.Get("csrf"), c.Value) {
		d.fail(w, r, nil, http.StatusForbidden, word(lang(r), "csrf"))
		return
	}
	secret := r.PostForm.Get("token")
	if secret == "" || d.check(r, secret) != nil {
		d.loginForm(w, r, http.StatusUnauthorized, word(lang(r), "login.refused"))
		return
	}
	u, err := d.o.Identify(secret)
	if err != nil {
		d.loginForm(w, r, http.StatusUnauthorized, word(lang(r), "login.refused"))
		return
	}
	if u.Role == "portal" {
		d.loginForm(w, r, http.StatusForbidden, word(lang(r), "login.portal"))
		return
	}
	ss := d.sessions.open(secret, u)
	setCookie(w, r, loginCookie, "", -1)
	setCookie(w, r, sessionCookie, ss.id, int(sessionMax.Seconds()))
	d.o.Log.Info("dashboard: signed in", "principal", u.Name, "role", u.Role, "agency", u.Agency, "source", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request, u *who) {
	if u.session != "" {
		d.sessions.close(u.session)
	}
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// backupNow queues a backup of the target through the API (POST /v1/backups: the same
// call as `cadang backup`), then shows the target's page with the run.
func (d *Dashboard) backupNow(w http.ResponseWriter, r *http.Request, u *who) {
	name := r.PathValue("name")
	var run api.RunInfo
	if err := d.call(r, u, http.MethodPost, "/v1/backups", api.BackupRequest{Target: name}, &run); err != nil {
		d.apiFailed(w, r, u, err)
		return
	}
	http.Redirect(w, r, "/targets/"+url.PathEscape(name)+"?queued="+strconv.FormatUint(run.ID, 10), http.StatusSeeOther)
}

// report serves a drill's report from the API: html opens in the browser, pdf is a
// download.
func (d *Dashboard) report(w http.ResponseWriter, r *http.Request, u *who) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		d.fail(w, r, u, http.StatusBadRequest, fmt.Sprintf("run id %q", r.PathValue("id")))
		return
	}
	format := r.URL.Query().Get("format")
	if format != "pdf" {
		format = "html"
	}
	var b []byte
	q := url.Values{"format": {format}, "lang": {lang(r)}}
	if err := d.call(r, u, http.MethodGet, fmt.Sprintf("/v1/reports/drill/%d?%s", id, q.Encode()), nil, &b); err != nil {
		d.apiFailed(w, r, u, err)
		return
	}
	if format == "pdf" {
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="drill-%d.pdf"`, id))
	} else {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// The report is the API's own document: its inline styles are allowed here.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'")
	}
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

func (d *Dashboard) decide(w http.ResponseWriter, r *http.Request, u *who) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	dec := r.PathValue("decision")
	if err != nil || (dec != "approve" && dec != "reject") {
		d.fail(w, r, u, http.StatusNotFound, word(lang(r), "not.found"))
		return
	}
	var out api.Request
	if err := d.call(r, u, http.MethodPost, fmt.Sprintf("/v1/requests/%d/%s", id, dec), api.DecisionRequest{Comment: r.PostForm.Get("comment")}, &out); err != nil {
		d.apiFailed(w, r, u, err)
		return
	}
	http.Redirect(w, r, "/requests?decided="+strconv.FormatUint(id, 10), http.StatusSeeOther)
}
