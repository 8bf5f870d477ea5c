#!/usr/bin/env bash
# The whole test suite on a fresh machine: install and start everything, lint, type-check, test.
#   scripts/test.sh [pytest args...]
source "$(dirname "$0")/lib.sh"
bash "$ROOT/scripts/setup.sh" all
cd "$ROOT"
export PATH="$VENV/bin:$PATH"
log "ruff"
ruff check src tests bench
ruff format --check src tests bench
log "mypy (strict on src/)"
mypy
if [ -f .importlinter ]; then log "import contracts"; lint-imports; fi
log "pytest"
# The slowest tests are listed at the end, to keep the run inside its time budget.
pytest -p no:cacheprovider --durations=30 "$@"
