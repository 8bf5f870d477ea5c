#!/usr/bin/env bash
# The web console: its npm dependencies (npm ci, only when node_modules is missing or
# package-lock.json changed) and its build (only when a source file is newer than frontend/dist).
# Headless Chromium for its end-to-end tests is installed by 41-chromium.sh.
source "$(dirname "$0")/../lib.sh"
FRONTEND="$ROOT/frontend"
if ! command -v npm >/dev/null; then
  log "npm is missing: the console needs Node.js 20+ with npm"
  exit 1
fi
cd "$FRONTEND"
stamp=node_modules/.attonix-lock-sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "npm ci (frontend)"
  npm ci --no-audit --no-fund --loglevel=error
  printf '%s\n' "$want" >"$stamp"
fi
built=dist/index.html
if [ ! -f "$built" ] || [ -n "$(find src public index.html package-lock.json vite.config.ts tsconfig.json \
      -newer "$built" -print -quit)" ]; then
  log "npm run build (frontend)"
  npm run build --silent
  touch "$built"
fi
