package libvirt

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"strconv"
	"strings"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/libvirt/domxml"
)

// drillLiveSample compares a sample of the snapshot's blocks (the last ones that hold
// data and some at random, as an incremental backup checks its checkpoint: sound.go)
// with the live disk, if the domain still exists and its disks can be read here. A
// block that differs proves the backup wrong only if nothing was written to the disk
// since: that is known when the snapshot's checkpoint is still the domain's and
// libvirt reports no change since it. Otherwise differences are reported, not failed.
func (t *Target) drillLiveSample(ctx context.Context, r targets.Reader, env *targets.DrillEnv) (msg.Message, error) {
	m, err := readManifest(ctx, r)
	if err != nil {
		return msg.Message{}, err
	}
	c, err := dial(ctx, t.cfg.URI)
	if err != nil {
		return msg.Message{}, err
	}
	defer c.close()
	dom, err := c.DomainLookupByName(m.Domain)
	if isCode(err, golibvirt.ErrNoDomain) {
		return msg.New("libvirt.live.gone", "domain", m.Domain), nil
	}
	if err != nil {
		return msg.Message{}, fmt.Errorf("domain %q: %s", m.Domain, reason(contextErr(ctx, err)))
	}
	x, err := c.DomainGetXMLDesc(dom, 0)
	if err != nil {
		return msg.Message{}, fmt.Errorf("domain %q: XML: %s", m.Domain, reason(err))
	}
	live, err := domxml.Parse(x)
	if err != nil {
		return msg.Message{}, err
	}
	if live.UUID != m.UUID {
		return msg.New("libvirt.live.other", "domain", m.Domain, "uuid", live.UUID), nil
	}
	written := writtenSince(c, dom, m.Checkpoint)
	var parts []msg.Message
	var failed []string
	for i := range m.Disks {
		dm := &m.Disks[i]
		d, ok := live.Disk(dm.Name)
		if !ok {
			parts = append(parts, msg.New("libvirt.live.no_disk", "disk", dm.Name))
			continue
		}
		path, err := diskPath(c, m.Domain, d)
		if err == nil {
			_, err = os.Stat(path)
		}
		if err != nil {
			parts = append(parts, msg.New("libvirt.live.unreadable", "disk", dm.Name, "err", fmt.Sprint(err)))
			continue
		}
		pmap, err := readMapFrom(ctx, r, dm)
		if err != nil {
			return msg.Message{}, fmt.Errorf("disk %s: %w", dm.Name, err)
		}
		vsize, err := virtualSize(ctx, path)
		if err != nil {
			return msg.Message{}, fmt.Errorf("disk %s: %w", dm.Name, err)
		}
		if vsize != pmap.Size {
			parts = append(parts, msg.New("libvirt.live.resized", "disk", dm.Name, "now", vsize, "then", pmap.Size))
			continue
		}
		sample := probeBlocks(pmap)
		var differ []string
		for _, b := range sample {
			sum, err := liveBlock(ctx, env.Scratch, path, d.Driver.Type, pmap, b)
			if err != nil {
				return msg.Message{}, fmt.Errorf("disk %s: block %d: %w", dm.Name, b, err)
			}
			if sum != pmap.Sum[b] {
				differ = append(differ, strconv.Itoa(b))
			}
		}
		detail, passed := liveSampleFound(len(sample), differ, written(dm.Name))
		if !passed {
			failed = append(failed, dm.Name)
		}
		env.Check(targets.DrillCheck{What: msg.New("libvirt.live.check", "disk", dm.Name), Passed: passed, Found: detail})
		parts = append(parts, msg.New("libvirt.live.disk", "disk", dm.Name, "detail", detail))
	}
	if len(failed) > 0 {
		return msg.Message{}, msg.Fail("libvirt.live.failed", "n", len(failed), "disks", strings.Join(failed, ", "))
	}
	return joinParts(parts), nil
}

// liveSampleFound says what comparing a disk's sampled blocks with the live disk found:
// sampled blocks, those that differ, and the bytes libvirt reports written since the
// backup (-1: it cannot say). Blocks that differ fail the check only when nothing was
// written since.
func liveSampleFound(sampled int, differ []string, written int64) (msg.Message, bool) {
	found := msg.New("libvirt.live.same", "same", sampled-len(differ), "n", sampled)
	blocks := strings.Join(differ, ", ")
	switch {
	case len(differ) == 0:
		return found, true
	case written == 0:
		return msg.New("libvirt.live.wrong", "base", found, "blocks", blocks), false
	case written > 0:
		return msg.New("libvirt.live.written", "base", found, "blocks", blocks, "written", written), true
	}
	return msg.New("libvirt.live.unknown", "base", found, "blocks", blocks), true
}

// joinParts says parts one after the other, separated by "; ".
func joinParts(parts []msg.Message) msg.Message {
	if len(parts) == 0 {
		return msg.Message{}
	}
	out := parts[len(parts)-1]
	for i := len(parts) - 2; i >= 0; i-- {
		out = msg.New("libvirt.live.and", "first", parts[i], "rest", out)
	}
	return out
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
