#!/usr/bin/env bash
# Compare drill's InsertLoop with pgbench on the same INSERT, against one
# local PostgreSQL server that the Go program starts and removes:
#   pgbench -n -M prepared -f insert.sql -c N -T 10   vs   InsertLoop, N connections
# at N=1 and N=8, in two profiles (durable: synchronous_commit on; async: off).
#
# Needs the PostgreSQL 15 server binaries (apt-get install postgresql-15) or
# DRILL_PG_BIN pointing at them. As root, the server runs as user postgres.
# Flags are passed on, e.g.: bench/insert-vs-pgbench.sh -clients 1,8 -T 10 -profiles durable
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/insertbench "$@"
