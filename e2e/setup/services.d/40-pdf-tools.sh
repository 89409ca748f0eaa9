#!/usr/bin/env bash
# poppler-utils (pdftotext, pdfinfo) for the report tests, which read the Berita Acara's
# PDF back as text. Idempotent.
set -euo pipefail
log() { echo "pdf-tools: $*" >&2; }
apt_get_install() {
  [ -e "${CADANG_APT_UPDATED:-/nonexistent}" ] || { apt-get update -q && touch "${CADANG_APT_UPDATED:-/tmp/.cadang-apt-updated}"; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}
if ! command -v pdftotext >/dev/null || ! command -v pdfinfo >/dev/null; then
  log "installing poppler-utils"
  apt_get_install poppler-utils >&2
fi
log "$(pdftotext -v 2>&1 | head -n1)"
