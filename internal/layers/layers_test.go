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
	// drc's sub-packages (drc/mirror, drc/resticfmt, drc/storetest) are below "drc" and
	// bound by its rule; the mirror, in its tests too.
	{From: "drc/mirror", To: []string{"engine", "targets", "runbooks", "cmd"}, Tests: true, Why: "the mirror copies objects between DRCs: it does not know what is inside them, nor who runs it"},
	{From: "runbooks", To: []string{"engine", "targets", "drc", "cmd", "e2e"}, Why: "engine hands runbooks its actions through runbooks' own interfaces"},
	{From: "engine", To: []string{"cmd", "e2e"}, Why: "the daemon does not depend on its clients"},
	// The daemon's parts below engine reach it only through what they are given, never
	// engine itself ("=engine": the sibling packages, engine/catalog or engine/config,
	// they may use); in their tests too, which need no whole daemon.
	{From: "engine/lease", To: []string{"=engine", "engine/server", "targets", "cmd", "e2e"}, Tests: true, Why: "the leases reach the daemon only through what lease.New is given"},
	{From: "engine/reports", To: []string{"=engine", "engine/server", "drc", "targets", "cmd", "e2e"}, Tests: true, Why: "a report reads the catalog and the configuration, not the daemon"},
	{From: "engine/queue", To: []string{"=engine", "engine/server", "engine/runs", "drc", "targets", "cmd", "e2e"}, Tests: true, Why: "the queue orders jobs; what a job does is its Exec"},
	{From: "engine/schedule", To: []string{"=engine", "engine/server", "engine/runs", "drc", "targets", "cmd", "e2e"}, Tests: true, Why: "the schedules say when, not what"},
	{From: "engine/server", To: []string{"=engine", "engine/catalog", "engine/runs", "drc", "targets", "cmd", "e2e"}, Tests: true, Why: "the HTTP API speaks the wire types of engine/api through server.Service, never the daemon's records"},
	{From: "engine/replication", To: []string{"=engine", "engine/server", "engine/runs", "targets", "cmd", "e2e"}, Tests: true, Why: "replication reaches the daemon only through replication.Host"},
	{From: "engine/integrity", To: []string{"=engine", "engine/server", "engine/runs", "targets", "cmd", "e2e"}, Tests: true, Why: "verifying copies needs the DRCs and the catalog, not the daemon"},
	{From: "engine/runs", To: []string{"=engine", "engine/server", "cmd", "e2e"}, Tests: true, Why: "a run reaches the daemon only through runs.Hooks"},
	{From: "engine/export", To: []string{"=engine", "engine/server", "engine/runs", "engine/catalog", "targets", "drc", "cmd", "e2e"}, Tests: true, Why: "an export bundle is bytes in, bytes out; the daemon feeds it"},
	{From: "engine/notify", To: []string{"=engine", "engine/server", "engine/runs", "engine/catalog", "engine/config", "targets", "drc", "cmd", "e2e"}, Tests: true, Why: "the notifier routes events it is given to channels; it does not look at the daemon"},
	{From: "engine/escrow", To: []string{"=engine", "engine/server", "engine/runs", "engine/catalog", "targets", "drc", "cmd", "e2e"}, Tests: true, Why: "a state bundle is bytes in, bytes out; the daemon feeds it"},
	{From: "engine/wal", To: []string{"=engine", "engine/server", "engine/runs", "engine/catalog", "engine/config", "targets", "drc", "cmd", "e2e"}, Tests: true, Why: "the WAL spool and its socket are files and bytes; the daemon decides what they are for"},
	{From: "internal/iec", To: []string{""}, Why: "a leaf any part may use"},
	{From: "internal/oneline", To: []string{""}, Why: "a leaf any part may use"},
	{From: "engine/dashboard", To: []string{"=engine", "engine/server", "engine/catalog", "engine/runs", "drc", "targets", "runbooks", "cmd", "e2e"}, Why: "the dashboard is a client of the API: it speaks engine/api, like the CLI"},
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

// covers reports whether a rule's To entry covers imp: the part to and everything
// below it, or, written "=" and a path, that one package only.
func covers(to, imp string) bool {
	if one, ok := strings.CutPrefix(to, "="); ok {
		return imp == one
	}
	return under(imp, to)
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
						if covers(to, imp) && !exempt(r, to, imp) {
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

// The rules catch a forbidden arrow: a drc package that imports engine, a test of the
// mirror that imports a target, an e2e test that opens the catalog, and the leases that
// import the daemon (not the catalog beside it).
func TestLayersCatchForbiddenImports(t *testing.T) {
	pkgs := []pkg{
		{ImportPath: module + "drc", Imports: []string{"context", module + "engine"}},
		{ImportPath: module + "drc/mirror", Imports: []string{module + "drc", module + "drc/resticfmt"}, XTestImports: []string{module + "drc/mirror", module + "targets"}},
		{ImportPath: module + "e2e", XTestImports: []string{module + "engine/catalog", module + "engine/api"}},
		{ImportPath: module + "engine/lease", Imports: []string{module + "drc", module + "engine/catalog", module + "engine"}},
		{ImportPath: module + "engine", Imports: []string{module + "drc", module + "engine/api"}, TestImports: []string{module + "internal/testenv"}},
	}
	got := violations(pkgs)
	want := []string{
		"drc imports engine: a DRC does not know what is inside the copies",
		"drc/mirror imports in its tests targets: the mirror copies objects between DRCs: it does not know what is inside them, nor who runs it",
		"e2e imports in its tests engine/catalog: e2e tests are black-box: they speak engine/api",
		"engine/lease imports engine: the leases reach the daemon only through what lease.New is given",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
