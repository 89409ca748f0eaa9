#!/usr/bin/env bash
# rclone, the baseline of the off-site copy's benchmark (e2e/replication_bench_test.go:
# `rclone sync` between the two MinIO servers). Debian's package. Idempotent.
set -euo pipefail
log() { echo "rclone: $*" >&2; }
apt_get_install() {
  [ -e "${CADANG_APT_UPDATED:-/nonexistent}" ] || { apt-get update -q && touch "${CADANG_APT_UPDATED:-/tmp/.cadang-apt-updated}"; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}
if ! command -v rclone >/dev/null; then
  log "installing rclone"
  apt_get_install rclone >&2
fi
log "$(rclone version 2>&1 | head -n1)"
