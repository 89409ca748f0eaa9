package domxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// node is an element of an XML document, kept with its prefixes as written (the
// decoder's raw tokens), so that a domain XML is written back as libvirt wrote it but
// for what cadang changes.
type node struct {
	name     string // with its prefix, e.g. "qemu:commandline"
	attrs    []xml.Attr
	text     string // character data (libvirt XML has no mixed content)
	children []*node
}

func parseNode(s string) (*node, error) {
	d := xml.NewDecoder(strings.NewReader(s))
	var stack []*node
	var root *node
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: rawName(t.Name), attrs: append([]xml.Attr(nil), t.Attr...)}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else if root == nil {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, errors.New("unbalanced XML")
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		}
	}
	if root == nil || len(stack) != 0 {
		return nil, errors.New("not a complete XML document")
	}
	return root, nil
}

func rawName(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

func (n *node) String() string {
	var b bytes.Buffer
	n.write(&b, "")
	return b.String()
}

func (n *node) write(b *bytes.Buffer, indent string) {
	b.WriteString(indent + "<" + n.name)
	for _, a := range n.attrs {
		fmt.Fprintf(b, " %s=\"", rawName(a.Name))
		_ = xml.EscapeText(b, []byte(a.Value))
		b.WriteString("\"")
	}
	text := strings.TrimSpace(n.text)
	switch {
	case len(n.children) > 0:
		b.WriteString(">\n")
		for _, c := range n.children {
			c.write(b, indent+"  ")
		}
		b.WriteString(indent + "</" + n.name + ">\n")
	case text != "":
		b.WriteString(">")
		_ = xml.EscapeText(b, []byte(text))
		b.WriteString("</" + n.name + ">\n")
	default:
		b.WriteString("/>\n")
	}
}

func (n *node) child(name string) *node {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (n *node) attr(name string) string {
	for _, a := range n.attrs {
		if rawName(a.Name) == name {
			return a.Value
		}
	}
	return ""
}

func (n *node) setAttr(name, value string) {
	for i, a := range n.attrs {
		if rawName(a.Name) == name {
			n.attrs[i].Value = value
			return
		}
	}
	n.attrs = append(n.attrs, xml.Attr{Name: xml.Name{Local: name}, Value: value})
}

func (n *node) dropAttrs(names ...string) {
	out := n.attrs[:0]
	for _, a := range n.attrs {
		drop := false
		for _, d := range names {
			drop = drop || rawName(a.Name) == d
		}
		if !drop {
			out = append(out, a)
		}
	}
	n.attrs = out
}

// filter keeps the children for which keep returns true.
func (n *node) filter(keep func(*node) bool) {
	out := n.children[:0]
	for _, c := range n.children {
		if keep(c) {
			out = append(out, c)
		}
	}
	n.children = out
}

// Define turns the backed-up domain XML into the definition of a new domain on the
// restored disks (disks maps a target device to its restored qcow2 file). The new
// domain must be able to run beside the original without touching anything of it:
//   - a new name, and no UUID (libvirt makes one);
//   - no network interface, host device or USB redirection (MAC addresses and devices
//     belong to the original);
//   - the restored disks as qcow2 files; other writable disks, which were not backed
//     up and would be shared with the original, are left out;
//   - graphics on automatic ports, guest-agent sockets and UEFI variables at the paths
//     libvirt chooses for the new name.
//
// It returns the XML and a remark per change a user must know about.
func Define(original, name, note string, disks map[string]string) (string, []string, error) {
	root, err := parseNode(original)
	if err != nil {
		return "", nil, fmt.Errorf("cannot read the backed-up domain XML: %w", err)
	}
	if root.name != "domain" {
		return "", nil, fmt.Errorf("the backed-up domain XML is a <%s>, not a <domain>", root.name)
	}
	var remarks []string
	root.filter(func(c *node) bool { return c.name != "uuid" && c.name != "name" && c.name != "description" })
	root.children = append([]*node{{name: "name", text: name}, {name: "description", text: note}}, root.children...)

	if osn := root.child("os"); osn != nil {
		if nv := osn.child("nvram"); nv != nil {
			nv.text = "" // libvirt creates the variables of the new domain from the template
			nv.children = nil
		}
	}
	devices := root.child("devices")
	if devices == nil {
		return "", nil, errors.New("the backed-up domain XML has no <devices>")
	}
	found := map[string]bool{}
	var dropped []string
	devices.filter(func(c *node) bool {
		switch c.name {
		case "interface":
			remarks = append(remarks, "network interface removed")
			return false
		case "hostdev", "redirdev":
			remarks = append(remarks, c.name+" removed")
			return false
		case "disk":
			t := c.child("target")
			dev := ""
			if t != nil {
				dev = t.attr("dev")
			}
			if file, ok := disks[dev]; ok {
				found[dev] = true
				restoredDisk(c, file)
				return true
			}
			if c.attr("device") == "disk" && c.child("readonly") == nil {
				dropped = append(dropped, dev)
				return false
			}
		case "graphics":
			c.setAttr("autoport", "yes")
			c.dropAttrs("port", "tlsPort", "websocket")
			for _, l := range c.children {
				l.dropAttrs("socket")
			}
		case "channel":
			if s := c.child("source"); s != nil && c.attr("type") == "unix" {
				s.dropAttrs("path")
			}
		}
		return true
	})
	for dev := range disks {
		if !found[dev] {
			return "", nil, fmt.Errorf("the backed-up domain XML has no disk %q", dev)
		}
	}
	if len(dropped) > 0 {
		remarks = append(remarks, fmt.Sprintf("disks not in the backup left out: %s", strings.Join(dropped, ", ")))
	}
	return root.String(), dedupe(remarks), nil
}

// restoredDisk points a <disk> at a restored standalone qcow2 file.
func restoredDisk(d *node, file string) {
	d.setAttr("type", "file")
	drv := d.child("driver")
	if drv == nil {
		drv = &node{name: "driver"}
		d.children = append([]*node{drv}, d.children...)
	}
	drv.setAttr("name", "qemu")
	drv.setAttr("type", "qcow2")
	d.filter(func(c *node) bool {
		// The restored file is plain, local and has no backing chain.
		return c.name != "source" && c.name != "backingStore" && c.name != "auth" && c.name != "encryption"
	})
	src := &node{name: "source", attrs: []xml.Attr{{Name: xml.Name{Local: "file"}, Value: file}}}
	for i, c := range d.children {
		if c.name == "driver" {
			d.children = append(d.children[:i+1], append([]*node{src}, d.children[i+1:]...)...)
			return
		}
	}
}

func dedupe(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
