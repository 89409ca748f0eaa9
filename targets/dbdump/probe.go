package dbdump

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
)

// verifyProbe is the verify-probe step of a drill to a point in time (the continuous
// kinds): lines are the probe rows of token found in the restored database (or err,
// the query's failure); exactly token-before must be there. It records the check for
// the report.
func verifyProbe(env *targets.DrillEnv, token string, at time.Time, lines []string, err error) (msg.Message, error) {
	check := msg.New("pitr.verify.check", "time", at.Format("2006-01-02 15:04:05.000000Z07:00"))
	if err != nil {
		env.Check(targets.DrillCheck{What: check, Passed: false, Found: msg.Of(err)})
		return msg.Message{}, err
	}
	var got []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			got = append(got, strings.TrimPrefix(l, token+"-"))
		}
	}
	ok := len(got) == 1 && got[0] == "before"
	found := msg.New("pitr.verify.ok")
	if !ok {
		found = msg.New("pitr.verify.differ", "rows", strings.Join(got, ", "))
	}
	env.Check(targets.DrillCheck{What: check, Passed: ok, Found: found})
	if !ok {
		return msg.Message{}, &msg.Error{Msg: found}
	}
	return found, nil
}

// ProbeTable is the table of the drills' probe rows, in the target's database at
// production.
const ProbeTable = "cadang_drill_probe"

// PITRDrill is what the drills to a point in time of the continuous kinds share: the
// probe rows written at production (TOKEN-before, T, TOKEN-after) and the order of the
// steps. A kind sets the actions and the titles that are its own.
type PITRDrill struct {
	Env    *targets.DrillEnv
	Token  string    // this drill's rows: Token-before and Token-after
	At     time.Time // T, the server's time between the two rows
	Probed bool      // rows may have been written at production

	// LogKey and LogTitle are the step that waits for the log of the probe rows at the
	// DRC and restores it (wal, binlog).
	LogKey                     string
	LogTitle                   msg.Message
	RestoreTitle, CleanupTitle msg.Message
	Probe, Log, Restore        func(ctx context.Context) (msg.Message, error)
	Cleanup                    func(ctx context.Context) (msg.Message, error)
	// Query runs sql in the restored database.
	Query func(ctx context.Context, sql string) ([]string, error)
}

// Steps are the drill's steps: probe, the log, restore, verify-probe, verify-checks,
// cleanup.
func (d *PITRDrill) Steps() []targets.DrillStep {
	return []targets.DrillStep{
		{Key: "probe", Activity: msg.New("pitr.probe.title"), Do: d.Probe},
		{Key: d.LogKey, Activity: d.LogTitle, Do: d.Log},
		{Key: "restore", Activity: d.RestoreTitle, Do: d.Restore},
		{Key: "verify-probe", Activity: msg.New("pitr.verify.title"), Verify: true, Do: d.verify},
		ChecksStep(d.Env, d.Query),
		{Key: "cleanup", Activity: d.CleanupTitle, Always: true, Do: d.Cleanup},
	}
}

// NewToken makes a new token of this drill's probe rows: the drill's name and random
// bytes, so that concurrent drills and rows left by an interrupted one are told apart.
func (d *PITRDrill) NewToken() {
	var b [6]byte
	_, _ = rand.Read(b[:])
	d.Token = d.Env.Name + "-" + hex.EncodeToString(b[:])
}

// verify finds exactly the row written before T in the restored database.
func (d *PITRDrill) verify(ctx context.Context) (msg.Message, error) {
	// The token is a drill's name and hex digits: a literal in either dialect.
	lines, err := d.Query(ctx, `SELECT token FROM `+ProbeTable+` WHERE token LIKE '`+d.Token+`-%' ORDER BY token;`)
	return verifyProbe(d.Env, d.Token, d.At, lines, err)
}
