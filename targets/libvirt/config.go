package libvirt

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
)

// Defaults of the `libvirt:` section.
const (
	DefaultURI = "qemu:///system"
	// DefaultScratchDir is where a local hypervisor's QEMU writes the backup images of a
	// run: QEMU runs as its own user (libvirt-qemu on Debian), so the run's scratch in
	// cadang's state_dir (0700) is out of its reach, while libvirt's image folder is
	// made for it.
	DefaultScratchDir = "/var/lib/libvirt/images/cadang-scratch"
)

// Config is the `libvirt:` section of a target.
type Config struct {
	// URI of the hypervisor: qemu:///system (default), qemu+ssh://user@host/system, ...
	URI string `yaml:"uri"`
	// Domain is the name of the virtual machine.
	Domain string `yaml:"domain"`
	// Disks are the disks to back up, by target device (vda, sdb, ...); default: every
	// writable disk of the domain.
	Disks []string `yaml:"disks"`
	// Mode is how libvirt hands the disks over: push (libvirt writes them to scratch).
	Mode string `yaml:"mode"`
	// ScratchDir is a folder that QEMU can write at the same path as cadang reads it; a
	// folder per run is made in it and removed after the run. Default DefaultScratchDir;
	// required for a remote hypervisor (a mount shared by both hosts).
	ScratchDir string `yaml:"scratch_dir"`
}

func newConfig() any { return &Config{URI: DefaultURI, Mode: "push"} }

var diskName = regexp.MustCompile(`^[a-z]+[a-z0-9]*$`)

// transports go-libvirt can dial (the part after "qemu+" in a URI).
var transports = map[string]bool{"": true, "unix": true, "tcp": true, "tls": true, "ssh": true, "libssh": true, "libssh2": true}

// Validate reports problems through report(field, message).
func (c *Config) Validate(report func(field, msg string)) {
	u, err := url.Parse(c.URI)
	switch {
	case c.URI == "":
		report("uri", "required, e.g. "+DefaultURI)
	case err != nil:
		report("uri", fmt.Sprintf("%q is not a URI: %v", c.URI, err))
	default:
		scheme, transport, _ := strings.Cut(u.Scheme, "+")
		switch {
		case scheme != "qemu":
			report("uri", fmt.Sprintf("%q: only QEMU hypervisors are supported (qemu:///system, qemu+ssh://host/system)", c.URI))
		case !transports[transport]:
			report("uri", fmt.Sprintf("%q: transport %q is not supported: use unix, ssh, libssh2, tcp or tls", c.URI, transport))
		case u.Path != "/system" && u.Path != "/session":
			report("uri", fmt.Sprintf("%q: the path must be /system or /session", c.URI))
		}
		if u.Host != "" && c.ScratchDir == "" {
			report("scratch_dir", "required for a remote hypervisor: a folder mounted at the same path on the hypervisor and on this host")
		}
	}
	if c.Domain == "" {
		report("domain", "required: the name of the virtual machine")
	}
	seen := map[string]bool{}
	for i, d := range c.Disks {
		switch {
		case !diskName.MatchString(d):
			report(fmt.Sprintf("disks[%d]", i), fmt.Sprintf("%q is not a disk's target device name (vda, sdb, ...)", d))
		case seen[d]:
			report(fmt.Sprintf("disks[%d]", i), fmt.Sprintf("%q is listed twice", d))
		}
		seen[d] = true
	}
	if c.Mode != "push" {
		report("mode", fmt.Sprintf("%q is not supported: use push (libvirt writes each disk to scratch)", c.Mode))
	}
	if c.ScratchDir != "" && !filepath.IsAbs(c.ScratchDir) {
		report("scratch_dir", fmt.Sprintf("%q must be an absolute path", c.ScratchDir))
	}
}

// scratchDir is the configured scratch folder or the default.
func (c *Config) scratchDir() string {
	if c.ScratchDir != "" {
		return c.ScratchDir
	}
	return DefaultScratchDir
}
