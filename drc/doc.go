// Package drc says WHERE copies live: the Data Recovery Centers of cadang.yaml, their
// object stores (an S3 bucket through minio-go, or a local directory), the restic
// repositories in them (one per agency and DRC, run through the restic binary), and
// how a repository is created at one DRC and seeded at the others.
//
// Every DRC holds the SAME restic repository of an agency (same config and master key),
// so that the off-site copy can be an object-level mirror of the primary; each DRC
// opens it with its own random password, kept in <state_dir>/keys/<drc>/<agency>.key
// (0600). The keys/ objects are therefore per DRC and never mirrored.
//
// Its sub-packages: drc/mirror keeps the secondaries in step with the primary (and reads
// what is inside a repository without restic), drc/resticfmt reads and writes restic's
// file formats, drc/storetest is the suite every Store passes (and a fault-injecting
// Store for tests).
//
// Secrets (repository passwords, S3 keys) reach restic through its environment and
// password files only, never argv, logs or error text. This package and its
// sub-packages must not import engine or targets: they do not know what is inside the
// copies.
package drc
