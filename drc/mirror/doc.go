// Package mirror keeps a secondary DRC's copy of an agency's restic repository in step
// with the primary's: an object-level mirror of restic's immutable, content-addressed
// files, verified while they stream (Mirror, its pass and its ledger, alarms, the
// bandwidth Limiter, the locks it takes in a repository).
//
// It owns reading what is inside a repository without restic (Contents: the master key,
// index files, trees and snapshot files), which the mirror needs to know what a
// snapshot needs; drills use it too, to read back one snapshot's packs
// (Contents.SnapshotPacks, VerifyObjects).
//
// It builds on package drc (sites, repositories, object stores, the replication
// settings of cadang.yaml) and drc/resticfmt (restic's file formats); drc never
// imports it. Like every drc package it must not import engine, targets, runbooks or
// cmd (internal/layers enforces it): it does not know what is inside the copies, nor
// who runs it. Secrets stay in drc: a repository's password never reaches this
// package, only the master key drc opens with it (drc.Repo.OpenMasterKey).
package mirror
