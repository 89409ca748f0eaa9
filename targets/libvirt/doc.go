// Package libvirt is the `libvirt` target kind: virtual machines of a libvirt/QEMU
// hypervisor, backed up live with libvirt's push-mode backup jobs (`backup-begin`) and
// checkpoints, and restored as standalone qcow2 disks plus the domain XML, optionally
// defined as a new domain.
//
// # What a snapshot holds
//
// Every snapshot is a complete copy of the domain's disks: restoring one needs no other
// snapshot, so retention may forget any of them and a single DRC restores alone. Only
// the content of an incremental backup is new; the rest is taken from the previous
// snapshot by restic without being read. A snapshot is this tree:
//
//	/manifest.json                      what was backed up, how (full, incremental), consistency
//	/domain.xml                         the domain's persistent definition (no secrets)
//	/disks/<dev>/map                    per block: generation and SHA-256 (package blockmap)
//	/disks/<dev>/blocks/<NNNN>/<NNNNNNNN>  the disk's content in blocks of 1 MiB
//
// A full backup copies the whole disk into scratch (libvirt writes a qcow2 file) and
// cuts it into block files. An incremental backup asks libvirt for the clusters changed
// since the checkpoint of the previous backup; the blocks they touch are completed from
// the previous snapshot (read from the repository) and written, and every other block is
// a sparse placeholder with the size and time it has in the previous snapshot, which
// restic takes from there unread (targets.FilesSpec Parent and Unmodified). The scratch
// area holds only what changed.
//
// # When things go wrong
//
// An incremental backup is taken only when a probe of the live disk shows the
// checkpoint's bitmap missed nothing (sound.go: a disk shrunk and grown back keeps a
// bitmap that lies). The guest is frozen only when the domain has no other job, and
// for MaxFrozen at most (backup.go). Each run's scratch folder records the process
// that made it and the checkpoint its job creates, so that what a killed daemon left
// (the job, the checkpoint, the folder) is removed at the next start (recover.go,
// targets.Recoverer) and before each backup. A checkpoint of a shut-off domain is
// deleted with its bitmaps, which libvirt leaves to cadang then (checkpoint.go).
//
// The package talks to libvirtd with github.com/digitalocean/go-libvirt (pure Go, any
// libvirt URI: qemu:///system, qemu+ssh://host/system, ...) and runs qemu-img for image
// work. It must not import engine or drc. What it reads from and writes into libvirt's
// XML (the domain's disks and agent, the backup and checkpoint requests, the definition
// of a restored domain) is package domxml, and the layout of a disk in a snapshot (block
// size, block files, the block map) is package blockmap: both import nothing of cadang.
package libvirt
