package libvirt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// qemuImg runs qemu-img and returns its standard output; a failure is one line with
// qemu-img's own reason.
func qemuImg(ctx context.Context, args ...string) ([]byte, error) {
	bin, err := exec.LookPath("qemu-img")
	if err != nil {
		return nil, errors.New("qemu-img not found in PATH: install qemu-utils")
	}
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("qemu-img %s: %w", args[0], context.Cause(ctx))
		}
		msg := oneLine(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("qemu-img %s: %s", args[0], strings.TrimPrefix(msg, "qemu-img: "))
	}
	return out.Bytes(), nil
}

// extent is one range of a qcow2 image as `qemu-img map --output=json` reports it.
type extent struct {
	Start   int64  `json:"start"`
	Length  int64  `json:"length"`
	Depth   int    `json:"depth"`
	Present *bool  `json:"present"` // allocated in this image (QEMU >= 6.0)
	Zero    bool   `json:"zero"`
	Data    bool   `json:"data"`
	Offset  *int64 `json:"offset"` // where the data is in the image file
}

// qcow2Spec opens a qcow2 file alone: libvirt records the backed-up disk as the
// backing file of an incremental backup image, which must not be read through.
func qcow2Spec(file string) string {
	b, _ := json.Marshal(map[string]any{
		"driver": "qcow2", "backing": nil,
		"file": map[string]any{"driver": "file", "filename": file},
	})
	return "json:" + string(b)
}

// mapQcow2 returns the extents of a qcow2 image file libvirt wrote, without its backing
// file, checking that every allocated extent can be read from the file directly.
func mapQcow2(ctx context.Context, file string) ([]extent, int64, error) {
	out, err := qemuImg(ctx, "map", "--output=json", qcow2Spec(file))
	if err != nil {
		return nil, 0, err
	}
	var exts []extent
	if err := json.Unmarshal(out, &exts); err != nil {
		return nil, 0, fmt.Errorf("qemu-img map of %s: %w", file, err)
	}
	var size int64
	for _, e := range exts {
		if e.Start != size || e.Length <= 0 {
			return nil, 0, fmt.Errorf("qemu-img map of %s: extents are not contiguous at %d", file, e.Start)
		}
		size += e.Length
		if e.Present == nil {
			return nil, 0, errors.New("qemu-img map reports no \"present\" field: QEMU 6.0 or newer is needed")
		}
		if *e.Present && e.Depth != 0 {
			return nil, 0, fmt.Errorf("qemu-img map of %s: data at depth %d, want a standalone image", file, e.Depth)
		}
		if e.Data && e.Offset == nil {
			return nil, 0, fmt.Errorf("qemu-img map of %s: data at %d has no file offset (compressed or encrypted)", file, e.Start)
		}
	}
	return exts, size, nil
}

// virtualSize returns the size of a disk image as the guest sees it.
func virtualSize(ctx context.Context, spec string) (int64, error) {
	out, err := qemuImg(ctx, "info", "--output=json", "-U", spec)
	if err != nil {
		return 0, err
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return 0, fmt.Errorf("qemu-img info: %w", err)
	}
	return info.VirtualSize, nil
}
