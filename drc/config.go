package drc

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Roles of a DRC.
const (
	RolePrimary   = "primary"   // backups land here first
	RoleSecondary = "secondary" // holds a verified mirror of the primary
)

// Config is one entry of `drcs:` in cadang.yaml.
type Config struct {
	Name string `yaml:"name"`
	Role string `yaml:"role"`
	// Exactly one of S3 and Path.
	S3   *S3Config `yaml:"s3"`
	Path string    `yaml:"path"` // a local directory (the embedded default)

	// Concurrency bounds the runs that use this DRC at once (0: only the daemon's
	// global limit applies).
	Concurrency int         `yaml:"concurrency"`
	Maintenance Maintenance `yaml:"maintenance"` // prune and check schedules
	// Replication says how a secondary is kept in step with the primary (replication.go).
	Replication Replication `yaml:"replication"`
	// Immutability puts every object cadang writes here under S3 Object Lock
	// (immutable.go). S3 DRCs only.
	Immutability *Immutability `yaml:"immutability"`
}

// S3Config is an S3-compatible object store (MinIO or any S3).
type S3Config struct {
	Endpoint      string `yaml:"endpoint"` // host:port, no scheme
	Bucket        string `yaml:"bucket"`
	Prefix        string `yaml:"prefix"` // optional folder inside the bucket
	Region        string `yaml:"region"`
	AccessKey     string `yaml:"access_key"`
	AccessKeyFile string `yaml:"access_key_file"`
	SecretKey     string `yaml:"secret_key"` // prefer secret_key_file; never printed (the config is never echoed)
	SecretKeyFile string `yaml:"secret_key_file"`
	Insecure      bool   `yaml:"insecure"`      // plain http
	CreateBucket  bool   `yaml:"create_bucket"` // let `cadang init` create a missing bucket
}

var (
	namePattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

// ValidName reports whether s can name a DRC, an agency or a target: lower-case letters,
// digits, '-' and '_', starting with a letter or digit. Such names appear in object keys
// and file names, so nothing else is allowed.
func ValidName(s string) bool { return namePattern.MatchString(s) }

// Validate reports every problem with c through report(field, message).
func (c *Config) Validate(report func(field, msg string)) {
	switch {
	case c.Name == "":
		report("name", "required")
	case !ValidName(c.Name):
		report("name", fmt.Sprintf("%q is not a valid name (lower-case letters, digits, '-' and '_')", c.Name))
	}
	switch c.Role {
	case RolePrimary, RoleSecondary:
	case "":
		report("role", "required: primary or secondary")
	default:
		report("role", fmt.Sprintf("%q is not a role: use primary or secondary", c.Role))
	}
	switch {
	case c.S3 == nil && c.Path == "":
		report("", "give either s3: or path:")
	case c.S3 != nil && c.Path != "":
		report("path", "give either s3: or path:, not both")
	case c.S3 != nil:
		c.S3.validate(func(f, m string) { report("s3."+f, m) })
	case !filepath.IsAbs(c.Path):
		report("path", fmt.Sprintf("%q must be an absolute path", c.Path))
	}
	c.validateMaintenance(report)
	if c.Role == RolePrimary && c.Replication != (Replication{}) {
		report("replication", "applies to a secondary DRC only (the primary is what is replicated)")
	}
	c.Replication.validate(func(f, m string) { report("replication."+f, m) })
	if c.Immutability != nil {
		if c.S3 == nil {
			report("immutability", "applies to an S3 DRC only (a directory cannot lock its files against root)")
		}
		c.Immutability.validate(func(f, m string) { report("immutability."+f, m) })
	}
}

func (c *S3Config) validate(report func(field, msg string)) {
	switch {
	case c.Endpoint == "":
		report("endpoint", "required (host:port)")
	case strings.Contains(c.Endpoint, "://"):
		report("endpoint", fmt.Sprintf("%q: give host:port without a scheme (insecure: true selects plain http)", c.Endpoint))
	}
	switch {
	case c.Bucket == "":
		report("bucket", "required")
	case !bucketPattern.MatchString(c.Bucket):
		report("bucket", fmt.Sprintf("%q is not a valid bucket name", c.Bucket))
	}
	if strings.HasPrefix(c.Prefix, "/") || strings.Contains(c.Prefix, "..") {
		report("prefix", fmt.Sprintf("%q must be a relative folder without '..'", c.Prefix))
	}
	exactlyOne(report, "access_key", c.AccessKey, "access_key_file", c.AccessKeyFile)
	exactlyOne(report, "secret_key", c.SecretKey, "secret_key_file", c.SecretKeyFile)
}

func exactlyOne(report func(field, msg string), a, av, b, bv string) {
	switch {
	case av == "" && bv == "":
		report(a, fmt.Sprintf("required: give %s or %s", a, b))
	case av != "" && bv != "":
		report(b, fmt.Sprintf("give %s or %s, not both", a, b))
	}
}

// Kind names the kind of store ("s3" or "path").
func (c *Config) Kind() string {
	if c.S3 != nil {
		return "s3"
	}
	return "path"
}

// Location is a human-readable place of the DRC without credentials.
func (c *Config) Location() string {
	if c.S3 != nil {
		scheme := "https"
		if c.S3.Insecure {
			scheme = "http"
		}
		loc := fmt.Sprintf("%s://%s/%s", scheme, c.S3.Endpoint, c.S3.Bucket)
		if p := strings.Trim(c.S3.Prefix, "/"); p != "" {
			loc += "/" + p
		}
		return loc
	}
	return c.Path
}
