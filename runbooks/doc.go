// Package runbooks says HOW recovery is carried out and proven. A procedure is an
// ordered list of numbered steps, as an SOP lists them: each has an action, a performer,
// a time standard and, once run, a result (ok, failed, skipped) with its start, end and
// a one-line summary. The Executor runs procedures step by step; cleanup steps run
// whatever happened before them. Restore drills are procedures (engine builds them
// from targets' restore and verify parts). Failover runbooks (plan.go: the YAML format;
// flow.go: groups, parallel steps, retries, critical steps that halt, manual gates,
// undo, resume from recorded state) run on the same Executor: Run and RunFlow share
// its step runner (attempt), its clock and its step results.
//
// Reports ("Berita Acara Uji Pemulihan DRC" for one drill, a summary for a period) are
// rendered as JSON, a self-contained HTML page and a PDF, in Bahasa Indonesia by
// default or English, with times in the report's zone (WIB, WITA, WIT). Every text a
// procedure records (step titles, summaries, checks, errors) is a message of the
// catalog in runbooks/msg, rendered in the report's language when the report is
// written; the form's own words are in i18n.go.
//
// This package imports neither engine, targets nor drc: its actions are functions the
// caller builds. runbooks/msg imports only the standard library and internal/oneline, so
// that targets can record messages without importing runbooks.
package runbooks
