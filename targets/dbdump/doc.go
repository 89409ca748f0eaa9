// Package dbdump is what the database target kinds (postgres, mysql) share:
//
//   - running a dump tool as the content of a snapshot, in the child process that restic
//     starts through --stdin-from-command (`cadang internal-stream`), with the tool's own
//     first error line carried back to the run (restic alone would only say "exit
//     status 1");
//   - credentials in 0600 files in a private folder that is removed afterwards, never on
//     a command line, in an environment or in a log;
//   - a session with a SQL command-line client (psql, mariadb) for the facts a backup
//     records and the checks a restore makes;
//   - the archive that holds several dumps in one snapshot (`all: true`);
//   - the manifest: facts recorded at backup time that a restore can be checked against.
//
// Like every package under targets it knows nothing of where copies go: it must not
// import engine or drc.
package dbdump
