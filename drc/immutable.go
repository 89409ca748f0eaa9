package drc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cadang/cadang/internal/oneline"
	"github.com/minio/minio-go/v7"
)

// Immutability is the `immutability:` section of an S3 DRC: every object cadang writes
// there carries an S3 Object Lock retention date, so that nobody holding the DRC's keys
// (an attacker with root on cadang's host included) can erase or overwrite it before
// that date (docs/ransomware.md).
//
//	immutability:
//	  mode: compliance   # or governance (a key with s3:BypassGovernanceRetention can lift it)
//	  retain: 30d        # each object stays locked at least this long, plus delete_after
type Immutability struct {
	Mode   string        `yaml:"mode"`
	Retain time.Duration `yaml:"retain"`
}

// Immutability modes (those of S3 Object Lock).
const (
	ModeCompliance = "compliance"
	ModeGovernance = "governance"
)

// MinRetain is the shortest retention accepted.
const MinRetain = 24 * time.Hour

func (im *Immutability) validate(report func(field, msg string)) {
	switch im.Mode {
	case ModeCompliance, ModeGovernance:
	case "":
		report("mode", "required: compliance or governance")
	default:
		report("mode", fmt.Sprintf("%q is not a mode: use compliance or governance", im.Mode))
	}
	if im.Retain < MinRetain {
		report("retain", fmt.Sprintf("%s: give at least 1d", im.Retain))
	}
}

// Immutable reports whether the DRC is configured immutable.
func (c *Config) Immutable() bool { return c.Immutability != nil && c.S3 != nil }

// LockPeriod is how long an object written (or extended) now at the DRC stays locked:
// the retention plus the DRC's deletion grace, so that an object the primary no longer
// has is still locked through the whole grace. Zero if the DRC is not immutable.
func (c *Config) LockPeriod() time.Duration {
	if !c.Immutable() {
		return 0
	}
	return c.Immutability.Retain + c.Replication.Effective().DeleteAfter
}

// ErrRetained matches a deletion refused because the object's retention has not expired.
var ErrRetained = errors.New("object is under retention")

// ErrDeleteDenied matches a deletion of an expired object that the DRC's key may not
// make (a key that cannot delete, docs/ransomware.md): the object is left for a bucket
// lifecycle rule, or a cleanup with another key.
var ErrDeleteDenied = errors.New("the key may not delete it")

// retention of an s3Store: objects put get mode and a retain-until date of now + period.
type retention struct {
	mode   minio.RetentionMode
	period time.Duration
	now    func() time.Time
}

func (c *Config) retention(now func() time.Time) *retention {
	if !c.Immutable() {
		return nil
	}
	mode := minio.Governance
	if c.Immutability.Mode == ModeCompliance {
		mode = minio.Compliance
	}
	return &retention{mode: mode, period: c.LockPeriod(), now: now}
}

// lockedName tells whether an object is put under retention: every one but restic's
// lock files, which restic removes when it is done, and export bundles ("_exports/",
// engine/catalog.ExportsPrefix), which are handed over and then removed.
func lockedName(name string) bool {
	return !strings.HasPrefix(name, "locks/") && !strings.Contains(name, "/locks/") && !strings.HasPrefix(name, "_exports/")
}

// checkObjectLock tells whether the bucket has object lock enabled, as one line.
func (s *s3Store) checkObjectLock(ctx context.Context, drcName string) error {
	enabled, _, _, _, err := s.client.GetObjectLockConfig(ctx, s.bucket)
	switch {
	case err != nil && minio.ToErrorResponse(err).Code == "ObjectLockConfigurationNotFoundError":
		return fmt.Errorf("bucket %q of drc %q has no object lock: it was created without it (object lock can only be chosen when a bucket is created: create a new bucket with object lock, or remove immutability:)", s.bucket, drcName)
	case err != nil:
		return fmt.Errorf("bucket %q of drc %q has no object lock: cannot read its object lock configuration: %s", s.bucket, drcName, oneline.Of(describeS3Error(err, s.loc).Error()))
	case enabled != "Enabled":
		return fmt.Errorf("bucket %q of drc %q has no object lock: its object lock configuration says %q", s.bucket, drcName, enabled)
	}
	return nil
}

// CheckLock tells whether an immutable DRC's bucket can lock objects; nil for a DRC
// that is not immutable.
func (s *Site) CheckLock(ctx context.Context) error {
	if !s.Immutable() || s.s3 == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	return s.s3.checkObjectLock(ctx, s.Name)
}

// Retention is an object's lock as the store reports it.
type Retention struct {
	Mode  string    // GOVERNANCE, COMPLIANCE, or "" when none
	Until time.Time // zero when none
}

// ObjectRetention reads the retention of the current version of an object of an S3
// store.
func ObjectRetention(ctx context.Context, st Store, name string) (Retention, error) {
	s, ok := st.(*s3Store)
	if !ok {
		return Retention{}, nil
	}
	key, err := s.key(name)
	if err != nil {
		return Retention{}, err
	}
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return Retention{}, s3Error(err, name)
	}
	return retentionOf(info), nil
}

func retentionOf(info minio.ObjectInfo) Retention {
	var r Retention
	r.Mode = info.Metadata.Get("X-Amz-Object-Lock-Mode")
	if v := info.Metadata.Get("X-Amz-Object-Lock-Retain-Until-Date"); v != "" {
		r.Until, _ = time.Parse(time.RFC3339, v)
	}
	return r
}

// ExtendRetention makes sure the current version of name is locked until at least
// until (in the store's mode); objects locked long enough already are left as they are
// (the answer is then false). A store that is not immutable does nothing.
func ExtendRetention(ctx context.Context, st Store, name string, until time.Time) (bool, error) {
	s, ok := st.(*s3Store)
	if !ok || s.ret == nil {
		return false, nil
	}
	key, err := s.key(name)
	if err != nil {
		return false, err
	}
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return false, s3Error(err, name)
	}
	cur := retentionOf(info)
	if !cur.Until.Before(until) {
		return false, nil
	}
	mode := s.ret.mode
	if cur.Mode == string(minio.Compliance) {
		mode = minio.Compliance // a compliance lock cannot become a governance one
	}
	until = until.UTC().Truncate(time.Second).Add(time.Second)
	err = s.client.PutObjectRetention(ctx, s.bucket, key, minio.PutObjectRetentionOptions{Mode: &mode, RetainUntilDate: &until, VersionID: info.VersionID})
	if err != nil {
		return false, fmt.Errorf("%s: extending its retention: %w", name, s3Error(err, name))
	}
	return true, nil
}

// LockPeriodOf is how long objects put into st now stay locked (0: st does not lock).
func LockPeriodOf(st Store) time.Duration {
	if s, ok := st.(*s3Store); ok && s.ret != nil {
		return s.ret.period
	}
	return 0
}

// Hidden is an object of a repository that an S3 delete marker hides: its latest
// version is a delete marker while an older version of it (its content) is still kept.
type Hidden struct {
	Name    string   // relative to the repository: "data/3f/3f9a..."
	Markers []string // the version ids of the delete markers above its newest version
	Since   time.Time
}

// HiddenObjects lists agency's objects at this DRC that delete markers hide (restic's
// lock files aside: restic removes those itself). A directory DRC, or a bucket without
// versioning, has none.
func (s *Site) HiddenObjects(ctx context.Context, agency string) ([]Hidden, error) {
	if s.s3 == nil {
		return nil, nil
	}
	st := s.s3
	prefix := st.prefix + agency + "/"
	type versions struct {
		markers []minio.ObjectInfo // newest first, above the newest real version
		real    bool
		latest  bool // the latest version is a delete marker
	}
	byKey := map[string]*versions{}
	var order []string
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Versions come newest first for each key.
	for obj := range st.client.ListObjects(ctx, st.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("drc %q: listing the versions of agency %q: %s", s.Name, agency, oneline.Of(describeS3Error(obj.Err, st.loc).Error()))
		}
		name := strings.TrimPrefix(obj.Key, prefix)
		if !lockedName(name) {
			continue
		}
		v := byKey[name]
		if v == nil {
			v = &versions{}
			byKey[name] = v
			order = append(order, name)
		}
		switch {
		case obj.IsDeleteMarker && !v.real:
			v.markers = append(v.markers, obj)
			if obj.IsLatest {
				v.latest = true
			}
		case !obj.IsDeleteMarker:
			v.real = true
		}
	}
	var out []Hidden
	for _, name := range order {
		v := byKey[name]
		if !v.latest || !v.real || len(v.markers) == 0 {
			continue
		}
		h := Hidden{Name: name, Since: v.markers[len(v.markers)-1].LastModified}
		for _, m := range v.markers {
			h.Markers = append(h.Markers, m.VersionID)
		}
		out = append(out, h)
	}
	return out, nil
}

// Unhide removes the delete markers above a hidden object, so that its newest version
// is visible again (restic sees it, restores and checks read it).
func (s *Site) Unhide(ctx context.Context, agency string, h Hidden) error {
	if s.s3 == nil {
		return nil
	}
	key := s.s3.prefix + agency + "/" + h.Name
	for _, id := range h.Markers {
		if err := s.s3.client.RemoveObject(ctx, s.s3.bucket, key, minio.RemoveObjectOptions{VersionID: id}); err != nil {
			return fmt.Errorf("drc %q: agency %q: removing the delete marker of %s: %s", s.Name, agency, h.Name, oneline.Of(describeS3Error(err, s.s3.loc).Error()))
		}
	}
	return nil
}

// FormatDays prints a duration in whole days where it is one ("30d"), else as Go does.
func FormatDays(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
