#!/usr/bin/env bash
# The stand-in image for every workload the example blueprint renders (no registry is
# reachable): localhost/attonix-test-standin:1, a busybox root filesystem (Podman only) whose
# `standin` program checks what the pod must allow (writable volumes, readable secrets) and then
# answers the rendered probes — HTTP on a path, a bare TCP listener, or `standin probe` for a
# command check. Its `curl` and `nc` are what Podman's probe translations call (see the files in
# scripts/images/). Its busybox is Debian's dynamically linked one (with its libraries): the
# static build's shell runs its own applets before PATH, so Podman's `nc -z` would reach busybox
# nc, which has no -z, instead of the stand-in's nc. REVISION changes whenever the image
# changes; an older revision is rebuilt.
source "$(dirname "$0")/../lib.sh"
IMAGE=localhost/attonix-test-standin:1
REVISION=1
command -v podman >/dev/null && podman info >/dev/null 2>&1 || { log "no podman: $IMAGE skipped"; exit 0; }
rev="$(podman image inspect --format '{{index .Config.Labels "io.attonix.test.revision"}}' "$IMAGE" 2>/dev/null || true)"
[ "$rev" = "$REVISION" ] && exit 0

dir="$(mktemp -d)"; deb="$(mktemp -d)"; tarball="$(mktemp --suffix=.tar)"
trap 'rm -rf "$dir" "$deb" "$tarball"' EXIT
chmod 755 "$deb"  # apt-get download runs as _apt
download() { (cd "$deb" && apt-get download -q busybox >/dev/null 2>&1); }
download || { apt-get update -qq && download; }
dpkg-deb -x "$deb"/busybox_*.deb "$deb/root"
mkdir -p "$dir/bin" "$dir/tmp" "$dir/etc" "$dir/run/secrets"
cp "$deb/root/bin/busybox" "$dir/bin/busybox"
for lib in $(ldd "$dir/bin/busybox" | awk '$2 == "=>" {print $3} $1 ~ /^\// {print $1}'); do
  cp --parents -L "$lib" "$dir"
done
for applet in sh httpd wget cat ls mkdir rm sleep test env id echo kill timeout; do
  ln -s busybox "$dir/bin/$applet"
done
for tool in standin nc curl; do install -m 755 "$ROOT/scripts/images/$tool" "$dir/bin/$tool"; done
echo "root:x:0:0:root:/:/bin/sh" >"$dir/etc/passwd"
echo "root:x:0:" >"$dir/etc/group"
chmod 1777 "$dir/tmp"
tar --numeric-owner --owner=0 --group=0 -C "$dir" -cf "$tarball" .
log "podman import $IMAGE"
podman import -q --change 'CMD ["/bin/standin"]' --change 'ENV PATH=/bin' \
  --change "LABEL io.attonix.test.revision=$REVISION" "$tarball" "$IMAGE" >/dev/null
