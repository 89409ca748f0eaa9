// Package e2e holds black-box tests of the built cadang binary against real restic,
// MinIO, PostgreSQL, MariaDB and libvirt/QEMU: they drive the binary as a user would
// and speak the daemon's API through engine/api only (internal/layers checks it).
// internal/testenv starts or finds those components; e2e/tools builds the pinned
// restic, MinIO and staticcheck; e2e/setup installs and starts the servers.
package e2e
