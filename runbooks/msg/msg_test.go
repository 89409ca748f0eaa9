package msg

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

var placeholderRE = regexp.MustCompile(`\{([a-z_]+)(?::[a-z]+)?\}`)

func placeholders(s string) []string {
	var out []string
	for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	sort.Strings(out)
	return out
}

// Every message is in both languages, with the same arguments.
func TestCatalogComplete(t *testing.T) {
	for _, k := range Keys() {
		e := catalog[k]
		if e.en == "" || e.id == "" {
			t.Errorf("%s: a language is missing", k)
		}
		if strings.Contains(e.id, "|") {
			t.Errorf("%s: Indonesian has no plural forms: %q", k, e.id)
		}
		if a, b := fmt.Sprint(placeholders(e.en)), fmt.Sprint(placeholders(e.id)); a != b && k != "bilingual" {
			t.Errorf("%s: arguments differ: en %s, id %s", k, a, b)
		}
	}
}

func TestRender(t *testing.T) {
	m := New("drill.packs.ok", "packs", 1, "bytes", 20*1<<20+1<<19)
	if got := m.In(EN); got != "1 pack file, 20.5 MiB read, every one whole" {
		t.Errorf("en: %s", got)
	}
	if got := m.In(ID); got != "1 berkas pack, 20,5 MiB dibaca, seluruhnya utuh" {
		t.Errorf("id: %s", got)
	}
	if got := New("report.summary", "n", 4, "passed", 3, "failed", 1).In(EN); got != "4 drills performed: 3 passed, 1 failed." {
		t.Errorf("plural: %s", got)
	}
	if got := New("drill.snapshot.done", "id", "3f9a6c2e", "age", 5*time.Hour+3*time.Minute).In(ID); got != "snapshot 3f9a6c2e, dibuat 5 jam 3 menit sebelum uji" {
		t.Errorf("duration: %s", got)
	}

	// Through JSON (a report re-rendered from the catalog), with a nested message.
	first := New("files.problem.size", "path", "/a/b", "got", 10, "want", 12)
	in := New("files.listing.differ", "n", 2, "files", 120, "first", first)
	b, _ := json.Marshal(in)
	var out Message
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.In(ID); got != "2 dari 120 berkas tidak sesuai dengan daftar isi, yang pertama: /a/b: 10 bita dipulihkan, 12 bita terdaftar" {
		t.Errorf("json: %s", got)
	}
	if in.In(EN) != out.In(EN) {
		t.Errorf("json changed the English: %q / %q", in.In(EN), out.In(EN))
	}
	var old Message
	if err := json.Unmarshal([]byte(`"restored 4 files"`), &old); err != nil || old.In(ID) != "restored 4 files" {
		t.Errorf("a plain string stored before messages: %+v %v", old, err)
	}

	err := fmt.Errorf("step: %w", Fail("drill.no_drill", "kind", "tape"))
	if got := Of(err); got.Key != "" || got.Text != "step: kind tape has no drill" {
		t.Errorf("wrapped: %+v", got)
	}
	if got := Of(Fail("drill.no_drill", "kind", "tape")); got.In(ID) != "jenis tape belum mendukung uji pemulihan" {
		t.Errorf("of: %+v", got)
	}
	if got := Of(errors.New("a\nb")); got.Text != "a; b" {
		t.Errorf("plain error: %+v", got)
	}
}

// msg is a leaf: only the standard library and cadang's leaf text helpers (which
// import nothing of cadang themselves), so that any kind can record messages.
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/cadang/cadang/runbooks/msg" && p != "github.com/cadang/cadang/internal/oneline" {
			t.Errorf("msg imports %s", p)
		}
	}
}
