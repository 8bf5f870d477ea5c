#!/usr/bin/env bash
# A Debian 12 image in which the rendered cloud-init user data is applied for real (NoCloud),
# with systemd as PID 1: localhost/attonix-test-cloudinit:<REVISION>. Debian stands in for
# Ubuntu here (no Ubuntu mirror is reachable). Built once with debootstrap (~1 min) and cached:
# a later run only rebuilds when REVISION changes. The package list is ENVIRONMENT.md's recipe:
# python3-cffi-backend because debootstrap cannot resolve the virtual packages that
# python3-cryptography needs; netbase for /etc/protocols (nft resolves ipv6-icmp through it).
source "$(dirname "$0")/../lib.sh"
apt_install debootstrap podman runc
IMAGE=localhost/attonix-test-cloudinit
REVISION=1
if podman image exists "$IMAGE:$REVISION"; then
  exit 0
fi
mirror="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
mirror="${mirror:-http://deb.debian.org/debian}"
dir="$(mktemp -d /var/tmp/attonix-rootfs.XXXXXX)"
cleanup() {
  # debootstrap mounts /proc and /sys inside while it installs; never delete through a mount.
  for m in proc sys dev/pts dev; do umount -l "$dir/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$dir"
}
trap cleanup EXIT
log "debootstrap bookworm from $mirror (about a minute)"
debootstrap --variant=minbase \
  --include=python3-cffi-backend,cloud-init,systemd,systemd-sysv,dbus,locales,netbase,openssh-server,nftables,sudo,chrony,auditd,iproute2,procps \
  bookworm "$dir" "$mirror" >/dev/null
echo "en_US.UTF-8 UTF-8" >>"$dir/etc/locale.gen"
chroot "$dir" locale-gen >/dev/null
mkdir -p "$dir/etc/cloud/cloud.cfg.d"
echo "datasource_list: [NoCloud]" >"$dir/etc/cloud/cloud.cfg.d/90-ds.cfg"
# The apt lists are of no use without a network at boot; keep the image small.
rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb
log "podman import $IMAGE:$REVISION"
tar --numeric-owner --one-file-system -C "$dir" -c . | podman import -q --change 'CMD ["/sbin/init"]' \
  --change "LABEL io.attonix.test.revision=$REVISION" - "$IMAGE:$REVISION" >/dev/null
