package domxml

import (
	"reflect"
	"strings"
	"testing"
)

const sampleDomain = `<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>web01</name>
  <uuid>0b8f4c2e-1111-2222-3333-444455556666</uuid>
  <description>portal</description>
  <os firmware='efi'>
    <type arch='x86_64' machine='q35'>hvm</type>
    <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/web01_VARS.fd</nvram>
  </os>
  <devices>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source protocol='rbd' name='pool/web01'><host name='ceph1'/></source>
      <auth username='admin'><secret type='ceph' uuid='aaaa'/></auth>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/web01-data.qcow2'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/iso/debian.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <interface type='bridge'><mac address='52:54:00:aa:bb:cc'/><source bridge='br0'/></interface>
    <hostdev mode='subsystem' type='pci'/>
    <graphics type='vnc' port='5901' autoport='no' websocket='5701'><listen type='address' address='0.0.0.0'/></graphics>
    <channel type='unix'><source mode='bind' path='/var/lib/libvirt/qemu/web01.agent'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
  </devices>
  <qemu:commandline><qemu:arg value='-sandbox'/></qemu:commandline>
</domain>`

func TestDefineXML(t *testing.T) {
	x, remarks, err := Define(sampleDomain, "web01-dr", "restored & checked", map[string]string{"vda": "/srv/r/vda.qcow2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"<name>web01-dr</name>", "<description>restored &amp; checked</description>",
		`<disk type="file" device="disk">`, `<driver name="qemu" type="qcow2" cache="none"/>`, `<source file="/srv/r/vda.qcow2"/>`,
		`<nvram template="/usr/share/OVMF/OVMF_VARS_4M.fd"/>`, `autoport="yes"`, `<source mode="bind"/>`,
		`<target dev="sda" bus="sata"/>`, `xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"`, `<qemu:arg value="-sandbox"/>`,
	} {
		if !strings.Contains(x, want) {
			t.Errorf("missing %s in\n%s", want, x)
		}
	}
	for _, gone := range []string{"<uuid>", "portal", "rbd", "<auth", "<interface", "<hostdev", "5901", "5701", "web01-data", "web01_VARS", "web01.agent"} {
		if strings.Contains(x, gone) {
			t.Errorf("%s still in\n%s", gone, x)
		}
	}
	want := []string{"network interface removed", "hostdev removed", "disks not in the backup left out: vdb"}
	if !reflect.DeepEqual(remarks, want) {
		t.Errorf("remarks %q, want %q", remarks, want)
	}
	if _, err := parseNode(x); err != nil {
		t.Errorf("result is not XML: %v", err)
	}
	if _, _, err := Define(sampleDomain, "x", "", map[string]string{"vdc": "/f"}); err == nil {
		t.Error("a disk not in the XML was accepted")
	}
}

func TestDomainXML(t *testing.T) {
	d, err := Parse(sampleDomain)
	if err != nil {
		t.Fatal(err)
	}
	disks, err := d.SelectDisks(nil)
	if err != nil || len(disks) != 2 || disks[0].Target.Dev != "vda" || disks[1].Location() != "/var/lib/libvirt/images/web01-data.qcow2" {
		t.Fatalf("writable disks: %+v, %v", disks, err)
	}
	for names, want := range map[string]string{
		"sda": `disk "sda" of domain "web01" is a cdrom, not a disk`,
		"vdz": `domain "web01" has no disk "vdz" (its disks: vda, vdb, sda)`,
	} {
		if _, err := d.SelectDisks([]string{names}); err == nil || err.Error() != want {
			t.Errorf("select %s: %v, want %s", names, err, want)
		}
	}
	if d.AgentConnected() {
		t.Error("agent without state='connected' counted as connected")
	}
	if got := Backup([]string{"vda", "vdb"}, map[string]string{"vda": "/s/vda.qcow2"}, "cp1"); got !=
		"<domainbackup mode='push'><incremental>cp1</incremental><disks><disk name='vda' backup='yes' type='file'><target file='/s/vda.qcow2'/><driver type='qcow2'/></disk><disk name='vdb' backup='no'/></disks></domainbackup>" {
		t.Errorf("backup XML: %s", got)
	}
	live, _ := Parse(`<domain><seclabel type='dynamic' model='dac'><label>+64055:+108</label></seclabel></domain>`)
	if uid, gid, ok := live.QEMUOwner(); !ok || uid != 64055 || gid != 108 {
		t.Errorf("qemu owner: %d:%d %v", uid, gid, ok)
	}
}
