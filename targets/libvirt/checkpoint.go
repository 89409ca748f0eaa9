package libvirt

import (
	"context"
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/cadang/cadang/targets/libvirt/domxml"
	golibvirt "github.com/digitalocean/go-libvirt"
)

// checkpointXMLDesc is what cadang reads of a checkpoint's XML: the bitmap of each disk.
type checkpointXMLDesc struct {
	Disks []struct {
		Name       string `xml:"name,attr"`
		Checkpoint string `xml:"checkpoint,attr"` // bitmap or no
		Bitmap     string `xml:"bitmap,attr"`
	} `xml:"disks>disk"`
}

// deleteCheckpoint deletes a checkpoint with its bitmaps. libvirt deletes the bitmaps
// of a running domain only ("cannot delete checkpoint for inactive domain"): for a
// shut-off domain cadang removes them from the disk images itself (qemu-img bitmap
// --remove) and then the checkpoint's metadata. If a bitmap cannot be removed, the
// checkpoint is kept, to be deleted properly later: removing only the metadata would
// leave a bitmap in the image that records writes for ever and that libvirt no longer
// knows. For a running domain whose bitmap is broken (libvirt refuses to delete it),
// the metadata is removed: QEMU has no usable bitmap of it.
func deleteCheckpoint(ctx context.Context, c *conn, dom golibvirt.Domain, name string) error {
	cp := golibvirt.DomainCheckpoint{Name: name, Dom: dom}
	err := c.DomainCheckpointDelete(cp, 0)
	if err == nil || isCode(err, golibvirt.ErrNoDomainCheckpoint) {
		return nil
	}
	state, _, serr := c.DomainGetState(dom, 0)
	if serr != nil {
		return fmt.Errorf("checkpoint %s: %s (domain state: %s)", name, reason(err), reason(serr))
	}
	if !active(state) {
		if rerr := removeBitmaps(ctx, c, dom, cp); rerr != nil {
			return fmt.Errorf("checkpoint %s of the shut-off domain kept: %w", name, rerr)
		}
	}
	err = c.DomainCheckpointDelete(cp, golibvirt.DomainCheckpointDeleteMetadataOnly)
	if err != nil && !isCode(err, golibvirt.ErrNoDomainCheckpoint) {
		return fmt.Errorf("checkpoint %s: %s", name, reason(err))
	}
	return nil
}

// removeBitmaps removes a checkpoint's bitmaps from the disk images of a shut-off
// domain. qemu-img locks each image meanwhile, so the domain cannot start on it.
func removeBitmaps(ctx context.Context, c *conn, dom golibvirt.Domain, cp golibvirt.DomainCheckpoint) error {
	x, err := c.DomainCheckpointGetXMLDesc(cp, 0)
	if err != nil {
		return fmt.Errorf("reading the checkpoint: %s", reason(err))
	}
	var desc checkpointXMLDesc
	if err := xml.Unmarshal([]byte(x), &desc); err != nil {
		return fmt.Errorf("reading the checkpoint: %w", err)
	}
	dx, err := c.DomainGetXMLDesc(dom, golibvirt.DomainXMLInactive)
	if err != nil {
		return fmt.Errorf("domain XML: %s", reason(err))
	}
	def, err := domxml.Parse(dx)
	if err != nil {
		return err
	}
	for _, d := range desc.Disks {
		if d.Checkpoint != "bitmap" {
			continue
		}
		bitmap := d.Bitmap
		if bitmap == "" {
			bitmap = cp.Name
		}
		disk, ok := def.Disk(d.Name)
		if !ok {
			continue // the disk was removed from the domain: its image is not ours to edit
		}
		path, err := diskPath(c, def.Name, disk)
		if err != nil {
			return err
		}
		_, err = qemuImg(ctx, "bitmap", "--remove", "-f", "qcow2", path, bitmap)
		if err != nil && !strings.Contains(err.Error(), "not found") {
			return fmt.Errorf("disk %s: %w", d.Name, err)
		}
	}
	return nil
}

// diskPath is the local path of a disk's data.
func diskPath(c *conn, domain string, d domxml.Disk) (string, error) {
	switch {
	case d.Source.File != "":
		return d.Source.File, nil
	case d.Source.Dev != "":
		return d.Source.Dev, nil
	case d.Source.Pool != "" && d.Source.Volume != "":
		pool, err := c.StoragePoolLookupByName(d.Source.Pool)
		if err == nil {
			var vol golibvirt.StorageVol
			if vol, err = c.StorageVolLookupByName(pool, d.Source.Volume); err == nil {
				var p string
				if p, err = c.StorageVolGetPath(vol); err == nil {
					return p, nil
				}
			}
		}
		return "", fmt.Errorf("disk %s of domain %q: volume %s/%s: %s", d.Target.Dev, domain, d.Source.Pool, d.Source.Volume, reason(err))
	}
	return "", fmt.Errorf("disk %s of domain %q is a %s disk (%s): cadang reads local disk files only here",
		d.Target.Dev, domain, orUnknown(d.Type), d.Location())
}
