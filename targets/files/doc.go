// Package files is the `files` target kind: paths on the cadang host (an application's
// data, uploads, configuration), with restic excludes. Restores write each file under
// its original absolute path below the destination directory, as `restic restore`
// does, so a target of several paths restores without collisions.
package files
