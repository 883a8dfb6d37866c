# Shared by up, down, build-image, e2e-check and the hosts flavour's up-hosts, down-hosts,
# build-hosts-image. Source it; do not run it.
# shellcheck shell=bash

TESTBED_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TESTBED_PROJECT=drill-testbed
TESTBED_HASH_LABEL=org.drill.inputs-hash
TESTBED_FLAVOUR_LABEL=org.drill.flavour
TESTBED_VERSIONS_LABEL=org.drill.versions
TESTBED_SERVICES=(etcd1 etcd2 etcd3 postgres-master postgres-standby1 postgres-standby2 haproxy pgbouncer)
export COMPOSE_PROJECT_NAME=$TESTBED_PROJECT

_t0=$SECONDS
log()  { printf '[testbed %3ds] %s\n' "$((SECONDS - _t0))" "$*" >&2; }
die()  { log "ERROR: $*"; exit 1; }

# The compose bed's flavours: the Debian release its image is built from. One at a time on a
# machine (same project, names and ports). DRILL_TESTBED_FLAVOUR selects one (up --flavour sets it).
#   bookworm  drill-testbed:latest  Patroni 3.0, PostgreSQL 15, etcd 3.4 (the default)
#   trixie    drill-testbed:trixie  Patroni 4.0, PostgreSQL 17, etcd 3.5
TESTBED_FLAVOURS=(bookworm trixie)
# flavour_image FLAVOUR: the image of that flavour.
flavour_image() {
  case "$1" in
    bookworm) echo drill-testbed:latest ;;
    trixie)   echo drill-testbed:trixie ;;
    *) die "the flavour must be one of ${TESTBED_FLAVOURS[*]}, not '$1'" ;;
  esac
}
TESTBED_FLAVOUR=${DRILL_TESTBED_FLAVOUR:-bookworm}
TESTBED_IMAGE=$(flavour_image "$TESTBED_FLAVOUR") || exit 1
# docker-compose.yml reads the image of every service from here.
export DRILL_TESTBED_IMAGE=$TESTBED_IMAGE

# compose runs Compose v2 (`docker compose`) when it works, else Compose v1 (`docker-compose`),
# always on this project and this file, from any working directory.
compose() { compose_project "$TESTBED_PROJECT" "$TESTBED_DIR/docker-compose.yml" "$@"; }

# compose_project PROJECT FILE ARGS...: compose (v2 or v1) on that project and file.
compose_project() {
  local project=$1 file=$2
  shift 2
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
  COMPOSE_PROJECT_NAME=$project $_TESTBED_COMPOSE -p "$project" -f "$file" "$@"
}

# Container names are fixed in docker-compose.yml: drill-testbed-<service>, the same under v1 and v2.
cname() { printf 'drill-testbed-%s' "$1"; }

# Profile and sync mode as the environment asks for them (validated).
testbed_profile() {
  case "${DRILL_TESTBED_PROFILE:-default}" in
    default) echo "30 10 10" ;;
    # Patroni 4 (trixie) raises a ttl below 20 to 20; testbed-entrypoint does the same.
    fast)    if [ "$TESTBED_FLAVOUR" = bookworm ]; then echo "14 2 4"; else echo "20 2 4"; fi ;;
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

# hash_dir DIR: one hash of the paths (relative to image/), exec bits and contents of DIR's files.
hash_dir() { find "$1" -type f | LC_ALL=C sort | hash_files; }

# hash_files: the same over the files named on stdin, one a line, in that order.
hash_files() {
  local f
  while read -r f; do
    printf '%s %s\0' "${f#"$TESTBED_DIR/image/"}" "$(if [ -x "$f" ]; then echo x; else echo -; fi)"
    sha256sum <"$f"
  done | sha256sum | cut -c1-64
}

# unmount_under DIR: lazily unmount everything mounted below DIR, deepest first (debootstrap
# mounts proc and sys, and in a container bind-mounts /dev: never tar or delete through those).
unmount_under() {
  awk -v d="$1/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

# The hosts flavour (up --hosts): VM-like containers with systemd and sshd, project drill-hosts.
HOSTS_PROJECT=drill-hosts
HOSTS_IMAGE=drill-testbed-hosts:latest
HOSTS_STATE=$TESTBED_DIR/.state/hosts
HOSTS_NETWORK=${HOSTS_PROJECT}_net
# host:ssh-port, in the order up starts them; the Docker-over-SSH host last.
HOSTS=(etcd1:2224 etcd2:2225 etcd3:2226 pg1:2221 pg2:2222 pg3:2223 dockerssh:2230)
# The hosts that run systemd (all but the Docker-over-SSH host).
SYSTEMD_HOSTS=(etcd1 etcd2 etcd3 pg1 pg2 pg3)
hcompose() { compose_project "$HOSTS_PROJECT" "$TESTBED_DIR/docker-compose-hosts.yml" "$@"; }
hname() { printf 'drill-hosts-%s' "$1"; }
