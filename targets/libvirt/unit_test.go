package libvirt

import (
	"reflect"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want []string
	}{
		{Config{URI: DefaultURI, Domain: "web01", Mode: "push"}, nil},
		{Config{URI: "qemu+ssh://backup@hv1/system", Domain: "web01", Mode: "push", ScratchDir: "/mnt/shared"}, nil},
		{Config{URI: "qemu+ssh://backup@hv1/system", Domain: "web01", Mode: "push"},
			[]string{"scratch_dir: required for a remote hypervisor: a folder mounted at the same path on the hypervisor and on this host"}},
		{Config{URI: "xen:///system", Mode: "pull", Disks: []string{"vda", "vda", "/dev/sda"}, ScratchDir: "rel"}, []string{
			`uri: "xen:///system": only QEMU hypervisors are supported (qemu:///system, qemu+ssh://host/system)`,
			"domain: required: the name of the virtual machine",
			`disks[1]: "vda" is listed twice`,
			`disks[2]: "/dev/sda" is not a disk's target device name (vda, sdb, ...)`,
			`mode: "pull" is not supported: use push (libvirt writes each disk to scratch)`,
			`scratch_dir: "rel" must be an absolute path`,
		}},
		{Config{URI: "qemu+http://h/system", Domain: "d", Mode: "push", ScratchDir: "/s"},
			[]string{`uri: "qemu+http://h/system": transport "http" is not supported: use unix, ssh, libssh2, tcp or tls`}},
		{Config{URI: "qemu:///other", Domain: "d", Mode: "push"}, []string{`uri: "qemu:///other": the path must be /system or /session`}},
	} {
		var got []string
		tc.cfg.Validate(func(f, m string) { got = append(got, f+": "+m) })
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v:\n got %q\nwant %q", tc.cfg, got, tc.want)
		}
	}
	if c := newConfig().(*Config); c.URI != DefaultURI || c.Mode != "push" || c.scratchDir() != DefaultScratchDir {
		t.Errorf("defaults: %+v", c)
	}
}

// The include patterns of the blocks an incremental backup reads back.
func TestPartialIncludes(t *testing.T) {
	inc := partialIncludes("vda", []int{3, 1025})
	if !reflect.DeepEqual(inc, []string{"/disks/vda/map", "/disks/vda/blocks/0000/00000003", "/disks/vda/blocks/0001/00001025"}) {
		t.Errorf("includes: %v", inc)
	}
	many := make([]int, 300)
	for i := range many {
		many[i] = i * 10
	}
	if inc := partialIncludes("vda", many); len(inc) != 4 || inc[1] != "/disks/vda/blocks/0000" || inc[3] != "/disks/vda/blocks/0002" {
		t.Errorf("many partial blocks are restored by folder: %v", inc)
	}
}
