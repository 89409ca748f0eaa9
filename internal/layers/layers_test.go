package layers

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/cadang/cadang/"

// The arrows between cadang's parts (DESIGN.md): cmd -> engine -> {runbooks, targets,
// drc}. A rule forbids the packages below From (a path prefix) to import those below
// one of To, in product code, and in test code too when Tests is set.
type rule struct {
	From  string
	To    []string
	Tests bool
	Why   string
}

var rules = []rule{
	{From: "targets", To: []string{"engine", "drc", "cmd", "e2e"}, Why: "a target does not know where copies go, nor who runs it"},
	{From: "drc", To: []string{"engine", "targets", "runbooks", "cmd", "e2e"}, Why: "a DRC does not know what is inside the copies"},
	{From: "runbooks", To: []string{"engine", "targets", "drc", "cmd", "e2e"}, Why: "engine hands runbooks its actions through runbooks' own interfaces"},
	{From: "engine", To: []string{"cmd", "e2e"}, Why: "the daemon does not depend on its clients"},
	{From: "internal/iec", To: []string{""}, Why: "a leaf any part may use"},
	{From: "internal/oneline", To: []string{""}, Why: "a leaf any part may use"},
	{From: "engine/api", To: []string{""}, Why: "the contract imports nothing of cadang"},
	{From: "targets/libvirt/domxml", To: []string{""}, Why: "libvirt's XML, text in and text out: the libvirt kind uses it, never the other way round"},
	{From: "targets/libvirt/blockmap", To: []string{""}, Why: "the format of a disk in a snapshot: the libvirt kind uses it, never the other way round"},
	// Test helpers live in internal/; no product package's tests reach into e2e.
	{From: "", To: []string{"e2e"}, Tests: true, Why: "test helpers product tests need live in internal/"},
	// e2e drives the built binary through the API contract, never the daemon's insides.
	{From: "e2e", To: []string{"engine", "drc", "cmd"}, Tests: true, Why: "e2e tests are black-box: they speak engine/api"},
}

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func packages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// under reports whether rel (a path relative to the module) is prefix or below it;
// "" is the whole module.
func under(rel, prefix string) bool {
	return prefix == "" || rel == prefix || strings.HasPrefix(rel, prefix+"/")
}

// exempt is what a rule's To never covers: the rule's own part, and for e2e, the
// engine's contract package.
func exempt(r rule, to, imp string) bool {
	if under(imp, r.From) && r.From != "" {
		return true // inside the same part
	}
	return to == "engine" && under(imp, "engine/api") && r.From == "e2e"
}

func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		rel, ok := strings.CutPrefix(p.ImportPath, module)
		if !ok {
			continue
		}
		check := func(imports []string, test bool) {
			for _, full := range imports {
				imp, ok := strings.CutPrefix(full, module)
				if !ok {
					continue
				}
				for _, r := range rules {
					if !under(rel, r.From) || (test && !r.Tests) || (!test && r.Tests && r.From == "") {
						continue
					}
					for _, to := range r.To {
						if under(imp, to) && !exempt(r, to, imp) {
							kind := "imports"
							if test {
								kind = "imports in its tests"
							}
							out = append(out, rel+" "+kind+" "+imp+": "+r.Why)
						}
					}
				}
			}
		}
		check(p.Imports, false)
		check(append(append([]string{}, p.TestImports...), p.XTestImports...), true)
	}
	return out
}

func TestLayers(t *testing.T) {
	for _, v := range violations(packages(t)) {
		t.Error(v)
	}
}

// The rules catch a forbidden arrow: a drc package that imports engine, and an e2e
// test that opens the catalog.
func TestLayersCatchForbiddenImports(t *testing.T) {
	pkgs := []pkg{
		{ImportPath: module + "drc", Imports: []string{"context", module + "engine"}},
		{ImportPath: module + "e2e", XTestImports: []string{module + "engine/catalog", module + "engine/api"}},
		{ImportPath: module + "engine", Imports: []string{module + "drc", module + "engine/api"}, TestImports: []string{module + "internal/testenv"}},
	}
	got := violations(pkgs)
	want := []string{
		"drc imports engine: a DRC does not know what is inside the copies",
		"e2e imports in its tests engine/catalog: e2e tests are black-box: they speak engine/api",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
