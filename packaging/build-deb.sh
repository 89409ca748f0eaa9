#!/usr/bin/env bash
# Builds dist/cadang_<version>_amd64.deb from bin/cadang and bin/restic (make deb
# builds both first) with the pinned nfpm (bin/nfpm). Reproducible: every time in the
# package is the last commit's (SOURCE_DATE_EPOCH), every mode is fixed in nfpm.yaml,
# the man pages are compressed without names or times, so the same inputs give the
# same bytes.
#
#   VERSION=1.2.0 packaging/build-deb.sh     (default: git describe, as make build)
#
# CADANG_BIN, RESTIC_BIN and NFPM override bin/cadang, bin/restic and bin/nfpm; DIST
# the output folder (dist). It prints the package's path.
#
# The package version is VERSION without a leading "v", with "-" turned into "+" (dpkg
# reads a "-" as the Debian revision) and "0~" before it when it does not start with a
# digit (a bare commit id), so that a tagged release sorts after any snapshot of it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
v=${version#v}
v=${v//-/+}
[[ $v =~ ^[0-9]+\. ]] || v="0~$v"
export DEB_VERSION=$v
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

export CADANG_BIN=${CADANG_BIN:-$root/bin/cadang} RESTIC_BIN=${RESTIC_BIN:-$root/bin/restic}
nfpm=${NFPM:-$root/bin/nfpm}
dist=${DIST:-$root/dist}
for b in "$CADANG_BIN" "$RESTIC_BIN" "$nfpm"; do
  [ -x "$b" ] || { echo "build-deb.sh: $b is missing: run \`make deb\` (it builds cadang, restic and nfpm)" >&2; exit 1; }
done

export STAGE="$dist/.deb-stage-$$"
rm -rf "$STAGE"; trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/completions" "$STAGE/man"
"$CADANG_BIN" completion bash > "$STAGE/completions/cadang"
"$CADANG_BIN" completion zsh > "$STAGE/completions/_cadang"
"$CADANG_BIN" completion fish > "$STAGE/completions/cadang.fish"
for m in docs/man/*.1; do
  gzip -9 -n -c "$m" > "$STAGE/man/$(basename "$m").gz"
done

out="$dist/cadang_${DEB_VERSION}_amd64.deb"
rm -f "$out"
"$nfpm" package --config packaging/nfpm.yaml --packager deb --target "$out" >&2
echo "$out"
