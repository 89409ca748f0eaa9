package mirror

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/cadang/cadang/drc"
)

// RetentionPass counts what the retention extension of a pass did at an immutable
// secondary (docs/ransomware.md).
type RetentionPass struct {
	Checked  int       `json:"checked"`  // objects whose retention was read
	Extended int       `json:"extended"` // objects whose retain-until date was moved later
	Until    time.Time `json:"until"`    // the date set
}

// ExtendEvery is how often the retention of an immutable DRC's objects is extended: once
// a day, or every retain/2 if that is shorter, so that an object still in use is always
// locked for at least retain/2 plus the deletion grace.
func ExtendEvery(retain time.Duration) time.Duration {
	return min(24*time.Hour, retain/2)
}

// extendRetention moves the retain-until date of every object at the secondary that
// the primary still has (and of the secondary's own config and keys, and the snapshots
// born there) to now + the lock period, when it would end sooner than now + the period -
// ExtendEvery. Objects waiting for their deletion are not extended: their locks run
// out after the grace, and the deletion follows.
func (m *Mirror) extendRetention(ctx context.Context, lp, ls *listing, born []string, res *MirrorResult) {
	s := m.Secondary
	period := drc.LockPeriodOf(s.Store)
	if period <= 0 || !m.ExtendRetention {
		return
	}
	now := m.Now()
	until := now.Add(period)
	threshold := until.Add(-ExtendEvery(m.Retain))
	isBorn := map[string]bool{}
	for _, id := range born {
		isBorn[id] = true
	}
	var objs []string
	for _, kind := range []string{"snapshots", "index", "data"} {
		for id := range ls.kind(kind) {
			if _, atP := lp.kind(kind)[id]; atP || (kind == "snapshots" && isBorn[id]) {
				objs = append(objs, objectName(kind, id))
			}
		}
	}
	objs = append(objs, "config")
	if err := s.Store.List(ctx, "keys/", func(o drc.ObjectInfo) error {
		objs = append(objs, o.Name)
		return nil
	}); err != nil {
		res.fail(fmt.Sprintf("drc %q: listing keys of agency %q: %v", s.DRC, s.Agency, err))
		return
	}
	sort.Strings(objs)
	m.progress(MirrorProgress{Phase: "extending retention", Objects: len(objs)})
	var checked, extended atomic.Int64
	err := forEach(ctx, m.Workers, objs, func(ctx context.Context, obj string) error {
		ret, err := drc.ObjectRetention(ctx, s.Store, obj)
		if errors.Is(err, drc.ErrNotExist) {
			return nil
		}
		if err != nil {
			if drc.IsUnreachable(err) {
				return err
			}
			res.fail(fmt.Sprintf("drc %q: reading the retention of %s: %v", s.DRC, obj, err))
			return nil
		}
		checked.Add(1)
		if !ret.Until.Before(threshold) {
			return nil
		}
		ok, err := drc.ExtendRetention(ctx, s.Store, obj, until)
		if err != nil {
			if drc.IsUnreachable(err) {
				return err
			}
			res.fail(fmt.Sprintf("drc %q: %v", s.DRC, err))
			return nil
		}
		if ok {
			extended.Add(1)
		}
		return nil
	})
	res.Retention = &RetentionPass{Checked: int(checked.Load()), Extended: int(extended.Load()), Until: until}
	if err != nil {
		res.fail(fmt.Sprintf("drc %q: extending retention: %v", s.DRC, err))
		return
	}
	res.note(fmt.Sprintf("retention at drc %q: %d objects checked, %d extended to %s", s.DRC, res.Retention.Checked, res.Retention.Extended,
		until.UTC().Format(time.RFC3339)))
}
