#!/usr/bin/env bash
# Installs and starts the real servers cadang's tests use (PostgreSQL, MariaDB,
# libvirt/QEMU, ...) when they are missing: it runs every e2e/setup/services.d/*.sh in
# order. Each script is idempotent: it does nothing when its server already runs.
# restic and MinIO are built by `make tools`, not here.
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
apt_updated=/tmp/.cadang-apt-updated
export CADANG_APT_UPDATED=$apt_updated
for s in "$dir"/services.d/*.sh; do
  [ -e "$s" ] || continue
  echo "== $(basename "$s")" >&2
  bash "$s"
done
