#!/usr/bin/env bash
# Installs and starts the real servers cadang's tests use, when they are missing.
# Later issues add PostgreSQL, MariaDB and libvirt here; restic and MinIO are built
# by `make tools`.
set -euo pipefail
exit 0
