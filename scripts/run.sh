#!/usr/bin/env bash
# Install what Attonix needs and run the main job: the Central Server on the embedded SQLite
# database with examples/attonixcorp.yaml imported as environment "prod", and the console,
# hosted separately on its own port. The administrator's one-time password is printed once,
# on the first run.
#   API      http://127.0.0.1:8080/api/v1   (OpenAPI at /docs)
#   console  http://127.0.0.1:8081
source "$(dirname "$0")/lib.sh"
bash "$ROOT/scripts/setup.sh"
API_PORT="${ATTONIX_API_PORT:-8080}"
CONSOLE_PORT="${ATTONIX_CONSOLE_PORT:-8081}"
export ATTONIX_CORS_ORIGINS="${ATTONIX_CORS_ORIGINS:-[\"http://127.0.0.1:$CONSOLE_PORT\"]}"
"$VENV/bin/attonix" console --port "$CONSOLE_PORT" --api-url "http://127.0.0.1:$API_PORT" &
console_pid=$!
trap 'kill "$console_pid" 2>/dev/null' EXIT
"$VENV/bin/attonix" up "$ROOT/examples/attonixcorp.yaml" --port "$API_PORT" "$@"
