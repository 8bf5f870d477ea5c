#!/usr/bin/env bash
# Python virtual environment with Attonix installed (editable) and its pinned dependencies.
source "$(dirname "$0")/../lib.sh"
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
fi
extras="kubernetes,deploy,server"
[ "${MODE:-run}" = "all" ] && extras="$extras,dev"
"$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT[$extras]" 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -c "import attonix" 
