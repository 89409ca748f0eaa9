#!/usr/bin/env bash
# make demo: cadang's main job on the embedded default — two filesystem DRCs in a
# temporary folder, no servers needed. It backs up a sample application folder,
# restores it, proves the restore matches, and says where everything is.
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

cat > "$CADANG_CONFIG" <<YAML
state_dir: $demo/state
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
  - {name: offsite, role: secondary, path: $demo/drc-offsite}
agencies:
  - {id: dinkes, name: Dinas Kesehatan}
targets:
  - name: portal-files
    agency: dinkes
    kind: files
    files: {paths: [$src], exclude: ["*.tmp"]}
    schedule: "0 2 * * *"
    jitter: 30m
    retention: {keep_daily: 7, keep_weekly: 4, keep_monthly: 12}
YAML
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

step "cadang snapshots portal-files"
"$cadang" snapshots portal-files

step "cadang restore portal-files --to $demo/restored"
"$cadang" restore portal-files --to "$demo/restored"
if diff -r --no-dereference "$src" "$demo/restored$src" >/dev/null; then
  echo "restore matches the source: $(find "$demo/restored$src" -type f | wc -l) files, byte for byte"
else
  echo "RESTORE DIFFERS FROM THE SOURCE" >&2
  exit 1
fi

step "cadang check --wait: restic check, reading the next 5% of the data"
"$cadang" check --wait

step "cadang runs (each successful backup queued its retention: a forget run)"
"$cadang" runs

step "cadang status"
"$cadang" status

step "cadang schedule: the next 24 hours, maintenance included"
"$cadang" schedule

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
restored     $demo/restored$src
daemon log   $demo/daemon.log
TXT
echo
echo "demo OK: round trip succeeded"
