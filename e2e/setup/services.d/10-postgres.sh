#!/usr/bin/env bash
# PostgreSQL for the postgres target kind's tests: installs it when missing, starts the
# first cluster (creating one if there is none), waits until it answers, and gives root
# a superuser role (peer authentication over the local socket), which the tests use to
# create their own databases and password roles. Idempotent.
set -euo pipefail
log() { echo "postgres: $*" >&2; }
apt_get_install() {
  [ -e "${CADANG_APT_UPDATED:-/nonexistent}" ] || { apt-get update -q && touch "${CADANG_APT_UPDATED:-/tmp/.cadang-apt-updated}"; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

if ! command -v pg_lsclusters >/dev/null || ! command -v pg_dump >/dev/null; then
  log "installing postgresql"
  apt_get_install postgresql
fi

cluster=$(pg_lsclusters -h | awk 'NR==1 {print $1" "$2}')
if [ -z "$cluster" ]; then
  ver=$(ls /usr/lib/postgresql | sort -V | tail -n1)
  log "creating cluster $ver main"
  pg_createcluster "$ver" main >&2
  cluster="$ver main"
fi
read -r ver name <<<"$cluster"
port=$(pg_lsclusters -h | awk -v v="$ver" -v n="$name" '$1==v && $2==n {print $3}')
if ! pg_lsclusters -h | awk -v v="$ver" -v n="$name" '$1==v && $2==n {print $4}' | grep -q online; then
  log "starting cluster $ver $name"
  pg_ctlcluster "$ver" "$name" start >&2
fi
for _ in $(seq 300); do
  pg_isready -q -p "$port" && break
  sleep 0.1
done
pg_isready -p "$port" >&2 || { log "cluster $ver $name on port $port does not answer"; exit 1; }

# A superuser for root over the local socket (peer authentication).
runuser -u postgres -- psql -X -q -p "$port" -d postgres -v ON_ERROR_STOP=1 <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'root') THEN
    CREATE ROLE root SUPERUSER LOGIN;
  END IF;
END $$;
SQL
log "cluster $ver $name ready on port $port"
