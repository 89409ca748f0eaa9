// Package e2e holds black-box tests of the built cadang binary against real restic,
// MinIO (and, as later kinds arrive, PostgreSQL, MariaDB and libvirt/QEMU). Its
// testenv package starts those components for every test package; e2e/tools builds
// the pinned restic and MinIO; e2e/setup installs and starts the servers.
package e2e
