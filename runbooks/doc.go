// Package runbooks says HOW recovery is carried out and proven. A procedure is an
// ordered list of numbered steps, as an SOP lists them: each has an action, a performer,
// a time standard and, once run, a result (ok, failed, skipped) with its start, end and
// a one-line summary. The Executor runs procedures step by step; cleanup steps run
// whatever happened before them. Restore drills are the first procedures it runs
// (engine builds them from targets' restore and verify parts); failover runbooks reuse
// the same executor, steps and reports.
//
// Reports ("Berita Acara Uji Pemulihan DRC" for one drill, a summary for a period) are
// rendered as JSON, a self-contained HTML page and a PDF, in Bahasa Indonesia by
// default or English.
//
// This package imports neither engine, targets nor drc: its actions are functions the
// caller builds.
package runbooks
