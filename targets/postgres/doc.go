// Package postgres is the `postgres` target kind: one PostgreSQL database, or every
// database of a server with its roles and tablespaces (`all: true`).
//
// A backup streams `pg_dump --format=custom --compress=0` through restic (restic's
// deduplication and compression do better on an uncompressed dump), with the credentials
// in a PGPASSFILE written 0600 in a private folder. The manifest is computed in the very
// snapshot the dump is taken in: a session exports its snapshot
// (pg_export_snapshot) and pg_dump imports it (--snapshot), so the row counts and
// checksums describe exactly the rows the dump holds, even under concurrent writes.
//
// A restore goes to postgres://host:port/name (created if missing; a database that
// holds anything is refused unless forced), in parallel with pg_restore -j, or to a file
// (the raw dump) or, for `all: true`, a folder.
package postgres
