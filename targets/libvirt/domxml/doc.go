// Package domxml is what the libvirt kind reads from and writes into libvirt's XML:
// it reads a domain's XML (its disks, guest agent channel and QEMU's DAC label),
// writes the <domainbackup> and <domaincheckpoint> of a backup job, and turns a
// backed-up domain XML into the definition of an isolated new domain on restored
// disks (Define).
//
// It is text in, text out: it talks to no hypervisor and runs nothing. It imports
// only the standard library and must not import its parent, targets/libvirt, nor any
// other part of cadang (targets, engine, drc, runbooks): the parent uses it, never
// the other way round.
package domxml
