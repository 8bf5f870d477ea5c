#!/usr/bin/env bash
# Local test images (no registry is reachable): a busybox root filesystem serving a static
# site with `busybox httpd`, imported into both Docker and Podman as
#   localhost/attonix-test-httpd:1 and :2  (they differ only in /www/version)
# The server listens on $PORT (default 8080); /healthz answers for health checks.
source "$(dirname "$0")/../lib.sh"
apt_install busybox-static
IMAGE=localhost/attonix-test-httpd
have_docker() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }
have_podman() { command -v podman >/dev/null && podman info >/dev/null 2>&1; }

build_tar() {  # build_tar VERSION OUT.tar
  local version="$1" out="$2" dir
  dir="$(mktemp -d)"
  mkdir -p "$dir/bin" "$dir/www" "$dir/tmp" "$dir/etc" "$dir/run/secrets"
  cp /bin/busybox "$dir/bin/busybox"
  for applet in sh httpd wget nc cat ls sleep env id echo timeout usleep nslookup; do ln -s busybox "$dir/bin/$applet"; done
  echo "attonix-test-httpd version $version" >"$dir/www/index.html"
  echo "$version" >"$dir/www/version"
  echo ok >"$dir/www/healthz"
  echo "root:x:0:0:root:/:/bin/sh" >"$dir/etc/passwd"
  echo "root:x:0:" >"$dir/etc/group"
  chmod 1777 "$dir/tmp"
  tar --numeric-owner --owner=0 --group=0 -C "$dir" -cf "$out" .
  rm -rf "$dir"
}

CMD='CMD ["/bin/sh", "-c", "exec httpd -f -p ${PORT:-8080} -h /www"]'
for version in 1 2; do
  tarball="$(mktemp --suffix=.tar)"
  built=0
  if have_docker && ! docker image inspect "$IMAGE:$version" >/dev/null 2>&1; then
    build_tar "$version" "$tarball"; built=1
    log "docker import $IMAGE:$version"
    docker import --change "$CMD" --change 'ENV PATH=/bin' "$tarball" "$IMAGE:$version" >/dev/null
  fi
  if have_podman && ! podman image exists "$IMAGE:$version"; then
    [ "$built" = 1 ] || build_tar "$version" "$tarball"
    log "podman import $IMAGE:$version"
    podman import -q --change "$CMD" --change 'ENV PATH=/bin' "$tarball" "$IMAGE:$version" >/dev/null
  fi
  rm -f "$tarball"
done
