#!/usr/bin/env bash
# Install and start everything Attonix and its tests need, on a fresh Debian 12 machine.
#   scripts/setup.sh          the Python package with its runtime extras (enough to run Attonix)
#   scripts/setup.sh all      also the test tools and every service the test suite uses
# Each scripts/setup.d/NN-name.sh is one component; it is idempotent and may be run alone.
source "$(dirname "$0")/lib.sh"
MODE="${1:-run}"
for step in "$ROOT"/scripts/setup.d/*.sh; do
  name="$(basename "$step" .sh)"
  # Steps named NN-run-*.sh are needed to run Attonix; all others only for the test suite.
  if [ "$MODE" = "all" ] || [[ "$name" == *-run-* ]]; then
    log "setup: $name"
    MODE="$MODE" bash "$step"
  fi
done
