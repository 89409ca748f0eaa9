package mysql

import (
	"context"
	"fmt"

	"github.com/cadang/cadang/targets/dbdump"
)

// Inspect computes, for a database at a restore destination URL (or every database of
// the server but the system ones when the URL names none), the same facts a backup's
// manifest records, so that a restore can be checked against the manifest with
// dbdump.Compare.
func (t *Target) Inspect(ctx context.Context, to string) (*dbdump.Manifest, error) {
	c, db, p, err := t.openURL(to)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	srv, err := c.probe(ctx, Config{Database: db, All: db == ""})
	if err != nil {
		return nil, err
	}
	s, err := c.session(ctx, "")
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if _, err := s.Query(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;\nSTART TRANSACTION WITH CONSISTENT SNAPSHOT;"); err != nil {
		return nil, err
	}
	m := &dbdump.Manifest{Kind: "mysql", Server: c.server(), ServerVersion: srv.Version}
	if t.cfg.checksums() {
		m.ChecksumMethod = checksumMethod
	}
	for _, d := range srv.Databases {
		tb, err := tables(ctx, s, d.Name, t.cfg.checksums(), ignored(t.cfg.DumpOptions))
		if err != nil {
			return nil, fmt.Errorf("database %s: %w", d.Name, err)
		}
		objects, err := catalogObjects(ctx, s, d.Name, ignored(t.cfg.DumpOptions))
		if err != nil {
			return nil, fmt.Errorf("database %s: %w", d.Name, err)
		}
		m.Databases = append(m.Databases, dbdump.Database{Name: d.Name, Exact: true, Tables: tb, Encoding: d.Charset, Collation: d.Collation,
			Objects: objects.Counts(checkedKinds(t.cfg.DumpOptions))})
	}
	return m, nil
}
