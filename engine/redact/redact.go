// Package redact keeps secrets that callers send (a password in a restore
// destination's URL) out of what cadang stores, prints and answers. It imports nothing
// of cadang: the catalog (for its migrations) and the engine both use it.
package redact

import (
	"net/url"
	"strings"
)

// Secrets in what a caller sends: a restore destination may be a URL with a password,
// in its user info (postgres://u:pw@host/db) or in its query (?password=pw). The
// catalog, the API, the logs and the run's error and notes only ever see it redacted:
// the destination is stored Mask, and every occurrence of the secret values in
// what the run writes is replaced, whatever the kind put in its error text.

// Mask replaces a secret in what cadang stores and prints.
const Mask = "xxxxx"

// secretParam reports whether a URL query parameter holds a secret.
func secretParam(key string) bool {
	k := strings.ToLower(key)
	for _, w := range []string{"pass", "pwd", "secret", "token", "key"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// URL returns s with the secrets of a URL replaced (the password of its user
// info, the values of its secret query parameters); s that is not a URL with a scheme
// is returned as it is.
func URL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return s
	}
	changed := false
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Mask)
			changed = true
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k, vs := range q {
			if secretParam(k) {
				for i := range vs {
					vs[i] = Mask
				}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	if !changed {
		return s
	}
	return u.String()
}

// Secrets returns the secret values in a URL (see URL), raw and as they
// appear escaped, so that they can be scrubbed from any text.
func Secrets(s string) []string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return nil
	}
	var out []string
	add := func(v string) {
		if v == "" || v == Mask {
			return
		}
		out = append(out, v)
		if e := url.QueryEscape(v); e != v {
			out = append(out, e)
		}
		if e := url.PathEscape(v); e != v {
			out = append(out, e)
		}
	}
	if u.User != nil {
		if pw, has := u.User.Password(); has {
			add(pw)
		}
	}
	for k, vs := range u.Query() {
		if secretParam(k) {
			for _, v := range vs {
				add(v)
			}
		}
	}
	return out
}

// Scrub replaces every secret in s.
func Scrub(s string, secrets []string) string {
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, Mask)
	}
	return s
}

// scrubbedError is an error whose text had secrets replaced; it still unwraps to the
// original, so that errors.Is and errors.As see through it.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// Error returns err with the secrets replaced in its text.
func Error(err error, secrets []string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	msg := Scrub(err.Error(), secrets)
	if msg == err.Error() {
		return err
	}
	return &scrubbedError{msg: msg, err: err}
}
