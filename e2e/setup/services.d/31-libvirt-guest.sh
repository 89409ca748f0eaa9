#!/usr/bin/env bash
# A tiny Linux guest for the libvirt tests that need a running guest agent: Debian's
# cloud kernel and an initramfs with busybox and the QEMU guest agent (qemu-ga). At
# boot the guest mounts its disk vda (formatting it, ext2, if it holds no file system)
# and runs qemu-ga, so that libvirt can freeze and thaw a real file system. The
# packages are downloaded, not installed: nothing changes on this machine but
# $out (about 30 MB). Rebuilt when this script's recipe version changes.
set -euo pipefail
out=/var/lib/libvirt/images/cadang-test-guest
recipe=1

if [ -f "$out/recipe" ] && [ "$(cat "$out/recipe")" = "$recipe" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ]; then
  exit 0
fi
[ -e "${CADANG_APT_UPDATED:-/nonexistent}" ] || { apt-get update -q && touch "${CADANG_APT_UPDATED:-/tmp/.cadang-apt-updated}"; }
echo "libvirt guest: building $out" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp" # apt's _apt user downloads into it
cd "$tmp"
kernel=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends:/ {print $2; exit}')
apt-get download -q "$kernel" busybox-static qemu-guest-agent libnuma1 liburing2 >&2
for d in *.deb; do dpkg-deb -x "$d" x; done

root=$tmp/root
mkdir -p "$root"/{bin,lib,lib64,lib/modules,proc,sys,dev,mnt,run,tmp}
cp x/bin/busybox x/usr/sbin/qemu-ga "$root/bin/"
# qemu-ga's libraries: from the downloaded packages, else from this machine (libvirt
# depends on glib and udev, so they are here).
LD_LIBRARY_PATH="$tmp/x/usr/lib/x86_64-linux-gnu:$tmp/x/lib/x86_64-linux-gnu" ldd x/usr/sbin/qemu-ga |
  awk '/=> \// {print $3} /^\t\/lib64\// {print $1}' | while read -r lib; do
    case "$lib" in
      /lib64/*) cp -L "$lib" "$root/lib64/" ;;
      *) cp -L "$lib" "$root/lib/" ;;
    esac
  done
kver=$(ls x/lib/modules)
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk virtio_console"
for m in $modules; do
  cp "$(find "x/lib/modules/$kver" -name "$m.ko" | head -1)" "$root/lib/modules/"
done
cat > "$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin LD_LIBRARY_PATH=/lib
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $modules; do insmod /lib/modules/\$m.ko; done
for i in \$(seq 100); do
  [ -b /dev/vda ] && ls /sys/class/virtio-ports/*/name >/dev/null 2>&1 && break
  sleep 0.2
done
if ! mount -t ext4 /dev/vda /mnt 2>/dev/null; then
  mke2fs -q -F /dev/vda && mount -t ext4 /dev/vda /mnt
fi
echo "cadang test guest" > /mnt/hello
sync
for p in /sys/class/virtio-ports/*; do
  [ "\$(cat \$p/name)" = org.qemu.guest_agent.0 ] && port=/dev/\$(basename \$p)
done
echo "cadang-test-guest: qemu-ga on \$port"
exec qemu-ga -m virtio-serial -p "\$port" -t /run
INIT
chmod 0755 "$root/init"
(cd "$root" && find . | "$tmp/x/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) > initrd.img

mkdir -p "$out"
chmod 0755 "$out"
install -m 0644 "x/boot/vmlinuz-$kver" "$out/vmlinuz"
install -m 0644 initrd.img "$out/initrd.img"
echo "$recipe" > "$out/recipe"
echo "libvirt guest: $kver with qemu-ga in $out" >&2
