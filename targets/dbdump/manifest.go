package dbdump

import (
	"sort"

	"github.com/cadang/cadang/runbooks/msg"
)

// Manifest is what a database backup records about the data it holds, so that a
// restore can be checked against it later. It is stored with the run in the catalog and,
// for `all: true` archives, inside the snapshot too.
type Manifest struct {
	Kind          string `json:"kind"`           // postgres, mysql
	Server        string `json:"server"`         // host:port or socket
	ServerVersion string `json:"server_version"` // as the server reports it
	// ServerIdentity is what the server said it was at backup (its DrillKind's
	// Identity): a drill refuses a drill.server that says the same, even where the
	// target's own server cannot be reached (it runs on an agent's host, or is down).
	ServerIdentity string `json:"server_identity,omitempty"`
	// ChecksumMethod names how Table.Checksum is computed ("" when checksums are off).
	ChecksumMethod string     `json:"checksum_method,omitempty"`
	Databases      []Database `json:"databases"`
	Globals        string     `json:"globals,omitempty"` // the archive entry with roles/users, for all: true
	// DumpBytes is the size of all dumps as the tools wrote them (for one database, the
	// size of the snapshot's file).
	DumpBytes int64 `json:"dump_bytes"`
}

// Database is one dumped database.
type Database struct {
	Name string `json:"name"`
	File string `json:"file"` // the dump's name in the snapshot (or in the archive)
	// DumpBytes is the size of the database's dump as the tool wrote it (0 when several
	// databases share one dump).
	DumpBytes int64 `json:"dump_bytes,omitempty"`
	// Exact says the figures below come from the very snapshot of the data that the dump
	// holds; when false they were taken in a separate snapshot just before the dump and
	// a table written meanwhile may differ (Note says why: a message, shown in a drill's
	// report in its language; a manifest of an older cadang holds a plain string).
	Exact  bool        `json:"exact"`
	Note   msg.Message `json:"note,omitzero"`
	Tables []Table     `json:"tables"`
	// Objects counts the database's schema objects by kind (MariaDB: tables, views,
	// routines, triggers, events; PostgreSQL: tables, views, sequences, functions,
	// extensions, triggers), as the server's catalog listed them in the dump's snapshot
	// and as the dump holds them (a backup whose dump lacks one fails). Drills compare
	// them with the restored database.
	Objects map[string]int `json:"objects,omitempty"`
	// Encoding and collation the database was created with, so a restore under a new
	// name creates it alike.
	Encoding  string `json:"encoding,omitempty"`
	Collation string `json:"collation,omitempty"`
	CType     string `json:"ctype,omitempty"`
}

// Table holds the facts of one table.
type Table struct {
	Schema   string `json:"schema,omitempty"`
	Name     string `json:"name"`
	Rows     int64  `json:"rows"`
	Checksum string `json:"checksum,omitempty"`
}

// QualifiedName is schema.name, or name alone.
func (t Table) QualifiedName() string {
	if t.Schema == "" {
		return t.Name
	}
	return t.Schema + "." + t.Name
}

// Compare lists how a database's tables (got, e.g. inspected after a restore) differ
// from what a manifest recorded (want), as messages (a drill's report shows them in its
// language; String gives the English). Checksums are compared only when both have one.
func Compare(want, got []Table) []msg.Message {
	index := map[string]Table{}
	for _, t := range got {
		index[t.QualifiedName()] = t
	}
	var diffs []msg.Message
	seen := map[string]bool{}
	for _, w := range want {
		name := w.QualifiedName()
		seen[name] = true
		g, ok := index[name]
		switch {
		case !ok:
			diffs = append(diffs, msg.New("db.table.missing", "table", name))
		case g.Rows != w.Rows:
			diffs = append(diffs, msg.New("db.table.rows", "table", name, "got", g.Rows, "want", w.Rows))
		case w.Checksum != "" && g.Checksum != "" && g.Checksum != w.Checksum:
			diffs = append(diffs, msg.New("db.table.checksum", "table", name, "got", g.Checksum, "want", w.Checksum))
		}
	}
	for _, g := range got {
		if !seen[g.QualifiedName()] {
			diffs = append(diffs, msg.New("db.table.extra", "table", g.QualifiedName()))
		}
	}
	sort.SliceStable(diffs, func(i, j int) bool { return diffs[i].String() < diffs[j].String() })
	return diffs
}
