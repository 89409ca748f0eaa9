#!/usr/bin/env bash
# Builds one pinned tool (restic or minio) from its own module under e2e/tools/NAME and
# puts it in bin/. The version is the one pinned in e2e/tools/NAME/go.mod; the built
# binary is cached outside the checkout, keyed by that version, so a fresh clone on
# the same machine links it in seconds instead of rebuilding for minutes.
#
#   e2e/tools/build.sh restic|minio|staticcheck|mc|nfpm|nats-server
#
# CADANG_TOOLS_CACHE overrides the cache folder (default ~/.cache/cadang-tools).
set -euo pipefail

name=${1:?usage: build.sh restic|minio|staticcheck|mc|nfpm|nats-server}
root=$(cd "$(dirname "$0")/../.." && pwd)
mod="$root/e2e/tools/$name"
case "$name" in
  restic) pkg=github.com/restic/restic/cmd/restic ;;
  minio)  pkg=github.com/minio/minio ;;
  staticcheck) pkg=honnef.co/go/tools/cmd/staticcheck ;;
  mc)     pkg=github.com/minio/mc ;;  # MinIO's client: users and policies for the tests
  nfpm)   pkg=github.com/goreleaser/nfpm/v2/cmd/nfpm ;;  # builds the .deb (make deb)
  nats-server) pkg=github.com/nats-io/nats-server/v2 ;;  # an external NATS server for the agents' tests
  *) echo "build.sh: unknown tool $name" >&2; exit 2 ;;
esac

version=$(awk -v p="${pkg%%/cmd/*}" '$1 == "require" && $2 == p {print $3} $1 == p {print $2}' "$mod/go.mod" | head -n1)
[ -n "$version" ] || { echo "build.sh: no pinned version of $pkg in $mod/go.mod" >&2; exit 1; }

cache=${CADANG_TOOLS_CACHE:-$HOME/.cache/cadang-tools}/$name-$version
bin="$root/bin"
stamp="$bin/.$name.version"

if [ -x "$bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
if [ ! -x "$cache/$name" ]; then
  echo "building $name $version (cached in $cache; this takes minutes once)" >&2
  mkdir -p "$cache"
  # A temporary name of its own: two builds at once (two checkouts) must not take each other's.
  (cd "$mod" && go build -trimpath -o "$cache/$name.tmp.$$" "$pkg")
  mv -f "$cache/$name.tmp.$$" "$cache/$name"
fi
mkdir -p "$bin"
ln -f "$cache/$name" "$bin/$name" 2>/dev/null || cp "$cache/$name" "$bin/$name"
echo "$version" > "$stamp"
echo "$name $version -> bin/$name" >&2
