package engine

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cadang/cadang/engine/config"
)

// An agency's restore goes only where its target's api.restore_destinations allow
// (config.TargetAPI says what each kind's entries mean). The operator's restores, on
// the unix socket, are not bound by them.

// checkDestination says why an agency may not restore t's snapshot as req asks, or nil.
func checkDestination(t *config.Target, req RestoreRequest) error {
	allowed := t.API.RestoreDestinations
	if len(allowed) == 0 {
		return fmt.Errorf("target %q allows agencies no restore destination (api.restore_destinations): ask the data center", t.Name)
	}
	var paths, names []string
	for _, a := range allowed {
		if strings.HasPrefix(a, "/") {
			paths = append(paths, a)
		} else {
			names = append(names, a)
		}
	}
	switch t.Kind {
	case "files":
		return underPrefix(t.Name, req.To, paths)
	case "postgres", "mysql":
		return databaseDestination(t, req.To, names)
	case "libvirt":
		if err := underPrefix(t.Name, req.To, paths); err != nil {
			return err
		}
		define := req.Options["define"]
		for _, p := range names {
			if define != "" && strings.HasPrefix(define, p) && len(define) > len(p) {
				return nil
			}
		}
		return fmt.Errorf("target %q: an agency's VM restore defines a new domain named %s... (options.define), not %q", t.Name, strings.Join(names, "... or "), define)
	}
	return fmt.Errorf("target %q: a %s target is not restored at an agency's request", t.Name, t.Kind)
}

// underPrefix says whether to is one of the prefixes or below one, both as written
// and once the symbolic links in what exists of it are resolved (so that a link
// inside an allowed folder cannot lead a restore out of it).
func underPrefix(target, to string, prefixes []string) error {
	refuse := func() error {
		return fmt.Errorf("target %q: restore destination %q is outside the folders allowed to agencies (%s)", target, to, strings.Join(prefixes, ", "))
	}
	if parts := strings.Split(to, "/"); !filepath.IsAbs(to) || slices.Contains(parts, "..") || slices.Contains(parts, ".") {
		return fmt.Errorf("target %q: restore destination %q: give an absolute path without . or .. parts", target, to)
	}
	to = filepath.Clean(to)
	resolved, err := resolveExisting(to)
	if err != nil {
		return fmt.Errorf("target %q: restore destination %q: %v", target, to, err)
	}
	for _, p := range prefixes {
		rp, err := resolveExisting(p)
		if err != nil {
			continue
		}
		if within(to, p) && within(resolved, rp) {
			return nil
		}
	}
	return refuse()
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// resolveExisting resolves the symbolic links of the longest part of p that exists,
// and joins the rest to it.
func resolveExisting(p string) (string, error) {
	rest := ""
	for d := p; ; d = filepath.Dir(d) {
		r, err := filepath.EvalSymlinks(d)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		if d == filepath.Dir(d) {
			return p, nil
		}
		rest = filepath.Join(filepath.Base(d), rest)
	}
}

// databaseDestination says whether to is a database of t's own server whose name one
// of the patterns matches: scheme:///NAME, no host, user, password file or option of
// the agency's choosing.
func databaseDestination(t *config.Target, to string, patterns []string) error {
	scheme := t.Kind
	u, err := url.Parse(to)
	if err != nil || (u.Scheme != scheme && !(scheme == "postgres" && u.Scheme == "postgresql") && !(scheme == "mysql" && u.Scheme == "mariadb")) {
		return fmt.Errorf("target %q: an agency restores a database to %s:///NAME (a new database on the target's own server), not %q", t.Name, scheme, to)
	}
	if u.Host != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("target %q: restore destination %q: an agency names only the database (%s:///NAME), on the target's own server, with its own credentials", t.Name, to, scheme)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("target %q: restore destination %q names no database: use %s:///NAME", t.Name, to, scheme)
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return nil
		}
	}
	return fmt.Errorf("target %q: database %q is not one an agency may restore to (%s)", t.Name, name, strings.Join(patterns, ", "))
}
