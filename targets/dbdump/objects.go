package dbdump

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cadang/cadang/runbooks/msg"
)

// Objects lists a database's schema objects by kind ("tables", "views", "routines",
// ...): the names of each, as the server's catalog lists them or as a dump holds them.
type Objects map[string][]string

// Add adds the object name of kind.
func (o Objects) Add(kind, name string) { o[kind] = append(o[kind], name) }

// Counts are how many objects of each kind there are (kinds with none included, so that
// a manifest says it looked for them).
func (o Objects) Counts(kinds []string) map[string]int {
	c := make(map[string]int, len(kinds))
	for _, k := range kinds {
		c[k] = len(unique(o[k]))
	}
	return c
}

func unique(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Missing lists, per kind of kinds, the objects of the catalog that the dump lacks and
// those the dump holds beyond the catalog ("view v_x" ...).
func Missing(kinds []string, catalog, dump Objects) (missing, extra map[string][]string) {
	missing, extra = map[string][]string{}, map[string][]string{}
	for _, k := range kinds {
		have := map[string]bool{}
		for _, n := range dump[k] {
			have[n] = true
		}
		want := map[string]bool{}
		for _, n := range unique(catalog[k]) {
			want[n] = true
			if !have[n] {
				missing[k] = append(missing[k], n)
			}
		}
		for _, n := range unique(dump[k]) {
			if !want[n] {
				extra[k] = append(extra[k], n)
			}
		}
	}
	return missing, extra
}

// CheckDump compares the objects a dump holds with the server's catalog, taken in the
// dump's own snapshot, and returns the error that fails the backup: the objects the dump
// lacks, by name, and why (hint(kind): the privilege the tool needs to dump that kind).
func CheckDump(db string, kinds []string, catalog, dump Objects, singular map[string]string, hint func(kind string) string) error {
	missing, extra := Missing(kinds, catalog, dump)
	var parts []string
	for _, k := range kinds {
		names := missing[k]
		if len(names) == 0 {
			continue
		}
		what := strings.TrimSpace(singular[k] + " " + names[0])
		if len(names) > 1 {
			what = fmt.Sprintf("%d %s (%s)", len(names), k, listSome(names))
		}
		p := fmt.Sprintf("%s is in the server's catalog but not in the dump", what)
		if h := hint(k); h != "" {
			p += ": " + h
		}
		parts = append(parts, p)
	}
	for _, k := range kinds {
		if names := extra[k]; len(names) > 0 && len(parts) == 0 {
			parts = append(parts, fmt.Sprintf("the dump holds %d %s the server's catalog does not list (%s)", len(names), k, listSome(names)))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("the dump of database %s is incomplete: %s", db, strings.Join(parts, "; "))
}

func listSome(names []string) string {
	if len(names) <= 3 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:3], ", "), len(names)-3)
}

// CompareObjects lists how the object counts of a restored database (got) differ from
// those a manifest recorded (want), as messages. Kinds the manifest did not count are
// not compared.
func CompareObjects(want, got map[string]int) []msg.Message {
	var kinds []string
	for k := range want {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var diffs []msg.Message
	for _, k := range kinds {
		if got[k] != want[k] {
			diffs = append(diffs, msg.New("db.objects.differ", "kind", KindName(k), "got", got[k], "want", want[k]))
		}
	}
	return diffs
}

// KindName names a kind of schema objects ("views") in a report's language.
func KindName(kind string) msg.Message {
	if msg.Known("db.kind." + kind) {
		return msg.New("db.kind." + kind)
	}
	return msg.Plain(kind)
}

// CountText says n objects of a kind ("2 views", "1 view") in a report's language.
func CountText(kind string, n int) msg.Message {
	if msg.Known("db.count." + kind) {
		return msg.New("db.count."+kind, "n", n)
	}
	return msg.Plain(fmt.Sprintf("%d %s", n, kind))
}

// CountsText is "1 extension, 3 functions, 2 views, ..." of the kinds but tables (in
// the order of their English names), in a report's language.
func CountsText(counts map[string]int) msg.Message {
	var kinds []string
	for k := range counts {
		if k != "tables" {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	var out msg.Message
	for i := len(kinds) - 1; i >= 0; i-- {
		c := CountText(kinds[i], counts[kinds[i]])
		if out.IsZero() {
			out = c
		} else {
			out = msg.New("db.objects.more", "first", c, "rest", out)
		}
	}
	return out
}
