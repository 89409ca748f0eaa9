package libvirt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/cadang/cadang/targets"
	"github.com/cadang/cadang/targets/libvirt/blockmap"
)

// When is an incremental backup sound? The checkpoint's dirty bitmap must hold every
// change made to the disk since the previous backup. QEMU keeps it through writes by
// the guest and by QEMU's own tools (qemu-img, qemu-io, qemu-nbd), but not through a
// resize: a disk shrunk and grown back to its size (`virsh blockresize`, `qemu-img
// resize`) loses the data beyond the smaller size, and the grown part is clean in the
// bitmap. Its size is the same as before, so comparing sizes cannot see it.
//
// A shrink always takes data from the end of the disk. So before the job starts,
// cadang reads from the live disk the last blocks that held data in the previous
// snapshot (probeTop of them) and a few others chosen at random (probeRandom), and
// checks them once the job says which blocks changed. An incremental backup is taken
// only when:
//
//   - the highest block that held data in the previous snapshot and that the bitmap
//     says did not change was read, and still holds what the previous snapshot holds:
//     a shrink below any data of it would have changed it, and every block above it is
//     either in the bitmap (copied) or held zeros before and, after a shrink, zeros
//     again;
//   - every other block read that the bitmap says did not change is unchanged too;
//   - and the disk's size, the domain and the disk list are those of the previous
//     snapshot (incompatible).
//
// Otherwise the backup is full, and its notes say why. A block read before the job
// that the guest writes before the job starts is in the bitmap, so it is not compared:
// writes during a backup never make it full. What this cannot see: a disk shrunk and
// grown back within the second between the reads and the start of the job, and data
// changed behind QEMU's back (a raw write into a qcow2 file) in blocks not read.
const (
	probeTop    = 8
	probeRandom = 8
)

// probes are blocks of one disk read from the live disk before an incremental job.
type probes struct {
	parent *blockmap.Map
	sums   map[int][sha256.Size]byte
}

// readProbes reads the parent snapshot's block maps and the probe blocks of every
// disk from the live disk. It returns why the parent cannot be checked, or "".
func (r *run) readProbes(ctx context.Context, rd targets.Reader, pm *Manifest) (map[string]*probes, string) {
	out := map[string]*probes{}
	for _, d := range r.disks {
		name := d.Target.Dev
		pmap, err := readMapFrom(ctx, rd, pm.disk(name))
		if err != nil {
			return nil, fmt.Sprintf("disk %s: %v", name, err)
		}
		path, err := r.diskPath(d)
		if err == nil {
			_, err = os.Stat(path)
		}
		if err != nil {
			return nil, fmt.Sprintf("disk %s cannot be read here to check the checkpoint against (%v)", name, err)
		}
		p := &probes{parent: pmap, sums: map[int][sha256.Size]byte{}}
		for _, i := range probeBlocks(pmap) {
			sum, err := liveBlock(ctx, r.scratch, path, d.Driver.Type, pmap, i)
			if err != nil {
				return nil, fmt.Sprintf("disk %s: reading block %d to check the checkpoint against: %v", name, i, err)
			}
			p.sums[i] = sum
		}
		out[name] = p
	}
	return out, ""
}

// probeBlocks picks the blocks to read: the last probeTop blocks that hold data, and
// probeRandom others that hold data.
func probeBlocks(m *blockmap.Map) []int {
	var data []int
	for i := range m.Sum {
		if !m.Zero(i) {
			data = append(data, i)
		}
	}
	n := len(data)
	top := data[max(0, n-probeTop):]
	pick := append([]int{}, top...)
	rest := data[:max(0, n-probeTop)]
	if len(rest) <= probeRandom {
		return append(rest, pick...)
	}
	seen := map[int]bool{}
	for len(seen) < probeRandom {
		seen[rand.IntN(len(rest))] = true
	}
	for k := range seen {
		pick = append(pick, rest[k])
	}
	sort.Ints(pick)
	return pick
}

// unsound checks the probes against what the job says changed; it returns why the
// incremental backup cannot be trusted, or "".
func unsound(ch *changes, p *probes) string {
	m := p.parent
	high := -1
	for i := len(m.Sum) - 1; i >= 0; i-- {
		if !m.Zero(i) && !ch.dirty[i] {
			high = i
			break
		}
	}
	if high < 0 {
		return ""
	}
	if _, ok := p.sums[high]; !ok {
		return fmt.Sprintf("block %d, the last one holding data that the bitmap says did not change, was not read before the job", high)
	}
	keys := make([]int, 0, len(p.sums))
	for i := range p.sums {
		keys = append(keys, i)
	}
	sort.Ints(keys)
	for _, i := range keys {
		if !ch.dirty[i] && p.sums[i] != m.Sum[i] {
			return fmt.Sprintf("block %d differs from the previous snapshot although the checkpoint's bitmap says it did not change (was the disk shrunk and grown back?)", i)
		}
	}
	return ""
}

// readMapFrom reads and checks a disk's block map in the snapshot rd reads.
func readMapFrom(ctx context.Context, rd targets.Reader, pd *DiskManifest) (*blockmap.Map, error) {
	if pd == nil {
		return nil, fmt.Errorf("the previous snapshot has no such disk")
	}
	rc, err := rd.Open(ctx, "/disks/"+pd.Name+"/map")
	if err != nil {
		return nil, fmt.Errorf("the previous snapshot's block map: %w", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("the previous snapshot's block map: %w", err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != pd.MapSHA256 {
		return nil, fmt.Errorf("the previous snapshot's block map does not match its manifest")
	}
	return blockmap.Parse(b)
}

// liveBlock returns the SHA-256 of block i of a disk as the guest sees it, read from
// its image file while QEMU may run it (qemu-img -U). qemu-img dd counts the skipped
// blocks in count.
func liveBlock(ctx context.Context, tmpDir, path, format string, m *blockmap.Map, i int) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	out := filepath.Join(tmpDir, "probe.raw")
	defer os.Remove(out)
	args := []string{"dd", "-U", "-O", "raw", "bs=" + strconv.FormatInt(m.BlockSize, 10), "skip=" + strconv.Itoa(i), "count=" + strconv.Itoa(i+1),
		"if=" + path, "of=" + out}
	if format != "" {
		args = append(args[:2], append([]string{"-f", format}, args[2:]...)...)
	}
	if _, err := qemuImg(ctx, args...); err != nil {
		return sum, err
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return sum, err
	}
	if int64(len(b)) > m.BlockLen(i) {
		b = b[:m.BlockLen(i)]
	}
	return sha256.Sum256(b), nil
}
