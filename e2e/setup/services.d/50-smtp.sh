#!/usr/bin/env bash
# python3-aiosmtpd: a real SMTP server the notification tests start on loopback (they
# start and stop their own; nothing runs here). Idempotent.
set -euo pipefail
log() { echo "smtp: $*" >&2; }
apt_get_install() {
  [ -e "${CADANG_APT_UPDATED:-/nonexistent}" ] || { apt-get update -q && touch "${CADANG_APT_UPDATED:-/tmp/.cadang-apt-updated}"; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}
# Debian's python (/usr/bin/python3), whatever python3 the PATH finds first.
if ! [ -x /usr/bin/aiosmtpd ] || ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
  log "installing python3-aiosmtpd"
  apt_get_install python3-aiosmtpd >&2
fi
log "aiosmtpd $(/usr/bin/python3 -c 'import aiosmtpd; print(aiosmtpd.__version__)')"
