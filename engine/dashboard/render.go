package dashboard

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// pageTemplate is the layout with one page's content.
type pageTemplate = template.Template

// pageNames are the templates under templates/ besides the layout.
var pageNames = []string{"login", "fleet", "target", "drills", "requests", "audit", "error"}

func parsePages() map[string]*pageTemplate {
	out := map[string]*pageTemplate{}
	for _, name := range pageNames {
		out[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html"))
	}
	return out
}

var funcs = template.FuncMap{
	"bytes": humanBytes,
	"dur": func(from, to time.Time) string {
		if from.IsZero() || to.IsZero() {
			return ""
		}
		return to.Sub(from).Round(time.Second).String()
	},
	"add": func(a, b int) int { return a + b },
}

// page is what every template gets.
type page struct {
	Lang  string
	User  User
	CSRF  string
	Path  string // the request's path and query, for the language switch
	Flash string
	Error string
	Data  any
	loc   *time.Location
}

// T is key's text in the page's language.
func (p *page) T(key string) string { return word(p.Lang, key) }

// S is a state the API names (a run's status, a DRC's, ...) in the page's language.
func (p *page) S(v any) string { return word(p.Lang, fmt.Sprint(v)) }

// Time formats t in the daemon's zone.
func (p *page) Time(t any) string {
	var tt time.Time
	switch v := t.(type) {
	case time.Time:
		tt = v
	case *time.Time:
		if v == nil {
			return "—"
		}
		tt = *v
	}
	if tt.IsZero() {
		return "—"
	}
	return tt.In(p.loc).Format("2006-01-02 15:04 MST")
}

// Other is the page's URL in the other language.
func (p *page) Other() string {
	u, err := url.Parse(p.Path)
	if err != nil {
		u = &url.URL{Path: "/"}
	}
	q := u.Query()
	q.Set("lang", map[string]string{langID: langEN, langEN: langID}[p.Lang])
	u.RawQuery = q.Encode()
	return u.String()
}

// Operator, Auditor: the data center's own roles (they see every agency).
func (p *page) Operator() bool { return p.User.Role == "operator" }
func (p *page) Auditor() bool  { return p.User.Role == "auditor" }

// CanChange: the role may queue a backup or decide a request (the API decides each).
func (p *page) CanChange() bool {
	switch p.User.Role {
	case "operator", "agency-admin", "agency-requester":
		return true
	}
	return false
}

// lang is the request's language: ?lang= (which render keeps in a cookie), else the
// cookie, else id.
func lang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == langID || l == langEN {
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == langEN || c.Value == langID) {
		return c.Value
	}
	return langID
}

// render writes a page; a template that fails is a 500 with one line.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, u *who, p page) {
	p.Lang = lang(r)
	if l := r.URL.Query().Get("lang"); l == p.Lang {
		setCookie(w, r, langCookie, l, 365*24*3600)
	}
	p.Path = r.URL.RequestURI()
	p.loc = d.loc()
	if u != nil {
		p.User, p.CSRF = u.User, u.csrf
	}
	var buf bytes.Buffer
	if err := d.pages[name].ExecuteTemplate(&buf, "layout", &p); err != nil {
		d.o.Log.Error("dashboard: template", "page", name, "err", err)
		http.Error(w, "dashboard: page "+name+": template failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders an error page: the API's status and its one-line message.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, u *who, status int, msg string) {
	d.render(w, r, status, "error", u, page{Error: msg, Data: status})
}

func humanBytes(v any) string {
	var n float64
	switch x := v.(type) {
	case uint64:
		n = float64(x)
	case int64:
		n = float64(x)
	case *uint64:
		if x == nil {
			return "—"
		}
		n = float64(*x)
	default:
		return fmt.Sprint(v)
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", n, units[i])
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}

// static serves the embedded style sheet.
func static() http.Handler {
	sub, _ := fs.Sub(assets, "static")
	fsrv := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}
