# Shared helpers for scripts/setup.sh and scripts/setup.d/*.sh (sourced, not run).
# Every step is idempotent: it checks before it installs or starts anything.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ATTONIX_VENV:-$ROOT/.venv}"
export DEBIAN_FRONTEND=noninteractive

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

# apt_install PKG...: install the Debian packages that are missing (apt-get update once per boot).
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ ! -f /tmp/.attonix-apt-updated ]; then
    log "apt-get update"
    apt-get update -qq
    touch /tmp/.attonix-apt-updated
  fi
  log "apt-get install ${missing[*]}"
  # With recommends, as the verified set-up in ENVIRONMENT.md does: Podman needs catatonit for
  # its pod infra containers, which Debian ships only as a recommendation.
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

# wait_for DESCRIPTION SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
  local what="$1" secs="$2"; shift 2
  for _ in $(seq 1 "$((secs * 2))"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  log "timed out after ${secs}s waiting for $what"
  return 1
}
