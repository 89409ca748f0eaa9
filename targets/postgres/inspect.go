package postgres

import (
	"context"
	"fmt"

	"github.com/cadang/cadang/targets/dbdump"
)

// Inspect computes, for a database at a restore destination URL (or every database of
// the server when the URL names none), the same facts a backup's manifest records, so
// that a restore can be checked against the manifest with dbdump.Compare.
func (t *Target) Inspect(ctx context.Context, to string) (*dbdump.Manifest, error) {
	c, db, p, err := t.openURL(to)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	cfg := Config{Database: db, All: db == ""}
	srv, err := c.probe(ctx, cfg)
	if err != nil {
		return nil, err
	}
	m := &dbdump.Manifest{Kind: "postgres", Server: c.server(), ServerVersion: srv.Version}
	for _, d := range srv.Databases {
		s, err := c.session(ctx, d.Name, "cadang inspect")
		if err != nil {
			return nil, err
		}
		if _, err := s.Query(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"); err != nil {
			s.Close()
			return nil, err
		}
		tb, method, err := tables(ctx, s, srv.VersionNum, t.cfg.checksums())
		var objects dbdump.Objects
		if err == nil {
			objects, err = catalogObjects(ctx, s, srv.VersionNum)
		}
		s.Close()
		if err != nil {
			return nil, fmt.Errorf("database %s: %w", d.Name, err)
		}
		m.ChecksumMethod = method
		m.Databases = append(m.Databases, dbdump.Database{Name: d.Name, Exact: true, Tables: tb,
			Encoding: d.Encoding, Collation: d.Collate, CType: d.CType, Objects: objects.Counts(objectKinds)})
	}
	return m, nil
}
