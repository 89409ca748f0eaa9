// Package blockmap is the layout of a disk in a libvirt snapshot: the size of its
// blocks (BlockSize), the path and modification time of each block file, and the
// block map, /disks/<dev>/map, which records for every block the generation of the
// backup that last wrote it and the SHA-256 of its content.
//
// It is the format only: it reads and writes no file and talks to no hypervisor. It
// imports only the standard library and must not import its parent, targets/libvirt,
// nor any other part of cadang: the parent uses it, never the other way round.
package blockmap
