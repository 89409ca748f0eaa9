package mysql

import (
	"context"

	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/dbdump"
)

var _ targets.Driller = (*Target)(nil)

// DrillSteps restores the dump into a scratch database on drill.server, compares it
// with the manifest, runs drill.checks and drops it (dbdump.DrillSteps).
func (t *Target) DrillSteps(r targets.Reader, env *targets.DrillEnv) []targets.DrillStep {
	return dbdump.DrillSteps(drillKind{t}, r, env)
}

type drillKind struct{ *Target }

func (drillKind) Scheme() string { return "mysql" }

func (drillKind) DropSQL(name string) string {
	return "DROP DATABASE IF EXISTS " + sqlIdent(name) + ";"
}

// Query runs sql in the database the URL names, or with no database selected.
func (k drillKind) Query(ctx context.Context, to, sql string) ([]string, error) {
	c, db, p, err := k.openURL(to)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	s, err := c.session(ctx, db)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Query(ctx, sql)
}
