// Package oneline makes any text fit one line of a run record, an error answer or a
// report: cadang's errors are one line each (STYLE: "a clear one-line error").
//
// One behaviour everywhere: every line is trimmed, empty lines are dropped, the rest
// are joined with "; ", and the result is cut at Max bytes (at a character boundary)
// with "…". Nothing of the text is dropped silently before that bound.
//
// It imports nothing of cadang; any package may use it.
package oneline

import (
	"strings"
	"unicode/utf8"
)

// Max is the longest line Of returns, in bytes, before its "…".
const Max = 600

// Of returns s as one line (see the package doc).
func Of(s string) string {
	if !strings.ContainsAny(s, "\r\n") && len(s) <= Max && strings.TrimSpace(s) == s {
		return s
	}
	var parts []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return cut(strings.Join(parts, "; "), Max)
}

// Error is Of(err.Error()), "" for nil.
func Error(err error) string {
	if err == nil {
		return ""
	}
	return Of(err.Error())
}

// cut bounds s to max bytes at a character boundary, marking the cut with "…".
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
