package runbooks

import (
	"slices"
	"strings"
	"testing"
)

type libvirtRefs struct{}

func (libvirtRefs) TargetKind(name string) (string, bool) { return "libvirt", name == "web-vm" }
func (libvirtRefs) HasDRC(name string) bool               { return name == "offsite" }
func (libvirtRefs) HasHypervisor(uri string) bool         { return uri == "qemu:///system" }
func (libvirtRefs) Roles() []string                       { return []string{"operator"} }

// A VM restore step: a domain name, a known hypervisor, an absolute folder for the
// disks (optional); in place only in real mode and without a destination.
func TestValidateLibvirtRestore(t *testing.T) {
	rb := &Runbook{Name: "vm", Groups: []Group{{Name: "g", Steps: []StepSpec{
		{Name: "ok", Restore: &RestoreSpec{Target: "web-vm", Domain: "web-dr", Hypervisor: "qemu:///system", Start: true, To: "/var/lib/libvirt/images/web-dr"}},
		{Name: "ok-default-folder", Restore: &RestoreSpec{Target: "web-vm", Domain: "web-dr2"}},
		{Name: "no-domain", Restore: &RestoreSpec{Target: "web-vm"}},
		{Name: "bad-domain", Restore: &RestoreSpec{Target: "web-vm", Domain: "web dr/1"}},
		{Name: "bad-uri", Restore: &RestoreSpec{Target: "web-vm", Domain: "web-dr3", Hypervisor: "qemu+ssh://dr9/system"}},
		{Name: "relative", Restore: &RestoreSpec{Target: "web-vm", Domain: "web-dr4", To: "images"}},
		{Name: "in-place-test", Restore: &RestoreSpec{Target: "web-vm", InPlace: true}},
		{Name: "in-place-real", Restore: &RestoreSpec{Target: "web-vm", InPlace: true}, Modes: []string{ModeReal}},
	}}}}
	var got []string
	rb.Validate(libvirtRefs{}, func(field, msg string) { got = append(got, field+": "+msg) })
	want := []string{
		`groups[0].steps[2].restore.domain: required for a libvirt target: the new domain's name`,
		`groups[0].steps[3].restore.domain: "web dr/1": a domain name is letters, digits, '.', '_', '+' and '-', at most 48`,
		`groups[0].steps[4].restore.hypervisor: unknown hypervisor "qemu+ssh://dr9/system" (the uri of a configured libvirt target)`,
		`groups[0].steps[5].restore.to: the folder of the restored disks: an absolute folder (default /var/lib/libvirt/images/DOMAIN)`,
		`groups[0].steps[6].restore.in_place: an in-place restore runs in real mode only: add modes: [real]`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
