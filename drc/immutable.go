package drc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
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
	Name    string   // relative to the scope: "data/3f/3f9a..."
	Markers []string // the version ids of the delete markers above its newest version
	Since   time.Time
}

// StateScope is the scope of cadang's own escrowed state bundles at a DRC
// (engine/escrow.Prefix without its slash): HiddenObjects, Unhide, OverwrittenObjects
// and RestoreVersion take it in place of an agency.
const StateScope = "_state"

// versionsOf lists every version of every object of scope (an agency's repository, or
// StateScope) at this DRC, newest first for each name; restic's lock files and export
// bundles are left out (lockedName).
func (s *Site) versionsOf(ctx context.Context, scope string) (names []string, byName map[string][]minio.ObjectInfo, err error) {
	st := s.s3
	prefix := st.prefix + scope + "/"
	byName = map[string][]minio.ObjectInfo{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Versions come newest first for each key.
	for obj := range st.client.ListObjects(ctx, st.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if obj.Err != nil {
			return nil, nil, fmt.Errorf("drc %q: listing the versions of %s: %s", s.Name, scopeName(scope), oneline.Of(describeS3Error(obj.Err, st.loc).Error()))
		}
		name := strings.TrimPrefix(obj.Key, prefix)
		if !lockedName(name) {
			continue
		}
		if _, ok := byName[name]; !ok {
			names = append(names, name)
		}
		byName[name] = append(byName[name], obj)
	}
	return names, byName, nil
}

func scopeName(scope string) string {
	if scope == StateScope {
		return "the state bundles (" + StateScope + "/)"
	}
	return fmt.Sprintf("agency %q", scope)
}

// HiddenObjects lists the objects of scope (an agency, or StateScope) at this DRC that
// delete markers hide (restic's lock files aside: restic removes those itself). A
// directory DRC, or a bucket without versioning, has none.
func (s *Site) HiddenObjects(ctx context.Context, scope string) ([]Hidden, error) {
	if s.s3 == nil {
		return nil, nil
	}
	names, byName, err := s.versionsOf(ctx, scope)
	if err != nil {
		return nil, err
	}
	var out []Hidden
	for _, name := range names {
		vs := byName[name]
		if len(vs) == 0 || !vs[0].IsDeleteMarker || !vs[0].IsLatest {
			continue
		}
		var h Hidden
		real := false
		for _, v := range vs {
			if !v.IsDeleteMarker {
				real = true
				break
			}
			h.Markers = append(h.Markers, v.VersionID)
			h.Since = v.LastModified
		}
		if real {
			h.Name = name
			out = append(out, h)
		}
	}
	return out, nil
}

// Unhide removes the delete markers above a hidden object, so that its newest version
// is visible again (restic sees it, restores and checks read it).
func (s *Site) Unhide(ctx context.Context, scope string, h Hidden) error {
	if s.s3 == nil {
		return nil
	}
	key := s.s3.prefix + scope + "/" + h.Name
	for _, id := range h.Markers {
		if err := s.s3.client.RemoveObject(ctx, s.s3.bucket, key, minio.RemoveObjectOptions{VersionID: id}); err != nil {
			return fmt.Errorf("drc %q: %s: removing the delete marker of %s: %s", s.Name, scopeName(scope), h.Name, oneline.Of(describeS3Error(err, s.s3.loc).Error()))
		}
	}
	return nil
}

// Overwritten is an object whose current version is not the content cadang wrote (a
// new version put over it: an attack or a mistake), and the earlier version that is.
type Overwritten struct {
	Name string // relative to the scope
	Bad  string // the version id of the current version
	Good string // the version id of the newest earlier version that is intact ("" if none)
	Why  string // how the current version was found wrong
}

// hashNamed tells whether an object's name is the SHA-256 of its content: restic's
// packs, index files, snapshot files and key files.
func hashNamed(name string) bool {
	for _, dir := range []string{"data/", "index/", "snapshots/", "keys/"} {
		if strings.HasPrefix(name, dir) {
			base := path.Base(name)
			if len(base) != 64 {
				return false
			}
			_, err := hex.DecodeString(base)
			return err == nil
		}
	}
	return false
}

// versionHash is the SHA-256 of one version of an object, in hex.
func (s *Site) versionHash(ctx context.Context, key, versionID string) (string, error) {
	obj, err := s.s3.client.GetObject(ctx, s.s3.bucket, key, minio.GetObjectOptions{VersionID: versionID})
	if err != nil {
		return "", err
	}
	defer obj.Close()
	h := sha256.New()
	if _, err := io.Copy(h, obj); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// OverwrittenObjects lists the objects of scope (an agency, or StateScope) whose
// current version is not the one cadang wrote. cadang writes each object once (restic's
// files are content-addressed; a repair rewrites one with the same content), so only
// names with more than one version are looked at, and only their versions are read:
//
//   - a pack, index, snapshot or key file is intact when its content hashes to its name;
//     the good version is the newest earlier one that does;
//   - any other object (a repository's config, a state bundle and its sidecar) is
//     written once: its first version is cadang's, and a current version of another
//     size or ETag is not.
//
// An object hidden behind a delete marker is left to HiddenObjects (recover unhides
// first, then looks here).
func (s *Site) OverwrittenObjects(ctx context.Context, scope string) ([]Overwritten, error) {
	if s.s3 == nil {
		return nil, nil
	}
	names, byName, err := s.versionsOf(ctx, scope)
	if err != nil {
		return nil, err
	}
	var out []Overwritten
	for _, name := range names {
		var real []minio.ObjectInfo
		for _, v := range byName[name] {
			if !v.IsDeleteMarker {
				real = append(real, v)
			}
		}
		vs := byName[name]
		if len(real) < 2 || vs[0].IsDeleteMarker {
			continue
		}
		key := s.s3.prefix + scope + "/" + name
		cur := real[0]
		o := Overwritten{Name: name, Bad: cur.VersionID}
		if hashNamed(name) {
			want := path.Base(name)
			sum, err := s.versionHash(ctx, key, cur.VersionID)
			if err != nil {
				return out, fmt.Errorf("drc %q: %s: reading %s: %s", s.Name, scopeName(scope), name, oneline.Of(describeS3Error(err, s.s3.loc).Error()))
			}
			if sum == want {
				continue
			}
			o.Why = "its content's SHA-256 is not its name"
			for _, v := range real[1:] {
				sum, err := s.versionHash(ctx, key, v.VersionID)
				if err != nil {
					return out, fmt.Errorf("drc %q: %s: reading an earlier version of %s: %s", s.Name, scopeName(scope), name, oneline.Of(describeS3Error(err, s.s3.loc).Error()))
				}
				if sum == want {
					o.Good = v.VersionID
					break
				}
			}
		} else {
			first := real[len(real)-1]
			if cur.Size == first.Size && cur.ETag == first.ETag {
				continue
			}
			o.Why = fmt.Sprintf("its current version (%d bytes) is not the one first written (%d bytes)", cur.Size, first.Size)
			o.Good = first.VersionID
		}
		out = append(out, o)
	}
	return out, nil
}

// RestoreVersion makes the good version of an overwritten object its current one
// again: a server-side copy of that version on top (locked like any object the DRC
// writes, if it is immutable), then checked. The overwriting version stays (an
// immutable DRC may keep it locked), below.
func (s *Site) RestoreVersion(ctx context.Context, scope string, o Overwritten) error {
	if s.s3 == nil {
		return nil
	}
	if o.Good == "" {
		return fmt.Errorf("drc %q: %s: %s was overwritten (%s) and no earlier version of it is intact", s.Name, scopeName(scope), o.Name, o.Why)
	}
	st := s.s3
	key := st.prefix + scope + "/" + o.Name
	dst := minio.CopyDestOptions{Bucket: st.bucket, Object: key}
	if st.ret != nil {
		dst.Mode, dst.RetainUntilDate = st.ret.mode, st.ret.now().Add(st.ret.period).UTC()
	}
	info, err := st.client.CopyObject(ctx, dst, minio.CopySrcOptions{Bucket: st.bucket, Object: key, VersionID: o.Good})
	if err != nil {
		return fmt.Errorf("drc %q: %s: restoring the earlier version of %s: %s", s.Name, scopeName(scope), o.Name, oneline.Of(describeS3Error(err, st.loc).Error()))
	}
	if hashNamed(o.Name) {
		sum, err := s.versionHash(ctx, key, info.VersionID)
		if err != nil {
			return fmt.Errorf("drc %q: %s: reading back %s: %s", s.Name, scopeName(scope), o.Name, oneline.Of(describeS3Error(err, st.loc).Error()))
		}
		if sum != path.Base(o.Name) {
			return fmt.Errorf("drc %q: %s: %s restored from an earlier version does not hash to its name", s.Name, scopeName(scope), o.Name)
		}
	}
	return nil
}

// KeyCanDelete tells whether the DRC's key may remove object versions (what the mirror
// does with an expired object at an immutable DRC), without changing anything: it
// removes a version that does not exist, under a name cadang never writes. Denied is
// a key that cannot delete (docs/ransomware.md); any other answer means it may.
func (s *Site) KeyCanDelete(ctx context.Context) (bool, error) {
	if s.s3 == nil {
		return true, nil
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return false, err
	}
	id[6], id[8] = id[6]&0x0f|0x40, id[8]&0x3f|0x80 // a version 4 UUID, as MinIO's ids are
	h := hex.EncodeToString(id[:])
	version := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	err := s.s3.client.RemoveObject(ctx, s.s3.bucket, s.s3.prefix+"_cadang/delete-probe", minio.RemoveObjectOptions{VersionID: version})
	switch minio.ToErrorResponse(err).Code {
	case "":
		return true, nil
	case "AccessDenied":
		return false, nil
	case "NoSuchVersion", "NoSuchKey", "InvalidArgument":
		return true, nil
	}
	if IsUnreachable(err) {
		return false, fmt.Errorf("drc %q: %s", s.Name, oneline.Of(describeS3Error(err, s.s3.loc).Error()))
	}
	return true, nil
}

// LifecycleRule describes the bucket's lifecycle rule that removes noncurrent object
// versions and expired delete markers under the DRC's prefix ("noncurrent versions
// expire after 7 day(s), expired delete markers removed"), or "" when the bucket has
// none. A rule limited to tagged objects, or to another prefix, does not count; nor
// does a rule that only expires current objects (it would hide packs still in use).
func (s *Site) LifecycleRule(ctx context.Context) (string, error) {
	if s.s3 == nil {
		return "", nil
	}
	cfg, err := s.s3.client.GetBucketLifecycle(ctx, s.s3.bucket)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchLifecycleConfiguration" {
			return "", nil
		}
		return "", fmt.Errorf("drc %q: reading the lifecycle rules of bucket %q: %s", s.Name, s.s3.bucket, oneline.Of(describeS3Error(err, s.s3.loc).Error()))
	}
	if cfg == nil {
		return "", nil
	}
	for _, r := range cfg.Rules {
		if r.Status != "Enabled" || r.RuleFilter.Tag.Key != "" || len(r.RuleFilter.And.Tags) > 0 {
			continue
		}
		prefix := r.RuleFilter.Prefix
		if prefix == "" {
			prefix = r.RuleFilter.And.Prefix
		}
		if prefix == "" {
			prefix = r.Prefix
		}
		if !strings.HasPrefix(s.s3.prefix, prefix) {
			continue
		}
		nc := r.NoncurrentVersionExpiration
		if nc.NoncurrentDays <= 0 && nc.NewerNoncurrentVersions <= 0 {
			continue
		}
		var what string
		if nc.NoncurrentDays > 0 {
			what = fmt.Sprintf("noncurrent versions expire after %d day(s)", nc.NoncurrentDays)
		} else {
			what = fmt.Sprintf("noncurrent versions beyond the newest %d expire", nc.NewerNoncurrentVersions)
		}
		if r.Expiration.DeleteMarker.IsEnabled() || !r.DelMarkerExpiration.IsNull() {
			what += ", expired delete markers removed"
		} else {
			what += " (delete markers left: add --expire-delete-marker)"
		}
		return what, nil
	}
	return "", nil
}

// dropVersions removes every version of name, delete markers included, from an S3
// store with versioning (nothing elsewhere): for an object cadang removed on purpose
// and whose versions are not locked.
func dropVersions(ctx context.Context, st Store, name string) error {
	s, ok := st.(*s3Store)
	if !ok {
		return nil
	}
	key, err := s.key(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: key, Recursive: true, WithVersions: true}) {
		if obj.Err != nil {
			return s3Error(obj.Err, name)
		}
		if obj.Key != key {
			continue
		}
		if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{VersionID: obj.VersionID}); err != nil {
			return s3Error(err, name)
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
