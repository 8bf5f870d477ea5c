#!/usr/bin/env bash
# The Central Server's high-availability harness (tests/ha/harness.py) on loopback: HAProxy with
# the configuration Attonix renders for lb-edge (tests/ha/blueprint.yaml), three `attonix serve`
# replicas, two `attonix worker`s, a PostgreSQL primary and a synchronous streaming standby.
#   scripts/ha-harness.sh [pytest args]   the fault-injection suite; prints its figures
#                                         (and writes them as JSON to $ATTONIX_HA_RESULTS)
#   scripts/ha-harness.sh up              start the cluster and wait; Ctrl-C tears it down
# Needs root (PostgreSQL runs as the postgres user), haproxy and the PostgreSQL server binaries
# (scripts/setup.d/23-host-tools.sh, 30-databases.sh) and Podman for the deployment test.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export PATH="$VENV/bin:$PATH" PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
if [ "${1:-}" = up ]; then
  exec python tests/ha/harness.py
fi
exec pytest -p no:cacheprovider tests/ha "$@"
