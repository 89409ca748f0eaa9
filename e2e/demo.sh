#!/usr/bin/env bash
# make demo: cadang's main job on the embedded default — two filesystem DRCs in a
# temporary folder, no servers needed. It backs up a sample application folder,
# replicates it to the off-site DRC, shows the snapshot at both DRCs, restores it
# (from each DRC), proves the restores match, and says where everything is. When a
# PostgreSQL server runs locally it also protects a small database it creates, and
# restores it into a new database.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cadang="$root/bin/cadang"
demo=$(mktemp -d "${TMPDIR:-/tmp}/cadang-demo.XXXXXX")
export CADANG_CONFIG="$demo/cadang.yaml"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "A sample application folder"
src="$demo/srv/portal"
mkdir -p "$src/uploads" "$src/config" "$src/empty"
echo "<h1>Portal Dinas Kesehatan</h1>" > "$src/index.html"
printf 'db_host=10.0.0.5\n' > "$src/config/app.conf"
echo "laporan triwulan" > "$src/uploads/laporan-triwulan-ü.txt"
ln -s config/app.conf "$src/current.conf"
head -c $((20 * 1024 * 1024)) /dev/urandom > "$src/uploads/arsip.bin"
echo "$src: $(find "$src" | wc -l) entries, $(du -sh "$src" | cut -f1)"

step "A local PostgreSQL server?"
pgsock=/var/run/postgresql
pgdb=cadang_demo_simpus
pgcopy=cadang_demo_simpus_restored
pg=no
psqlc() { psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$pgsock" "$@"; }
if ! command -v pg_isready >/dev/null 2>&1 || ! pg_isready -q -h "$pgsock"; then
  echo "no PostgreSQL server is running locally (socket $pgsock): the database part of the demo is skipped"
  echo "(start one with e2e/setup/services.d/10-postgres.sh, which make test runs)"
elif ! psqlc -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
  echo "a PostgreSQL server is running, but it lets no role named \"$(id -un)\" in over $pgsock:"
  echo "the database part of the demo is skipped (e2e/setup/services.d/10-postgres.sh creates one for root)"
else
  pg=yes
  psqlc -d postgres -c "DROP DATABASE IF EXISTS $pgdb" -c "DROP DATABASE IF EXISTS $pgcopy" -c "CREATE DATABASE $pgdb"
  psqlc -d "$pgdb" <<'SQL'
CREATE SCHEMA klinik;
CREATE TABLE klinik.pasien (id serial PRIMARY KEY, nama text NOT NULL, lahir date, data jsonb);
INSERT INTO klinik.pasien (nama, lahir, data)
  SELECT 'Pasien ' || g, date '1960-01-01' + g * 7, jsonb_build_object('rm', 'RM-' || g) FROM generate_series(1, 5000) g;
CREATE TABLE klinik.kunjungan (id bigserial PRIMARY KEY, pasien int REFERENCES klinik.pasien, keluhan text);
INSERT INTO klinik.kunjungan (pasien, keluhan) SELECT 1 + g % 5000, 'keluhan ' || g FROM generate_series(1, 20000) g;
CREATE VIEW klinik.ringkasan AS SELECT p.nama, count(k.id) AS kunjungan FROM klinik.pasien p LEFT JOIN klinik.kunjungan k ON k.pasien = p.id GROUP BY p.nama;
SQL
  echo "PostgreSQL $(psqlc -d postgres -c 'SHOW server_version') on $pgsock: created database $pgdb ($(psqlc -d "$pgdb" -c "SELECT pg_size_pretty(pg_database_size(current_database()))"))"
fi

# The network API and its dashboard, on a free loopback port.
apiport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$CADANG_CONFIG" <<YAML
state_dir: $demo/state
api: {listen: "127.0.0.1:$apiport"}
restic: {binary: $root/bin/restic}
scheduler:
  timezone: Asia/Jakarta
  blackout:
    - {name: nightly network maintenance (demo), start: "0 1 * * *", duration: 2h}
drcs:
  - name: local
    role: primary
    path: $demo/drc-local
    maintenance: {check: "30 4 * * *", prune: "0 3 * * 0", read_data_subset: 5%}
  - name: offsite
    role: secondary
    path: $demo/drc-offsite
    replication: {workers: 8, bandwidth: 50MiB/s, interval: 5m, max_lag: 1h, delete_after: 7d}
agencies:
  - {id: dinkes, name: Dinas Kesehatan}
drill:
  schedule: "0 3 * * 6"           # every Saturday, from both DRCs
report:
  language: id
  office: {name: "Dinas Komunikasi, Informatika dan Statistik Kota Singkawang", unit: Bidang Persandian dan Keamanan Informasi, city: Singkawang}
  signers:
    performed_by: {name: Budi Santoso, title: Pranata Komputer Ahli Muda, nip: "198501012010011001"}
    approved_by: {name: Sari Dewi, title: Kepala Bidang Persandian dan Keamanan Informasi, nip: "197803152005012002"}
targets:
  - name: portal-files
    agency: dinkes
    kind: files
    files: {paths: [$src], exclude: ["*.tmp"]}
    schedule: "0 2 * * *"
    jitter: 30m
    retention: {keep_daily: 7, keep_weekly: 4, keep_monthly: 12}
    rpo: 26h
    rto: 4h
YAML
if [ "$pg" = yes ]; then
  cat >> "$CADANG_CONFIG" <<YAML
  - name: simpus-db
    agency: dinkes
    kind: postgres
    postgres: {host: $pgsock, database: $pgdb}
YAML
fi
step "Configuration ($CADANG_CONFIG)"
"$cadang" config check

step "cadang init: one repository per agency at each DRC"
"$cadang" init

step "cadang daemon"
"$cadang" daemon > "$demo/daemon.log" 2>&1 &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null || true' EXIT
for _ in $(seq 100); do "$cadang" runs >/dev/null 2>&1 && break; sleep 0.1; done
echo "daemon pid $daemon, log $demo/daemon.log"

step "cadang backup portal-files --wait"
"$cadang" backup portal-files --wait
step "a second backup: nothing changed, almost nothing added"
"$cadang" backup portal-files --wait

step "cadang drc sync --wait: replicate to the off-site DRC now (each backup queued a pass already)"
"$cadang" drc sync --wait

step "cadang snapshots portal-files: since when each snapshot is restorable at each DRC"
"$cadang" snapshots portal-files
if "$cadang" snapshots portal-files --json | grep -q '"missing"'; then
  echo "A SNAPSHOT IS NOT AT BOTH DRCs" >&2
  exit 1
fi
echo "every snapshot of portal-files is at both DRCs"

step "cadang drc status: health, replication lag, what is not there yet"
"$cadang" drc status

step "cadang verify --drc offsite: restic check there, and its objects against the primary's"
"$cadang" verify --drc offsite

for site in local offsite; do
  step "cadang restore portal-files --drc $site --to $demo/restored-$site"
  "$cadang" restore portal-files --drc "$site" --to "$demo/restored-$site"
  if diff -r --no-dereference "$src" "$demo/restored-$site$src" >/dev/null; then
    echo "restore from drc $site matches the source: $(find "$demo/restored-$site$src" -type f | wc -l) files, byte for byte"
  else
    echo "RESTORE FROM DRC $site DIFFERS FROM THE SOURCE" >&2
    exit 1
  fi
done

if [ "$pg" = yes ]; then
  step "cadang backup simpus-db --wait (pg_dump streamed into restic)"
  "$cadang" backup simpus-db --wait
  step "cadang restore simpus-db --to postgres:///$pgcopy (a new database on the same server)"
  "$cadang" restore simpus-db --to "postgres:///$pgcopy"
  pgsum() { psqlc -d "$1" -c "SELECT (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY t.id)) FROM klinik.pasien t) || ' ' ||
    (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY t.id)) FROM klinik.kunjungan t)"; }
  if [ "$(pgsum "$pgdb")" = "$(pgsum "$pgcopy")" ]; then
    echo "restored database $pgcopy matches $pgdb: $(psqlc -d "$pgcopy" -c 'SELECT count(*) FROM klinik.pasien') patients, $(psqlc -d "$pgcopy" -c 'SELECT count(*) FROM klinik.kunjungan') visits, row for row"
  else
    echo "RESTORED DATABASE DIFFERS FROM THE SOURCE" >&2
    exit 1
  fi
fi

step "cadang check --wait: restic check, reading the next 5% of the data"
"$cadang" check --wait

step "cadang runs (each successful backup queued its retention: a forget run)"
"$cadang" runs

step "cadang status"
"$cadang" status

step "cadang schedule: the next 24 hours, maintenance included"
"$cadang" schedule

step "cadang drill portal-files --wait: restore drills from both DRCs, with their reports"
"$cadang" drill portal-files --wait | tee "$demo/drill.txt"
report=$(sed -n 's/^  note: report: .*, \(.*\.pdf\)$/\1/p' "$demo/drill.txt" | tail -1)
[ -f "$report" ] || { echo "NO DRILL REPORT" >&2; exit 1; }

# The dashboard: its address and an operator's token; kept up until Enter is pressed
# when stdin is a terminal (a run without one, as in CI, goes on at once).
step "The dashboard: http://127.0.0.1:$apiport/"
"$cadang" token create --name demo-operator --role operator --expires 1d 2>/dev/null | sed 's/^/  /'
echo "Open http://127.0.0.1:$apiport/ and sign in with the token above (Bahasa Indonesia; English from the header)."
if [ -t 0 ]; then
  read -r -p "Press Enter to stop the daemon and end the demo. " _
fi

step "Stopping the daemon (SIGTERM)"
kill -TERM $daemon
wait $daemon || true
trap - EXIT

step "Where everything is"
cat <<TXT
config       $CADANG_CONFIG
state        $demo/state   (catalog.db, keys/<drc>/<agency>.key — keep these safe: without them the repositories cannot be opened)
local DRC    $demo/drc-local/dinkes
offsite DRC  $demo/drc-offsite/dinkes
restored     $demo/restored-local$src (from the local DRC), $demo/restored-offsite$src (from the offsite DRC)
daemon log   $demo/daemon.log
reports      $demo/state/reports   (each drill: JSON, HTML and PDF)
TXT
if [ "$pg" = yes ]; then
  psqlc -d postgres -c "DROP DATABASE $pgdb" -c "DROP DATABASE $pgcopy"
  echo "databases     $pgdb and $pgcopy were dropped again; the dump stays in the DRCs"
fi
echo
echo "drill report (Berita Acara Uji Pemulihan DRC): $report"
echo "demo OK: round trip succeeded, drills passed"

step "A failover runbook, run in test mode (docs/runbooks.md)"
cat >> "$CADANG_CONFIG" <<YAML
runbooks:
  - name: portal-failover
    description: Portal Dinas Kesehatan pindah ke DRC off-site
    objectives: {rto: 4h, rpo: 26h}
    groups:
      - name: data
        steps:
          - {name: restore-portal, restore: {target: portal-files, drc: offsite, to: $demo/failover/portal}}
      - name: verify
        steps:
          - {name: check-page, check: {file: $src/index.html, sha256: $(sha256sum "$src/index.html" | cut -d' ' -f1)}}
          - {name: announce, notify: "Portal Dinas Kesehatan berjalan di DRC (uji)"}
YAML
"$cadang" config check
"$cadang" daemon > "$demo/daemon-runbook.log" 2>&1 &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null || true' EXIT
for _ in $(seq 100); do "$cadang" runs >/dev/null 2>&1 && break; sleep 0.1; done
"$cadang" runbook plan portal-failover
rbrun=$("$cadang" runbook run portal-failover --mode test --wait --json | sed -n 's/^  "id": \([0-9]*\),$/\1/p')
"$cadang" runbook status "$rbrun"
"$cadang" report runbook "$rbrun" -o "$demo/runbook-report-$rbrun.pdf"
kill -TERM $daemon
wait $daemon || true
trap - EXIT
[ -d "$demo/failover" ] && [ -n "$(ls -A "$demo/failover")" ] && { echo "THE TEST FAILOVER LEFT $demo/failover BEHIND" >&2; exit 1; }
echo
echo "runbook report (Berita Acara pelaksanaan runbook failover): $demo/runbook-report-$rbrun.pdf"
echo "demo OK: test failover succeeded and left nothing behind"
