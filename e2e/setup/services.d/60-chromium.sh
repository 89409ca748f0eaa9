#!/usr/bin/env bash
# Chromium for the dashboard's browser tests (engine/dashboard, driven by chromedp):
# installs Debian's chromium when missing. Nothing runs here: each test starts its own
# headless browser (--no-sandbox: as root, Chromium's sandbox refuses to start).
# Idempotent.
set -euo pipefail
log() { echo "chromium: $*" >&2; }
apt_get_install() {
  [ -e "${CADANG_APT_UPDATED:-/nonexistent}" ] || { apt-get update -q && touch "${CADANG_APT_UPDATED:-/tmp/.cadang-apt-updated}"; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}
if ! command -v chromium >/dev/null; then
  log "installing chromium"
  apt_get_install chromium >&2
fi
log "$(chromium --version 2>/dev/null || echo 'chromium: no version')"
