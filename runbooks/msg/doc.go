// Package msg holds the texts cadang writes into reports as structured messages: a
// key of the message catalog and its arguments, recorded when a drill runs and
// rendered in the report's language (Bahasa Indonesia or English) when the report is
// written. The catalog (catalog.go) has every message in both languages.
//
// It is a leaf: it imports only the standard library. runbooks (the executor and the
// reports) and targets (the kinds' drill steps) both use it, so that a kind records
// messages without importing runbooks' executor and reports, and runbooks still
// imports none of engine, targets and drc.
package msg
