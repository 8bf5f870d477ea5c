#!/usr/bin/env bash
# Install what Attonix needs and run the main job.
source "$(dirname "$0")/lib.sh"
bash "$ROOT/scripts/setup.sh"
exec "$VENV/bin/attonix" check "$ROOT/examples/attonixcorp.yaml" "$@"
