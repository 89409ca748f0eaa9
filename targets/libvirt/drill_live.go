package libvirt

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"strconv"
	"strings"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/cadang/cadang/internal/iec"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/libvirt/domxml"
)

// drillLiveSample compares a sample of the snapshot's blocks (the last ones that hold
// data and some at random, as an incremental backup checks its checkpoint: sound.go)
// with the live disk, if the domain still exists and its disks can be read here. A
// block that differs proves the backup wrong only if nothing was written to the disk
// since: that is known when the snapshot's checkpoint is still the domain's and
// libvirt reports no change since it. Otherwise differences are reported, not failed.
func (t *Target) drillLiveSample(ctx context.Context, r targets.Reader, env *targets.DrillEnv) (string, error) {
	m, err := readManifest(ctx, r)
	if err != nil {
		return "", err
	}
	c, err := dial(ctx, t.cfg.URI)
	if err != nil {
		return "", err
	}
	defer c.close()
	dom, err := c.DomainLookupByName(m.Domain)
	if isCode(err, golibvirt.ErrNoDomain) {
		return fmt.Sprintf("domain %s no longer exists: nothing to compare with", m.Domain), nil
	}
	if err != nil {
		return "", fmt.Errorf("domain %q: %s", m.Domain, reason(contextErr(ctx, err)))
	}
	x, err := c.DomainGetXMLDesc(dom, 0)
	if err != nil {
		return "", fmt.Errorf("domain %q: XML: %s", m.Domain, reason(err))
	}
	live, err := domxml.Parse(x)
	if err != nil {
		return "", err
	}
	if live.UUID != m.UUID {
		return fmt.Sprintf("domain %s is another domain now (UUID %s): nothing to compare with", m.Domain, live.UUID), nil
	}
	written := writtenSince(c, dom, m.Checkpoint)
	var parts []string
	var failed []string
	for i := range m.Disks {
		dm := &m.Disks[i]
		d, ok := live.Disk(dm.Name)
		if !ok {
			parts = append(parts, dm.Name+": no longer a disk of the domain")
			continue
		}
		path, err := diskPath(c, m.Domain, d)
		if err == nil {
			_, err = os.Stat(path)
		}
		if err != nil {
			parts = append(parts, fmt.Sprintf("%s: not readable here (%v)", dm.Name, err))
			continue
		}
		pmap, err := readMapFrom(ctx, r, dm)
		if err != nil {
			return "", fmt.Errorf("disk %s: %w", dm.Name, err)
		}
		vsize, err := virtualSize(ctx, path)
		if err != nil {
			return "", fmt.Errorf("disk %s: %w", dm.Name, err)
		}
		if vsize != pmap.Size {
			parts = append(parts, fmt.Sprintf("%s: %d bytes now, %d in the snapshot: not compared", dm.Name, vsize, pmap.Size))
			continue
		}
		sample := probeBlocks(pmap)
		var differ []string
		for _, b := range sample {
			sum, err := liveBlock(ctx, env.Scratch, path, d.Driver.Type, pmap, b)
			if err != nil {
				return "", fmt.Errorf("disk %s: block %d: %w", dm.Name, b, err)
			}
			if sum != pmap.Sum[b] {
				differ = append(differ, strconv.Itoa(b))
			}
		}
		detail := fmt.Sprintf("%d of %d sampled blocks as in the snapshot", len(sample)-len(differ), len(sample))
		passed := len(differ) == 0 || written(dm.Name) != 0
		switch {
		case len(differ) == 0:
		case written(dm.Name) == 0:
			detail += fmt.Sprintf("; blocks %s differ although nothing was written to the disk since the backup: the backup is wrong", strings.Join(differ, ", "))
			failed = append(failed, dm.Name)
		case written(dm.Name) > 0:
			detail += fmt.Sprintf("; blocks %s differ, and %s were written to the disk since the backup", strings.Join(differ, ", "), iec.Bytes(written(dm.Name)))
		default:
			detail += fmt.Sprintf("; blocks %s differ (written since the backup? its checkpoint is gone, so libvirt cannot say)", strings.Join(differ, ", "))
		}
		env.Check(targets.DrillCheck{Name: "live disk sample " + dm.Name, Passed: passed, Detail: detail})
		parts = append(parts, dm.Name+": "+detail)
	}
	if len(failed) > 0 {
		return "", fmt.Errorf("disks %s differ from the live disk where nothing changed since the backup", strings.Join(failed, ", "))
	}
	return strings.Join(parts, "; "), nil
}

// writtenSince returns a function that gives, by disk, the bytes libvirt reports
// written since checkpoint (0: nothing), or -1 when it cannot say (no checkpoint, a
// shut-off domain).
func writtenSince(c *conn, dom golibvirt.Domain, checkpoint string) func(disk string) int64 {
	sizes := map[string]int64{}
	get := func(disk string) int64 {
		if n, ok := sizes[disk]; ok {
			return n
		}
		return -1
	}
	if checkpoint == "" {
		return get
	}
	cp, err := c.DomainCheckpointLookupByName(dom, checkpoint, 0)
	if err != nil {
		return get
	}
	x, err := c.DomainCheckpointGetXMLDesc(cp, uint32(golibvirt.DomainCheckpointXMLSize))
	if err != nil {
		return get
	}
	var desc struct {
		Disks []struct {
			Name string `xml:"name,attr"`
			Size *int64 `xml:"size,attr"`
		} `xml:"disks>disk"`
	}
	if xml.Unmarshal([]byte(x), &desc) != nil {
		return get
	}
	for _, d := range desc.Disks {
		if d.Size != nil {
			sizes[d.Name] = *d.Size
		}
	}
	return get
}
