// Package reports builds the documents drills leave: the Berita Acara of one drill run
// (with its document number from the catalog's register, the agency head who
// acknowledges it and the trend of the target's past drills), the summary of a
// period's drills, and their rendering in JSON, HTML and PDF (written into report.dir
// when a drill ends).
//
// It reads the catalog's drill runs and the configuration; the layout and the texts are
// runbooks'. It imports engine/catalog, engine/config and runbooks; it must not import
// engine, engine/server, drc or targets.
package reports
