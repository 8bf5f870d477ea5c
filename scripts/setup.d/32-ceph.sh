#!/usr/bin/env bash
# Ceph 16 (pacific, Debian 12) for the Ceph-on-hosts driver's tests: the daemons and CLIs
# only. The tests start their own throwaway cluster (one mon, one mgr, three memstore OSDs, a
# metadata server and a radosgw on loopback, in a temporary directory;
# tests/integration/ceph/_cluster.py). python3-cephfs (libcephfs for the system Python) lets a
# test act as a service on its CephFS subvolume without mounting anything.
source "$(dirname "$0")/../lib.sh"

pkgs=(ceph-mon ceph-mgr ceph-osd ceph-common radosgw ceph-mds python3-cephfs)
missing=()
for pkg in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ ! -f /tmp/.attonix-apt-updated ]; then
    log "apt-get update"
    apt-get update -qq
    touch /tmp/.attonix-apt-updated
  fi
  # Without recommends: the daemons need none of them, and they pull in ~1 GiB more.
  log "apt-get install ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
