// Package targets says WHAT cadang protects: one package per kind (files, postgres,
// mysql, libvirt) behind the Target interface, a registry of kinds, the before/after
// hooks every kind may have, and targettest, the contract suite every kind passes.
//
// A target does not know where its copies go: it writes a snapshot through a Writer
// and reads one back through a Reader, both provided by the engine over a restic
// repository at some DRC. This package must not import engine or drc.
package targets
