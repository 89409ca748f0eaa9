#!/usr/bin/env bash
# libvirt + QEMU for the libvirt target's tests (see DESIGN.md): installs the packages
# when missing, creates the user QEMU runs as, starts virtlogd and libvirtd when they
# are not running, and waits until libvirtd answers on its socket. Without /dev/kvm the
# tests' domains run under TCG (type='qemu').
set -euo pipefail

apt_get_install() {
  [ -e "${CADANG_APT_UPDATED:-/nonexistent}" ] || { apt-get update -q && touch "${CADANG_APT_UPDATED:-/tmp/.cadang-apt-updated}"; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

missing=()
for p in qemu-utils libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "libvirt: installing ${missing[*]}" >&2
  apt_get_install "${missing[@]}"
fi

# Debian's libvirt runs QEMU as libvirt-qemu:libvirt-qemu; libvirt-daemon-system would
# create them, but it also pulls in systemd units these machines do not use.
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent passwd libvirt-qemu >/dev/null ||
  useradd --system --gid libvirt-qemu --home-dir /var/lib/libvirt --no-create-home --shell /usr/sbin/nologin libvirt-qemu
mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/images /var/lib/libvirt/qemu /run/libvirt
chmod 0711 /var/lib/libvirt /var/lib/libvirt/images

if ! pgrep -x virtlogd >/dev/null; then
  echo "libvirt: starting virtlogd" >&2
  virtlogd -d
fi
if ! pgrep -x libvirtd >/dev/null; then
  echo "libvirt: starting libvirtd" >&2
  libvirtd -d
fi
for _ in $(seq 1 120); do
  if [ -S /run/libvirt/libvirt-sock ] && virsh -c qemu:///system version >/dev/null 2>&1; then
    echo "libvirt: ready ($(virsh -c qemu:///system version --daemon | sed -n 's/^Running against daemon: //p'))" >&2
    exit 0
  fi
  sleep 0.5
done
echo "libvirt: libvirtd did not answer on /run/libvirt/libvirt-sock within 60s" >&2
exit 1
