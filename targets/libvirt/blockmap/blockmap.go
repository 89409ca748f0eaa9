package blockmap

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"time"
)

// BlockSize is the size of the block files a disk is cut into (the last one may be
// shorter). 1 MiB, Veeam's default block size: a write in the guest costs at most
// 1 MiB of backup (Proxmox's 4 MiB chunks read and stored four times more for 1 MiB
// writes at random places, measured with BenchmarkBackup), and a 1 TiB disk is 2^20
// files in 1024 folders, which restic walks in seconds.
const BlockSize = 1 << 20

// Map is a disk's /disks/<dev>/map in a snapshot: for every block, the generation
// of the backup that last wrote it (its file's modification time, see Time) and
// the SHA-256 of its content. The next incremental backup makes its placeholders from
// the generations, and a restore checks every block against its digest.
//
// Format: "CADANGBM", uint32 version (1), uint32 zero, uint64 block size, uint64 disk
// size, uint64 block count, then per block a uint32 generation and 32 bytes of
// SHA-256; little-endian.
type Map struct {
	BlockSize int64
	Size      int64
	Gen       []uint32
	Sum       [][sha256.Size]byte
}

const (
	mapMagic   = "CADANGBM"
	mapVersion = 1
	mapHeader  = 8 + 4 + 4 + 8 + 8 + 8
	mapEntry   = 4 + sha256.Size
)

// New returns the map of a disk of size bytes, every block of generation 0.
func New(size int64) *Map {
	n := Count(size, BlockSize)
	return &Map{BlockSize: BlockSize, Size: size, Gen: make([]uint32, n), Sum: make([][sha256.Size]byte, n)}
}

// Count is the number of blocks of bs bytes a disk of size bytes is cut into.
func Count(size, bs int64) int { return int((size + bs - 1) / bs) }

// Blocks is the number of blocks of the disk.
func (m *Map) Blocks() int { return len(m.Gen) }

// BlockLen is the length of block i.
func (m *Map) BlockLen(i int) int64 {
	return min(m.BlockSize, m.Size-int64(i)*m.BlockSize)
}

// Marshal writes the map in its format.
func (m *Map) Marshal() []byte {
	b := make([]byte, mapHeader, mapHeader+len(m.Gen)*mapEntry)
	copy(b, mapMagic)
	binary.LittleEndian.PutUint32(b[8:], mapVersion)
	binary.LittleEndian.PutUint64(b[16:], uint64(m.BlockSize))
	binary.LittleEndian.PutUint64(b[24:], uint64(m.Size))
	binary.LittleEndian.PutUint64(b[32:], uint64(len(m.Gen)))
	for i := range m.Gen {
		b = binary.LittleEndian.AppendUint32(b, m.Gen[i])
		b = append(b, m.Sum[i][:]...)
	}
	return b
}

// Parse reads a map, refusing one that is not whole.
func Parse(b []byte) (*Map, error) {
	if len(b) < mapHeader || string(b[:8]) != mapMagic {
		return nil, errors.New("not a cadang block map")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != mapVersion {
		return nil, fmt.Errorf("block map version %d is not supported", v)
	}
	m := &Map{
		BlockSize: int64(binary.LittleEndian.Uint64(b[16:])),
		Size:      int64(binary.LittleEndian.Uint64(b[24:])),
	}
	n := binary.LittleEndian.Uint64(b[32:])
	if m.BlockSize <= 0 || m.Size < 0 || n != uint64(Count(m.Size, m.BlockSize)) || uint64(len(b)-mapHeader) != n*mapEntry {
		return nil, errors.New("block map is damaged")
	}
	m.Gen, m.Sum = make([]uint32, n), make([][sha256.Size]byte, n)
	for i := range m.Gen {
		e := b[mapHeader+i*mapEntry:]
		m.Gen[i] = binary.LittleEndian.Uint32(e)
		copy(m.Sum[i][:], e[4:mapEntry])
	}
	return m, nil
}

// Path is the path of block i below a disk's folder: 1024 blocks per folder.
func Path(i int) string {
	return path.Join("blocks", fmt.Sprintf("%04d", i>>10), fmt.Sprintf("%08d", i))
}

// Time is the modification time of a block file written by generation gen of a
// chain of backups. A block that did not change keeps its generation, so its
// placeholder has exactly the time its file has in the previous snapshot; a changed
// block gets a new generation, so restic reads it.
func Time(gen uint32) time.Time { return time.Unix(int64(gen), 0) }

// Zero reports whether block i holds only zeros.
func (m *Map) Zero(i int) bool { return m.Sum[i] == ZeroSum(m.BlockLen(i)) }

var zeroSums = map[int64][sha256.Size]byte{}

// ZeroSum is the SHA-256 of a block of n zero bytes.
func ZeroSum(n int64) [sha256.Size]byte {
	if s, ok := zeroSums[n]; ok {
		return s
	}
	return sha256.Sum256(make([]byte, n))
}

func init() { zeroSums[BlockSize] = sha256.Sum256(make([]byte, BlockSize)) }
