package libvirt

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/cadang/cadang/targets"
)

// Consistency levels a snapshot records.
const (
	// AppConsistent: the guest agent froze the guest's file systems while the backup
	// started, so they are clean on restore.
	AppConsistent = "app-consistent"
	// CrashConsistent: the disks as they were at one instant, as after a power cut:
	// journaling file systems and databases recover, open writes may be lost.
	CrashConsistent = "crash-consistent"
	// Offline: the domain was shut off; its disks were read at rest.
	Offline = "offline"
)

// Backup levels.
const (
	Full        = "full"
	Incremental = "incremental"
)

// manifestVersion is the version of the snapshot layout this package writes.
const manifestVersion = 1

// Manifest is /manifest.json of a snapshot, also stored with the run.
type Manifest struct {
	Version     int       `json:"version"`
	Domain      string    `json:"domain"`
	UUID        string    `json:"uuid"`
	URI         string    `json:"uri"`
	State       string    `json:"state"` // running, paused, shut off, ...
	Time        time.Time `json:"time"`
	Level       string    `json:"level"`       // full or incremental
	Consistency string    `json:"consistency"` // app-consistent, crash-consistent or offline
	// Checkpoint is the libvirt checkpoint created with this backup; the next backup is
	// incremental from it.
	Checkpoint string `json:"checkpoint,omitempty"`
	// Parent is the checkpoint and snapshot an incremental backup started from.
	Parent     *ParentRef     `json:"parent,omitempty"`
	Generation uint32         `json:"generation"` // 1 for a full backup, parent's + 1 after
	BlockSize  int64          `json:"block_size"`
	Disks      []DiskManifest `json:"disks"`
}

// ParentRef names the backup an incremental one builds on.
type ParentRef struct {
	Checkpoint string `json:"checkpoint"`
	Snapshot   string `json:"snapshot"`
}

// DiskManifest describes one disk of a snapshot.
type DiskManifest struct {
	Name   string `json:"name"`   // target device: vda, sdb, ...
	Source string `json:"source"` // the disk's file, device or volume at backup time
	Format string `json:"format"` // the disk's format (qcow2, raw)
	Size   int64  `json:"size"`   // virtual size in bytes
	Blocks int    `json:"blocks"`
	// MapSHA256 is the digest of the disk's block map (which holds every block's).
	MapSHA256 string `json:"map_sha256"`
	// ReadBytes is what was read from the disk: all of it for a full backup, the
	// changed clusters for an incremental one.
	ReadBytes int64 `json:"read_bytes"`
	// ParentBytes is what was read from the previous snapshot to complete the blocks
	// that changed in part.
	ParentBytes int64 `json:"parent_bytes,omitempty"`
	// ScratchBytes is the most space the disk's backup image, block files and blocks of
	// the previous snapshot took in scratch at once.
	ScratchBytes  int64 `json:"scratch_bytes"`
	BlocksWritten int   `json:"blocks_written"` // blocks restic read
	WrittenBytes  int64 `json:"written_bytes"`
}

// readManifest reads /manifest.json of the snapshot r reads.
func readManifest(ctx context.Context, r targets.Reader) (*Manifest, error) {
	rc, err := r.Open(ctx, "/manifest.json")
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("snapshot %.8s: reading manifest.json: %w", r.Snapshot().ID, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("snapshot %.8s is not a libvirt backup: manifest.json: %w", r.Snapshot().ID, err)
	}
	if m.Version != manifestVersion {
		return nil, fmt.Errorf("snapshot %.8s has layout version %d; this cadang reads version %d", r.Snapshot().ID, m.Version, manifestVersion)
	}
	return &m, nil
}

func (m *Manifest) disk(name string) *DiskManifest {
	for i := range m.Disks {
		if m.Disks[i].Name == name {
			return &m.Disks[i]
		}
	}
	return nil
}
