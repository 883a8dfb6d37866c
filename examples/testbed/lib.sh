# Shared by up, down, build-image and e2e-check. Source it; do not run it.
# shellcheck shell=bash

TESTBED_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TESTBED_PROJECT=drill-testbed
TESTBED_IMAGE=drill-testbed:latest
TESTBED_HASH_LABEL=org.drill.inputs-hash
TESTBED_SERVICES=(etcd postgres-master postgres-standby1 postgres-standby2 haproxy pgbouncer)
export COMPOSE_PROJECT_NAME=$TESTBED_PROJECT

_t0=$SECONDS
log()  { printf '[testbed %3ds] %s\n' "$((SECONDS - _t0))" "$*" >&2; }
die()  { log "ERROR: $*"; exit 1; }

# compose runs Compose v2 (`docker compose`) when it works, else Compose v1 (`docker-compose`),
# always on this project and this file, from any working directory.
compose() {
  if [ -z "${_TESTBED_COMPOSE:-}" ]; then
    if docker compose version >/dev/null 2>&1; then
      _TESTBED_COMPOSE="docker compose"
    elif command -v docker-compose >/dev/null 2>&1; then
      _TESTBED_COMPOSE="docker-compose"
    else
      die "neither 'docker compose' (v2) nor 'docker-compose' (v1) is installed"
    fi
  fi
  # shellcheck disable=SC2086 # the command is two words on purpose
  $_TESTBED_COMPOSE -p "$TESTBED_PROJECT" -f "$TESTBED_DIR/docker-compose.yml" "$@"
}

# Container names are fixed in docker-compose.yml: drill-testbed-<service>, the same under v1 and v2.
cname() { printf 'drill-testbed-%s' "$1"; }

# Profile and sync mode as the environment asks for them (validated).
testbed_profile() {
  case "${DRILL_TESTBED_PROFILE:-default}" in
    default) echo "30 10 10" ;;
    fast)    echo "10 2 4" ;;
    *) die "DRILL_TESTBED_PROFILE must be default or fast, not '${DRILL_TESTBED_PROFILE}'" ;;
  esac
}
testbed_sync() {
  case "${DRILL_TESTBED_SYNC:-off}" in
    on|true|1)   echo true ;;
    off|false|0) echo false ;;
    *) die "DRILL_TESTBED_SYNC must be on or off, not '${DRILL_TESTBED_SYNC}'" ;;
  esac
}
