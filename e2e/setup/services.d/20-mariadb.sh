#!/usr/bin/env bash
# MariaDB for the mysql target kind's tests: installs it (and mariadb-backup) when missing, starts it when it
# is not running, waits until it answers on its socket and on 127.0.0.1:3306. root
# connects over the socket (unix_socket authentication, Debian's default) and creates the
# tests' own databases and password users. Idempotent.
set -euo pipefail
log() { echo "mariadb: $*" >&2; }
apt_get_install() {
  [ -e "${CADANG_APT_UPDATED:-/nonexistent}" ] || { apt-get update -q && touch "${CADANG_APT_UPDATED:-/tmp/.cadang-apt-updated}"; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ]; then
  log "installing mariadb-server"
  apt_get_install mariadb-server mariadb-client
fi
# mariadb-backup and mbstream: physical backups (mysql.method: physical).
if ! command -v mariadb-backup >/dev/null || ! command -v mbstream >/dev/null; then
  log "installing mariadb-backup"
  apt_get_install mariadb-backup
fi

sock=/run/mysqld/mysqld.sock
if ! mariadb-admin --protocol=socket -S "$sock" ping >/dev/null 2>&1; then
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    log "initialising the data directory"
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >&2
  fi
  log "starting mariadbd"
  start-stop-daemon --start --background --exec /usr/sbin/mariadbd -- --user=mysql
  for _ in $(seq 300); do
    mariadb-admin --protocol=socket -S "$sock" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
mariadb-admin --protocol=socket -S "$sock" ping >&2 || { log "mariadbd does not answer on $sock"; exit 1; }
# An unknown user over TCP: "Access denied" proves the server answers there.
tcp=$(mariadb --protocol=tcp -h 127.0.0.1 -P 3306 -u cadang-probe -e 'SELECT 1' 2>&1 || true)
case $tcp in
  *"Access denied"*) ;;
  *) log "mariadbd does not answer on 127.0.0.1:3306: $tcp"; exit 1 ;;
esac
log "ready: $(mariadb --protocol=socket -S "$sock" -N -B -e 'SELECT VERSION()')"
