#!/usr/bin/env bash
# Local test images (no registry is reachable): a busybox root filesystem serving a static
# site with `busybox httpd`, imported into both Docker and Podman as
#   localhost/attonix-test-httpd:1 and :2  (they differ only in /www/version)
# The server listens on $PORT (default 8080); /healthz answers for health checks.
# /bin/curl (scripts/images/curl) is a tiny wget-backed stand-in: Podman turns a Kubernetes
# httpGet probe into the health check `curl -f URL`, so an image without curl could never become
# healthy under it.
# REVISION changes whenever the Podman image changes; Podman images of an older revision are
# rebuilt (Docker's are only built when missing, so running swarm services keep their image).
source "$(dirname "$0")/../lib.sh"
apt_install busybox-static
IMAGE=localhost/attonix-test-httpd
REVISION=4
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
  install -m 755 "$ROOT/scripts/images/curl" "$dir/bin/curl"
  echo "root:x:0:0:root:/:/bin/sh" >"$dir/etc/passwd"
  echo "root:x:0:" >"$dir/etc/group"
  chmod 1777 "$dir/tmp"
  tar --numeric-owner --owner=0 --group=0 -C "$dir" -cf "$out" .
  rm -rf "$dir"
}

CMD='CMD ["/bin/sh", "-c", "exec httpd -f -p ${PORT:-8080} -h /www"]'
# Podman runs the command as PID 1 without an init, and PID 1 ignores SIGTERM unless it traps
# it: the shell stays PID 1, traps TERM and stops httpd, so pods stop at once, not after 10 s.
PODMAN_CMD='CMD ["/bin/sh", "-c", "httpd -f -p ${PORT:-8080} -h /www & trap \"kill $! 2>/dev/null; exit 0\" TERM INT; wait"]'
for version in 1 2; do
  tarball="$(mktemp --suffix=.tar)"
  built=0
  if have_docker && ! docker image inspect "$IMAGE:$version" >/dev/null 2>&1; then
    build_tar "$version" "$tarball"; built=1
    log "docker import $IMAGE:$version"
    docker import --change "$CMD" --change 'ENV PATH=/bin' "$tarball" "$IMAGE:$version" >/dev/null
  fi
  rev="$(podman image inspect --format '{{index .Config.Labels "io.attonix.test.revision"}}' "$IMAGE:$version" 2>/dev/null || true)"
  if have_podman && [ "$rev" != "$REVISION" ]; then
    [ "$built" = 1 ] || build_tar "$version" "$tarball"
    log "podman import $IMAGE:$version"
    podman import -q --change "$PODMAN_CMD" --change 'ENV PATH=/bin' \
      --change "LABEL io.attonix.test.revision=$REVISION" "$tarball" "$IMAGE:$version" >/dev/null
  fi
  rm -f "$tarball"
done
