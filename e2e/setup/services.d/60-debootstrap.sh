#!/usr/bin/env bash
# debootstrap, for the package test (packaging/deb_test.go): it makes a minimal Debian
# root, once, into ~/.cache/cadang-tools/debootstrap-<suite>, where the .deb is
# installed, upgraded and purged. Installs the tool only; the test makes the root.
set -euo pipefail
apt_get_install() {
  [ -e "${CADANG_APT_UPDATED:-/nonexistent}" ] || { apt-get update -q && touch "${CADANG_APT_UPDATED:-/tmp/.cadang-apt-updated}"; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}
if ! command -v debootstrap >/dev/null; then
  echo "debootstrap: installing" >&2
  apt_get_install debootstrap
fi
