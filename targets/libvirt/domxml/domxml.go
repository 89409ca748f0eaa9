package domxml

import (
	"encoding/xml"
	"fmt"
	"os/user"
	"strconv"
	"strings"
)

// Domain is what cadang reads from a domain's XML.
type Domain struct {
	Name    string `xml:"name"`
	UUID    string `xml:"uuid"`
	Devices struct {
		Disks    []Disk `xml:"disk"`
		Channels []struct {
			Type   string `xml:"type,attr"`
			Target struct {
				Type  string `xml:"type,attr"`
				Name  string `xml:"name,attr"`
				State string `xml:"state,attr"`
			} `xml:"target"`
		} `xml:"channel"`
	} `xml:"devices"`
	SecLabels []struct {
		Model string `xml:"model,attr"`
		Label string `xml:"label"`
	} `xml:"seclabel"`
}

// Disk is a <disk> of a domain.
type Disk struct {
	Type   string `xml:"type,attr"`   // file, block, volume, network, ...
	Device string `xml:"device,attr"` // disk, cdrom, floppy, lun
	Driver struct {
		Type string `xml:"type,attr"` // qcow2, raw, ...
	} `xml:"driver"`
	Source struct {
		File     string `xml:"file,attr"`
		Dev      string `xml:"dev,attr"`
		Pool     string `xml:"pool,attr"`
		Volume   string `xml:"volume,attr"`
		Protocol string `xml:"protocol,attr"`
		Name     string `xml:"name,attr"`
	} `xml:"source"`
	Target struct {
		Dev string `xml:"dev,attr"`
	} `xml:"target"`
	ReadOnly *struct{} `xml:"readonly"`
}

// Parse reads a domain's XML.
func Parse(s string) (*Domain, error) {
	var d Domain
	if err := xml.Unmarshal([]byte(s), &d); err != nil {
		return nil, fmt.Errorf("cannot read the domain XML: %w", err)
	}
	return &d, nil
}

// Location says where a disk's data is, for messages and the manifest.
func (d Disk) Location() string {
	s := d.Source
	switch {
	case s.File != "":
		return s.File
	case s.Dev != "":
		return s.Dev
	case s.Volume != "":
		return s.Pool + "/" + s.Volume
	case s.Protocol != "":
		return s.Protocol + ":" + s.Name
	}
	return ""
}

// Writable reports whether the disk is a disk (not a cdrom, ...) the guest can write.
func (d Disk) Writable() bool { return d.Device == "disk" && d.ReadOnly == nil }

// SelectDisks returns the disks to back up: the named ones, or every writable disk.
func (d *Domain) SelectDisks(names []string) ([]Disk, error) {
	if len(names) == 0 {
		var out []Disk
		for _, k := range d.Devices.Disks {
			if k.Writable() {
				out = append(out, k)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("domain %q has no writable disk to back up", d.Name)
		}
		return out, nil
	}
	var out []Disk
	for _, n := range names {
		k, ok := d.Disk(n)
		switch {
		case !ok:
			return nil, fmt.Errorf("domain %q has no disk %q (its disks: %s)", d.Name, n, strings.Join(d.DiskNames(), ", "))
		case k.Device != "disk":
			return nil, fmt.Errorf("disk %q of domain %q is a %s, not a disk", n, d.Name, k.Device)
		case k.ReadOnly != nil:
			return nil, fmt.Errorf("disk %q of domain %q is read-only: it is not backed up", n, d.Name)
		}
		out = append(out, k)
	}
	return out, nil
}

// Disk returns the disk whose target device is name.
func (d *Domain) Disk(name string) (Disk, bool) {
	for _, k := range d.Devices.Disks {
		if k.Target.Dev == name {
			return k, true
		}
	}
	return Disk{}, false
}

// DiskNames returns the target device names of every disk, in the XML's order.
func (d *Domain) DiskNames() []string {
	var n []string
	for _, k := range d.Devices.Disks {
		n = append(n, k.Target.Dev)
	}
	return n
}

// AgentConnected reports whether the QEMU guest agent of the domain is connected.
func (d *Domain) AgentConnected() bool {
	for _, c := range d.Devices.Channels {
		if c.Target.Name == "org.qemu.guest_agent.0" && c.Target.State == "connected" {
			return true
		}
	}
	return false
}

// QEMUOwner returns the user and group QEMU runs as, from the live XML's DAC label
// ("+64055:+108" or "libvirt-qemu:kvm"); ok is false when there is none.
func (d *Domain) QEMUOwner() (uid, gid int, ok bool) {
	for _, s := range d.SecLabels {
		if s.Model != "dac" || s.Label == "" {
			continue
		}
		u, g, found := strings.Cut(s.Label, ":")
		if !found {
			continue
		}
		uid, err1 := lookupID(u, func(n string) (string, error) {
			x, err := user.Lookup(n)
			if err != nil {
				return "", err
			}
			return x.Uid, nil
		})
		gid, err2 := lookupID(g, func(n string) (string, error) {
			x, err := user.LookupGroup(n)
			if err != nil {
				return "", err
			}
			return x.Gid, nil
		})
		if err1 == nil && err2 == nil {
			return uid, gid, true
		}
	}
	return 0, 0, false
}

func lookupID(s string, byName func(string) (string, error)) (int, error) {
	if n, ok := strings.CutPrefix(s, "+"); ok {
		return strconv.Atoi(n)
	}
	if n, err := strconv.Atoi(s); err == nil {
		return n, nil
	}
	id, err := byName(s)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(id)
}

// Backup is the <domainbackup> of a push-mode backup that writes each selected disk
// to targets[name] as qcow2; incremental names the checkpoint to start from, if any.
func Backup(all []string, targets map[string]string, incremental string) string {
	var b strings.Builder
	b.WriteString("<domainbackup mode='push'>")
	if incremental != "" {
		fmt.Fprintf(&b, "<incremental>%s</incremental>", escape(incremental))
	}
	b.WriteString("<disks>")
	for _, name := range all {
		if t, ok := targets[name]; ok {
			fmt.Fprintf(&b, "<disk name='%s' backup='yes' type='file'><target file='%s'/><driver type='qcow2'/></disk>", escape(name), escape(t))
		} else {
			fmt.Fprintf(&b, "<disk name='%s' backup='no'/>", escape(name))
		}
	}
	b.WriteString("</disks></domainbackup>")
	return b.String()
}

// Checkpoint is the <domaincheckpoint> that records changes of the selected disks
// from the backup's start on.
func Checkpoint(name, description string, all []string, selected map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<domaincheckpoint><name>%s</name><description>%s</description><disks>", escape(name), escape(description))
	for _, d := range all {
		mode := "no"
		if _, ok := selected[d]; ok {
			mode = "bitmap"
		}
		fmt.Fprintf(&b, "<disk name='%s' checkpoint='%s'/>", escape(d), mode)
	}
	b.WriteString("</disks></domaincheckpoint>")
	return b.String()
}

func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// HasAgentChannel reports whether the domain has a QEMU guest agent channel.
func (d *Domain) HasAgentChannel() bool {
	for _, c := range d.Devices.Channels {
		if c.Target.Name == "org.qemu.guest_agent.0" {
			return true
		}
	}
	return false
}
