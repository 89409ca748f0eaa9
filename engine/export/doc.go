// Package export makes the bundle an agency takes away when it asks for an export
// of a snapshot of its own data, and the minutes of its hand-over.
//
// A bundle is a tar stream (what restic dump --archive tar writes) compressed with
// zstd and encrypted with age to the requester's public keys: bundle.tar.zst.age.
// Seal makes one from the tar stream, checking on the way that the tar is whole, so
// that a truncated export never looks complete; the operator never holds a readable
// copy. Open undoes it (age, then zstd) for whoever holds a matching identity.
//
// Handover is the record of a bundle's download, rendered as the "Berita Acara Serah
// Terima Data" (JSON, HTML or PDF; Bahasa Indonesia by default, or English): from that
// moment the data is outside the data-center provider's responsibility (policy
// 5.2.b).
//
// The package is bytes in, bytes out: the daemon feeds it the tar stream, the
// requests, approvals and downloads (see docs/exports.md and docs/operations.md).
package export
