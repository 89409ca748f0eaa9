package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cadang/cadang/runbooks"
	"github.com/cadang/cadang/targets/libvirt"
)

// RunbookRoles are the roles a manual gate may name: the API's token roles that may
// change something for the data center (an auditor reads; it confirms nothing).
var RunbookRoles = []string{"operator"}

// loadRunbooksDir decodes every *.yaml and *.yml file of dir as one runbook (the shape
// of a `runbooks:` entry) into c.Runbooks. Problems are located in the runbook's own
// file; they go to ps (the main file's problems are separate).
func (c *Config) loadRunbooksDir(dir string) []Problem {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return []Problem{{File: c.File, Path: "runbooks_dir", Message: fmt.Sprintf("runbooks_dir: %v", err)}}
	}
	var out []Problem
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		file := filepath.Join(dir, name)
		rb, problems := decodeRunbookFile(file, c)
		out = append(out, problems...)
		if rb != nil {
			c.Runbooks = append(c.Runbooks, *rb)
		}
	}
	return out
}

// decodeRunbookFile decodes and validates one runbook file.
func decodeRunbookFile(file string, c *Config) (*runbooks.Runbook, []Problem) {
	ps := &Problems{file: file}
	data, err := os.ReadFile(file)
	if err != nil {
		ps.add(0, 0, "", err.Error())
		return nil, ps.list
	}
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil || len(root.Content) == 0 {
		line, msg := 0, "the file is empty"
		if err != nil && !errors.Is(err, io.EOF) {
			if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
				fmt.Sscan(m[1], &line)
			}
			msg = strings.TrimPrefix(yamlLine.ReplaceAllString(err.Error(), "yaml: "), "yaml: ")
		}
		ps.add(line, 1, "", msg)
		return nil, ps.list
	}
	d := &decoder{problems: ps, pos: map[string]yaml.Node{}, unknown: map[string]bool{}}
	rb := &runbooks.Runbook{}
	d.decode(root.Content[0], "", reflect.ValueOf(rb).Elem())
	rb.File, rb.Line, rb.Digest = file, root.Content[0].Line, runbooks.DigestOf(data)
	rb.Validate(c.runbookRefs(), located(d, ps, ""))
	var list []Problem
	if err, ok := ps.err(nil).(*Error); ok {
		list = err.Problems
	}
	return rb, list
}

// located returns a report function that places a problem at the nearest decoded
// node of prefix.field, unless decoding already reported a problem there.
func located(d *decoder, ps *Problems, prefix string) func(field, msg string) {
	bad := map[string]bool{}
	for _, p := range ps.list {
		bad[p.Path] = true
	}
	return func(field, msg string) {
		path := join(prefix, field)
		if d.unknown[path] {
			return
		}
		for p := path; ; p = parent(p) {
			if bad[p] {
				return
			}
			if p == "" {
				break
			}
		}
		n := nearest(d.pos, path)
		ps.add(n.Line, n.Column, path, msg)
	}
}

// validateRunbooks checks the runbooks of the config file itself (those of
// runbooks_dir were checked as their files were read) and that names are unique.
func (c *Config) validateRunbooks(inline int, report func(path, msg string)) {
	seen := map[string]string{}
	for i := range c.Runbooks {
		rb := &c.Runbooks[i]
		where := fmt.Sprintf("runbooks[%d]", i)
		if i < inline {
			rb.Validate(c.runbookRefs(), func(field, msg string) { report(join(where, field), msg) })
		}
		if rb.Name == "" {
			continue
		}
		if prev, dup := seen[rb.Name]; dup {
			if i < inline {
				report(where+".name", fmt.Sprintf("runbook %q is defined twice (also in %s)", rb.Name, prev))
			} else {
				report("runbooks_dir", fmt.Sprintf("runbook %q of %s is defined twice (also in %s)", rb.Name, rb.File, prev))
			}
		}
		seen[rb.Name] = fmt.Sprintf("%s:%d", rb.File, rb.Line)
	}
}

// Runbook returns the runbook named name.
func (c *Config) Runbook(name string) (*runbooks.Runbook, bool) {
	for i := range c.Runbooks {
		if c.Runbooks[i].Name == name {
			return &c.Runbooks[i], true
		}
	}
	return nil, false
}

type runbookRefs struct{ c *Config }

func (c *Config) runbookRefs() runbooks.Refs { return runbookRefs{c} }

func (r runbookRefs) TargetKind(name string) (string, bool) {
	t, ok := r.c.Target(name)
	if !ok {
		return "", false
	}
	return t.Kind, true
}

func (r runbookRefs) HasDRC(name string) bool { _, ok := r.c.DRC(name); return ok }

func (r runbookRefs) HasHypervisor(uri string) bool {
	for _, t := range r.c.Targets {
		if lc, ok := t.Spec.(*libvirt.Config); ok && lc.URI == uri {
			return true
		}
	}
	return false
}

func (r runbookRefs) Roles() []string { return RunbookRoles }
