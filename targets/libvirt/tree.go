package libvirt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/cadang/cadang/targets/libvirt/blockmap"
)

// BlockSize is the size of the block files a disk is cut into (see blockmap).
const BlockSize = blockmap.BlockSize

// changes is what a backup image of one disk holds: which blocks it touches and
// whether each is covered completely.
type changes struct {
	size    int64
	exts    []extent
	full    bool   // a full backup: every block is written
	dirty   []bool // per block: the image holds data for it
	partial []int  // dirty blocks the image does not cover completely, ascending
	bytes   int64  // bytes of the disk the image holds (what libvirt read from the disk)
}

// readChanges maps the qcow2 image libvirt wrote for a disk. In a full backup every
// block counts; in an incremental one only those with allocated clusters.
func readChanges(ctx context.Context, image string, full bool) (*changes, error) {
	exts, size, err := mapQcow2(ctx, image)
	if err != nil {
		return nil, err
	}
	n := blockmap.Count(size, BlockSize)
	c := &changes{size: size, exts: exts, full: full, dirty: make([]bool, n)}
	covered := make([]int64, n)
	for _, e := range exts {
		if !full && !*e.Present {
			continue
		}
		c.bytes += e.Length
		for s := e.Start; s < e.Start+e.Length; {
			i := int(s / BlockSize)
			end := min(e.Start+e.Length, int64(i+1)*BlockSize)
			c.dirty[i] = true
			covered[i] += end - s
			s = end
		}
	}
	m := &blockmap.Map{BlockSize: BlockSize, Size: size}
	for i := range c.dirty {
		if c.dirty[i] && covered[i] < m.BlockLen(i) {
			c.partial = append(c.partial, i)
		}
	}
	if full {
		c.partial = nil
	}
	return c, nil
}

// buildStats is what building a disk's tree did.
type buildStats struct {
	Blocks       int   // blocks of the disk
	Written      int   // block files written (read by restic)
	Placeholders int   // unchanged blocks, taken from the parent snapshot unread
	WrittenBytes int64 // bytes of the block files written
}

// buildDisk writes a disk's folder of a snapshot (map and block files) into dir from
// the backup image and, for an incremental backup, the parent's map and the parent's
// files of the partial blocks restored below parentDir. gen is this backup's
// generation. Data already copied is cut out of the image as it goes (the image is not
// used afterwards), so scratch holds about one copy of the data at any time.
func buildDisk(ctx context.Context, dir, image string, c *changes, parent *blockmap.Map, parentDir string, gen uint32) (*blockmap.Map, buildStats, error) {
	if parent != nil && (parent.Size != c.size || parent.BlockSize != BlockSize) {
		return nil, buildStats{}, fmt.Errorf("the previous backup's disk is %d bytes in blocks of %d, now %d in blocks of %d",
			parent.Size, parent.BlockSize, c.size, BlockSize)
	}
	img, err := os.OpenFile(image, os.O_RDWR, 0)
	if err != nil {
		return nil, buildStats{}, err
	}
	defer img.Close()
	m := blockmap.New(c.size)
	st := buildStats{Blocks: m.Blocks()}
	buf := make([]byte, BlockSize)
	next := 0 // first extent that may overlap the current block
	partial := 0
	for i := 0; i < m.Blocks(); i++ {
		if err := ctx.Err(); err != nil {
			return nil, st, context.Cause(ctx)
		}
		n := m.BlockLen(i)
		file := filepath.Join(dir, filepath.FromSlash(blockmap.Path(i)))
		if i&1023 == 0 {
			if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
				return nil, st, err
			}
		}
		if !c.full && !c.dirty[i] {
			// Unchanged: a placeholder with the parent's size and time.
			m.Gen[i], m.Sum[i] = parent.Gen[i], parent.Sum[i]
			if err := placeholder(file, n, blockmap.Time(m.Gen[i])); err != nil {
				return nil, st, err
			}
			st.Placeholders++
			continue
		}
		b := buf[:n]
		clear(b)
		if partial < len(c.partial) && c.partial[partial] == i {
			partial++
			if err := readParentBlock(parentDir, i, b, parent.Sum[i]); err != nil {
				return nil, st, err
			}
		}
		start := int64(i) * BlockSize
		for next < len(c.exts) && c.exts[next].Start+c.exts[next].Length <= start {
			next++
		}
		for k := next; k < len(c.exts) && c.exts[k].Start < start+n; k++ {
			e := c.exts[k]
			if !c.full && !*e.Present {
				continue // unchanged: the parent's bytes stay
			}
			s, end := max(e.Start, start), min(e.Start+e.Length, start+n)
			dst := b[s-start : end-start]
			if !e.Data {
				clear(dst)
				continue
			}
			off := *e.Offset + (s - e.Start)
			if _, err := img.ReadAt(dst, off); err != nil {
				return nil, st, fmt.Errorf("reading the backup image %s: %w", filepath.Base(image), err)
			}
			punchHole(img, off, end-s)
		}
		m.Gen[i], m.Sum[i] = gen, sha256.Sum256(b)
		if err := writeBlock(file, b, blockmap.Time(gen)); err != nil {
			return nil, st, err
		}
		st.Written++
		st.WrittenBytes += n
	}
	if err := os.WriteFile(filepath.Join(dir, "map"), m.Marshal(), 0o600); err != nil {
		return nil, st, err
	}
	return m, st, nil
}

// readParentBlock reads block i of the parent snapshot, restored below parentDir, and
// checks it against the parent's digest.
func readParentBlock(parentDir string, i int, b []byte, sum [sha256.Size]byte) error {
	f, err := os.Open(filepath.Join(parentDir, filepath.FromSlash(blockmap.Path(i))))
	if err != nil {
		return fmt.Errorf("block %d of the previous snapshot: %w", i, err)
	}
	defer f.Close()
	if _, err := f.ReadAt(b, 0); err != nil {
		return fmt.Errorf("block %d of the previous snapshot: %w", i, err)
	}
	_ = os.Remove(f.Name()) // read once: free its space for the new block
	if sha256.Sum256(b) != sum {
		return fmt.Errorf("block %d of the previous snapshot does not match its digest", i)
	}
	return nil
}

var zeros = make([]byte, BlockSize)

// writeBlock writes a block file with its generation's time; a block of zeros is left
// sparse.
func writeBlock(file string, b []byte, mtime time.Time) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if bytes.Equal(b, zeros[:len(b)]) {
		err = f.Truncate(int64(len(b)))
	} else {
		_, err = f.Write(b)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing block file %s: %w", filepath.Base(file), err)
	}
	return os.Chtimes(file, mtime, mtime)
}

// placeholder makes a sparse file of n bytes with the given time.
func placeholder(file string, n int64, mtime time.Time) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(n)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Chtimes(file, mtime, mtime)
}

// punchHole frees a range of a file that will not be read again. File systems without
// hole punching keep the data until the scratch folder is removed.
func punchHole(f *os.File, off, n int64) {
	const punchHole, keepSize = 0x02, 0x01 // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
	_ = syscall.Fallocate(int(f.Fd()), punchHole|keepSize, off, n)
}

// partialIncludes are the restic include patterns that restore what an incremental
// backup needs of the parent snapshot for one disk: its map and the blocks the backup
// image does not cover completely (whole block folders when there are many).
func partialIncludes(disk string, partial []int) []string {
	prefix := "/disks/" + disk + "/"
	inc := []string{prefix + "map"}
	if len(partial) <= 256 {
		for _, i := range partial {
			inc = append(inc, prefix+blockmap.Path(i))
		}
		return inc
	}
	seen := map[string]bool{}
	for _, i := range partial {
		d := prefix + filepath.Dir(blockmap.Path(i))
		if !seen[d] {
			seen[d] = true
			inc = append(inc, d)
		}
	}
	sort.Strings(inc[1:])
	return inc
}
