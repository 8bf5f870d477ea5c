#!/usr/bin/env bash
# Checkov (the independent Kubernetes security scanner the renderer is checked with), in its
# own virtualenv: its many exact pins conflict with Attonix's own dependencies.
source "$(dirname "$0")/../lib.sh"
CHECKOV_VERSION=3.3.30
CHECKOV_VENV="$ROOT/.venv-checkov"
if ! "$CHECKOV_VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  log "installing checkov $CHECKOV_VERSION into $CHECKOV_VENV"
  python3 -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/pip" install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION" 2>&1 \
    | grep -v "^WARNING: Location" || true
fi
"$CHECKOV_VENV/bin/checkov" --version >/dev/null
