package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
)

// LibvirtURI is the hypervisor the tests use.
const LibvirtURI = "qemu:///system"

// Libvirt returns a connection to the local libvirtd, closed when the test ends. It
// skips when libvirtd, qemu-img or virsh is missing.
func Libvirt(t testing.TB) *golibvirt.Libvirt {
	t.Helper()
	for _, bin := range []string{"qemu-img", "virsh", "qemu-system-x86_64"} {
		if _, err := exec.LookPath(bin); err != nil {
			Skip(t, "%s is not installed: run e2e/setup/services.sh (it installs and starts libvirt and QEMU)", bin)
		}
	}
	u, _ := url.Parse(LibvirtURI)
	l, err := golibvirt.ConnectToURI(u)
	if err != nil {
		Skip(t, "libvirtd does not answer at %s (%v): run e2e/setup/services.sh (it starts virtlogd and libvirtd)", LibvirtURI, err)
	}
	t.Cleanup(func() { _ = l.Disconnect() })
	return l
}

// Domain is a virtual machine of a test: a TCG guest with 64 MiB of memory, no OS (or
// the test guest, with 128 MiB) and no network, whose disk vda is a qcow2 file seeded with known bytes. Model is a raw
// file that holds what vda holds: Write changes both.
type Domain struct {
	Name  string
	Dir   string // the folder of its disk (0711: QEMU runs as its own user)
	Disk  string // vda, qcow2
	Model string // what vda holds, raw
	Size  int64
	L     *golibvirt.Libvirt
	Dom   golibvirt.Domain

	t testing.TB
}

// DomainOptions say what a test domain is like.
type DomainOptions struct {
	Size   int64  // of vda; default 64 MiB
	Seeded int64  // bytes of pseudo-random data at the start of vda; default 3/4 of Size
	Seed   uint64 // of the data
	// ExtraDevices is XML added to <devices>.
	ExtraDevices string
	// Guest boots the test guest (GuestImages): Linux with the QEMU guest agent, which
	// formats the blank vda (ext2) and mounts it. Model does not follow vda then.
	Guest bool
}

// GuestDir holds the test guest's kernel and initramfs, built by
// e2e/setup/services.d/31-libvirt-guest.sh.
const GuestDir = "/var/lib/libvirt/images/cadang-test-guest"

// GuestImages returns the test guest's kernel and initramfs, or skips.
func GuestImages(t testing.TB) (kernel, initrd string) {
	t.Helper()
	kernel, initrd = filepath.Join(GuestDir, "vmlinuz"), filepath.Join(GuestDir, "initrd.img")
	for _, f := range []string{kernel, initrd} {
		if _, err := os.Stat(f); err != nil {
			Skip(t, "the test guest is not built (%v): run e2e/setup/services.sh (31-libvirt-guest.sh builds it)", err)
		}
	}
	return kernel, initrd
}

// NewDomain defines and starts a test domain; it is destroyed and undefined, with its
// checkpoints, when the test ends.
func NewDomain(t testing.TB, o DomainOptions) *Domain {
	t.Helper()
	l := Libvirt(t)
	if o.Size == 0 {
		o.Size = 64 << 20
	}
	osXML, memory := "<boot dev='hd'/>", 64
	switch {
	case o.Guest:
		memory = 128 // the kernel does not boot in 64 MiB
		kernel, initrd := GuestImages(t)
		osXML = fmt.Sprintf("<kernel>%s</kernel><initrd>%s</initrd><cmdline>console=ttyS0 panic=-1</cmdline>", kernel, initrd)
		o.Seeded = 0
	case o.Seeded == 0:
		o.Seeded = o.Size / 4 * 3
	}
	dir, err := os.MkdirTemp("", "cadang-vm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	d := &Domain{Name: "cadang-test-" + filepath.Base(dir)[len("cadang-vm-"):], Dir: dir,
		Disk: filepath.Join(dir, "vda.qcow2"), Model: filepath.Join(dir, "vda.model.raw"), Size: o.Size, L: l, t: t}
	d.Name = strings.ToLower(d.Name)
	f, err := os.Create(d.Model)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.NewChaCha8(seed32(o.Seed))
	if _, err := io.CopyN(f, rng, o.Seeded); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(o.Size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	Run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", d.Model, d.Disk)

	xml := fmt.Sprintf(`<domain type='qemu'>
  <name>%s</name>
  <memory unit='MiB'>%d</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>%s</os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='%s'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <memballoon model='none'/>
    %s
  </devices>
</domain>`, d.Name, memory, osXML, d.Disk, o.ExtraDevices)
	d.Dom, err = l.DomainDefineXML(xml)
	if err != nil {
		t.Fatalf("defining test domain: %v", err)
	}
	t.Cleanup(func() { RemoveDomain(t, l, d.Name) })
	d.Start()
	return d
}

// RemoveDomain destroys and undefines a domain if it exists.
func RemoveDomain(t testing.TB, l *golibvirt.Libvirt, name string) {
	dom, err := l.DomainLookupByName(name)
	if err != nil {
		return
	}
	_ = l.DomainDestroy(dom)
	if err := l.DomainUndefineFlags(dom, golibvirt.DomainUndefineCheckpointsMetadata|golibvirt.DomainUndefineNvram|golibvirt.DomainUndefineManagedSave); err != nil {
		t.Errorf("undefining %s: %v", name, err)
	}
}

func seed32(s uint64) [32]byte {
	var b [32]byte
	for i := range 4 {
		for j := range 8 {
			b[i*8+j] = byte(s >> (8 * j))
		}
	}
	return b
}

// Start starts the domain.
func (d *Domain) Start() {
	d.t.Helper()
	if err := d.L.DomainCreate(d.Dom); err != nil {
		d.t.Fatalf("starting %s: %v", d.Name, err)
	}
}

// WaitAgent waits until the guest agent of domain name is connected (the test guest
// has booted and mounted its disk).
func WaitAgent(t testing.TB, l *golibvirt.Libvirt, name string) {
	t.Helper()
	dom, err := l.DomainLookupByName(name)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		x, err := l.DomainGetXMLDesc(dom, 0)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(x, "name='org.qemu.guest_agent.0' state='connected'") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the guest agent of %s did not connect within 3 minutes", name)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Agent runs a guest agent command (JSON) in domain name and returns its reply.
func Agent(t testing.TB, name, cmd string) string {
	t.Helper()
	return strings.TrimSpace(Run(t, "virsh", "-c", LibvirtURI, "qemu-agent-command", name, "--timeout", "30", cmd))
}

// Destroy stops the domain at once.
func (d *Domain) Destroy() {
	d.t.Helper()
	if err := d.L.DomainDestroy(d.Dom); err != nil {
		d.t.Fatalf("destroying %s: %v", d.Name, err)
	}
}

// State is the domain's state as virsh names it: running, shut off, ...
func (d *Domain) State() string {
	d.t.Helper()
	return strings.TrimSpace(Run(d.t, "virsh", "-c", LibvirtURI, "domstate", d.Name))
}

// HMP runs a human monitor command in the domain's QEMU.
func (d *Domain) HMP(cmd string) string {
	d.t.Helper()
	out, err := d.L.QEMUDomainMonitorCommand(d.Dom, cmd, 1)
	if err != nil {
		d.t.Fatalf("%s: %v", cmd, err)
	}
	return out
}

// Write writes n bytes of pattern at off into vda of the running guest, through the
// guest's own block device in QEMU (HMP qemu-io), and into Model.
func (d *Domain) Write(pattern byte, off, n int64) {
	d.t.Helper()
	out := d.HMP(fmt.Sprintf(`qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "write -P 0x%02x %d %d"`, pattern, off, n))
	if out = strings.TrimSpace(out); out != "" && !strings.Contains(out, "wrote") {
		d.t.Fatalf("qemu-io write: %s", out) // it says nothing when it worked
	}
	f, err := os.OpenFile(d.Model, os.O_WRONLY, 0)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{pattern}, int(n)), off); err != nil {
		d.t.Fatal(err)
	}
}

// Keep copies Model (the disk's content now) to a file of the test and returns it.
func (d *Domain) Keep() string {
	d.t.Helper()
	p := filepath.Join(d.t.TempDir(), fmt.Sprintf("vda-%d.raw", time.Now().UnixNano()))
	Run(d.t, "cp", "--sparse=always", d.Model, p)
	return p
}

// Checkpoints lists the domain's checkpoints.
func (d *Domain) Checkpoints() []string {
	d.t.Helper()
	cps, _, err := d.L.DomainListAllCheckpoints(d.Dom, 1, 0)
	if err != nil {
		d.t.Fatal(err)
	}
	var names []string
	for _, c := range cps {
		names = append(names, c.Name)
	}
	return names
}

// Identical reports whether two disk images (any formats) hold the same bytes, with
// qemu-img compare; the message says where they differ.
func Identical(t testing.TB, a, b string) (bool, string) {
	t.Helper()
	out, err := exec.Command("qemu-img", "compare", "-U", a, b).CombinedOutput()
	if err == nil {
		return true, ""
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
		return false, strings.TrimSpace(string(out))
	}
	t.Fatalf("qemu-img compare %s %s: %v: %s", a, b, err, out)
	return false, ""
}

// Run runs a command and fails the test if it fails; it returns its output.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// DomainNames lists the names of every domain libvirt knows (running or not).
func DomainNames(t testing.TB, l *golibvirt.Libvirt) []string {
	t.Helper()
	doms, _, err := l.ConnectListAllDomains(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(doms))
	for _, d := range doms {
		names = append(names, d.Name)
	}
	return names
}

// Bitmaps lists the dirty bitmaps of the domain's vda: QEMU's (which writes them into
// the image only when it ends) while the domain runs, else those in the image.
func (d *Domain) Bitmaps() []string {
	d.t.Helper()
	state, _, err := d.L.DomainGetState(d.Dom, 0)
	if err != nil {
		d.t.Fatal(err)
	}
	if golibvirt.DomainState(state) != golibvirt.DomainRunning && golibvirt.DomainState(state) != golibvirt.DomainPaused {
		return ImageBitmaps(d.t, d.Disk)
	}
	out, err := d.L.QEMUDomainMonitorCommand(d.Dom, `{"execute":"query-named-block-nodes","arguments":{"flat":true}}`, 0)
	if err != nil {
		d.t.Fatalf("query-named-block-nodes: %v", err)
	}
	var res struct {
		Return []struct {
			File    string `json:"file"`
			Drv     string `json:"drv"`
			Bitmaps []struct {
				Name string `json:"name"`
			} `json:"dirty-bitmaps"`
		} `json:"return"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		d.t.Fatalf("query-named-block-nodes: %v: %s", err, out)
	}
	var names []string
	for _, n := range res.Return {
		if n.File == d.Disk && n.Drv == "qcow2" {
			for _, b := range n.Bitmaps {
				names = append(names, b.Name)
			}
		}
	}
	return names
}

// ImageBitmaps lists the dirty bitmaps stored in a qcow2 image.
func ImageBitmaps(t testing.TB, image string) []string {
	t.Helper()
	var info struct {
		FormatSpecific struct {
			Data struct {
				Bitmaps []struct {
					Name string `json:"name"`
				} `json:"bitmaps"`
			} `json:"data"`
		} `json:"format-specific"`
	}
	out := Run(t, "qemu-img", "info", "-U", "--output=json", image)
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("qemu-img info %s: %v", image, err)
	}
	var names []string
	for _, b := range info.FormatSpecific.Data.Bitmaps {
		names = append(names, b.Name)
	}
	return names
}

// Frozen reports whether the guest agent says the guest's file systems are frozen.
func (d *Domain) Frozen() (bool, error) {
	out, err := d.L.QEMUDomainAgentCommand(d.Dom, `{"execute":"guest-fsfreeze-status"}`, 10, 0)
	if err != nil {
		return false, err
	}
	if len(out) == 0 {
		return false, fmt.Errorf("guest-fsfreeze-status: no answer")
	}
	return strings.Contains(out[0], `"frozen"`), nil
}

// ActiveJob reports whether the domain has an active job (virsh domjobinfo).
func (d *Domain) ActiveJob() bool {
	d.t.Helper()
	typ, _, err := d.L.DomainGetJobStats(d.Dom, 0)
	if err != nil && strings.Contains(err.Error(), "backup job data missing") {
		return true // a backup job that libvirt is setting up or ending
	}
	if err != nil {
		d.t.Fatalf("job stats of %s: %v", d.Name, err)
	}
	return golibvirt.DomainJobType(typ) != golibvirt.DomainJobNone
}

// ResizeModel sets Model's size (what a disk resize does to the guest's view).
func (d *Domain) ResizeModel(size int64) {
	d.t.Helper()
	if err := os.Truncate(d.Model, size); err != nil {
		d.t.Fatal(err)
	}
	d.Size = size
}
