#!/bin/sh
# Patroni's post_bootstrap hook: runs once, on the member that initialised the cluster, as user
# postgres, while the new primary is up (Patroni passes a connection URL as $1; the local socket
# with trust is simpler). Creates database fileshare with the seed system's table.
set -eu
psql() { /usr/lib/postgresql/15/bin/psql -h /var/run/postgresql -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }

psql -d postgres -c "CREATE DATABASE fileshare"
psql -d fileshare <<'SQL'
CREATE TABLE files (
    id            text PRIMARY KEY,
    filename      text NOT NULL,
    original_name text,
    file_size     bigint,
    mime_type     text,
    primary_node  text,
    expires_at    timestamptz
);
-- The test bed's own health probe (the up script writes here through HAProxy and PgBouncer),
-- kept apart from files so that drills counting rows in files see only their own.
CREATE TABLE testbed_probe (
    via text PRIMARY KEY,
    at  timestamptz NOT NULL DEFAULT now()
);
SQL
echo "post_bootstrap: database fileshare with tables files and testbed_probe created"
