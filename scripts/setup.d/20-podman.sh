#!/usr/bin/env bash
# Rootful Podman with the runc runtime (crun fails here on hybrid cgroups), no default ulimits
# (setting RLIMIT_NOFILE/NPROC is not permitted in this VM), and busybox for locally built images.
source "$(dirname "$0")/../lib.sh"
apt_install podman runc busybox-static
conf=/etc/containers/containers.conf
want='# Managed by attonix scripts/setup.d/20-podman.sh
[containers]
default_ulimits = []

[engine]
runtime = "runc"'
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  log "writing $conf"
  mkdir -p "$(dirname "$conf")"
  printf '%s\n' "$want" >"$conf"
fi
wait_for "podman" 30 podman info
