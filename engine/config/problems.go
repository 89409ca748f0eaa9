package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration file, with the place it was found.
type Problem struct {
	File    string
	Line    int
	Column  int
	Path    string // e.g. targets[2].files.paths
	Subject string // e.g. target "portal-files": files.paths
	Message string
}

func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
	}
	if p.Subject == "" {
		return fmt.Sprintf("%s: %s", loc, p.Message)
	}
	return fmt.Sprintf("%s: %s: %s", loc, p.Subject, p.Message)
}

// Error is returned by Load when the configuration has problems; it holds all of them.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Problems collects problems while a file is decoded and validated.
type Problems struct {
	file string
	list []Problem
}

func (ps *Problems) add(line, col int, path, msg string) {
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Column: col, Path: path, Message: msg})
}

func (ps *Problems) err(names map[string]string) error {
	if len(ps.list) == 0 {
		return nil
	}
	out := make([]Problem, len(ps.list))
	for i, p := range ps.list {
		p.Subject = subject(p.Path, names)
		out[i] = p
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Column < out[j].Column
	})
	return &Error{Problems: out}
}

var listItem = regexp.MustCompile(`^(targets|drcs|agencies)\[(\d+)\]\.?(.*)$`)

// subject turns a path into the words a user recognises: targets[2].files.paths becomes
// `target "portal-files": files.paths` when the third target is named portal-files.
func subject(path string, names map[string]string) string {
	m := listItem.FindStringSubmatch(path)
	if m == nil {
		return path
	}
	head := m[1] + "[" + m[2] + "]"
	if name := names[head]; name != "" {
		noun := map[string]string{"targets": "target", "drcs": "drc", "agencies": "agency"}[m[1]]
		head = noun + " " + strconv.Quote(name)
	}
	if m[3] == "" {
		return head
	}
	return head + ": " + m[3]
}
