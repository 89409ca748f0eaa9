package dbdump

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
)

// ProbeToken is a new token of a drill's probe rows (TOKEN-before, TOKEN-after) at
// production: the drill's name and random bytes, so that concurrent drills and rows
// left by an interrupted one are told apart.
func ProbeToken(env *targets.DrillEnv) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return env.Name + "-" + hex.EncodeToString(b[:])
}

// VerifyProbe is the verify-probe step of a drill to a point in time (the continuous
// kinds): lines are the probe rows of token found in the restored database (or err,
// the query's failure); exactly token-before must be there. It records the check for
// the report.
func VerifyProbe(env *targets.DrillEnv, token string, at time.Time, lines []string, err error) (msg.Message, error) {
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
