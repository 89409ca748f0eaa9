// Package mysql is the `mysql` target kind: one MariaDB or MySQL database, or every
// database of a server with its user accounts (`all: true`).
//
// A backup streams `mariadb-dump --single-transaction --routines --triggers --events`
// (mysqldump where there is no mariadb-dump), uncompressed, through restic, with the
// password in a --defaults-extra-file written 0600 in a private folder. The manifest
// (per table: COUNT(*) and CHECKSUM TABLE) is computed in a consistent snapshot taken
// together with the dump's: while `BACKUP STAGE BLOCK_COMMIT` holds commits back for the
// moment both transactions start, so under concurrent writes the figures describe
// exactly the rows the dump holds. Where that lock is not available (MySQL, or a user
// without the RELOAD privilege) the manifest is taken in a snapshot of its own just
// before the dump, and says so.
//
// A restore goes to mysql://host:port/name (created if missing; a database that holds
// anything is refused unless forced), or to a file (the raw SQL dump) or, for
// `all: true`, a folder.
package mysql
