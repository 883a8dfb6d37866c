#!/usr/bin/python3
"""testbed-health: one look at the whole test bed from inside its network.

Healthy means: etcd answers; Patroni shows the expected members with exactly one leader; by SQL
the leader is writable and every other member is a replica in recovery whose replay position
has reached the leader's WAL position on the leader's timeline, with a streaming walsender on the
leader; HAProxy's primary route takes a write and its replica route reaches a replica; PgBouncer
takes a write. Prints one line (or JSON with --json); exit 0 healthy, 1 not (yet), 2 usage.

--config TTL,LOOP_WAIT,RETRY_TIMEOUT,SYNC  also compare Patroni's dynamic configuration with
    these values and PATCH it on the leader when it differs (SYNC is true or false).

Runs in any container of the test bed (the up script uses the pgbouncer container).
"""
import argparse
import json
import sys
import urllib.request

import psycopg2

MEMBERS = ["postgres-master", "postgres-standby1", "postgres-standby2"]
PASSWORD = "postgres"
TIMEOUT = 3


def rest(member, path, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://{member}:8008{path}", data=data, method=method)
    if data:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:  # /primary, /replica answer 503 with a JSON body
        return json.loads(e.read() or b"null")


def query(host, port, sql, dbname="postgres", write=False):
    conn = psycopg2.connect(host=host, port=port, user="postgres", password=PASSWORD,
                            dbname=dbname, connect_timeout=TIMEOUT,
                            options="-c statement_timeout=%d" % (TIMEOUT * 1000))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def probe(args):
    st = {"healthy": False, "problems": []}
    bad = st["problems"].append

    try:
        with urllib.request.urlopen("http://etcd:2379/health", timeout=TIMEOUT) as r:
            if json.loads(r.read()).get("health") not in ("true", True):
                bad("etcd unhealthy")
    except Exception as e:  # noqa: BLE001 - any failure is a finding
        bad(f"etcd: {e}")

    cluster = None
    for m in MEMBERS:
        try:
            cluster = rest(m, "/cluster")
            break
        except Exception:  # noqa: BLE001
            continue
    if cluster is None:
        bad("no Patroni REST API answers")
        return st
    members = {m["name"]: m for m in cluster.get("members", [])}
    st["members"] = {n: f'{m.get("role")}/{m.get("state")}' for n, m in sorted(members.items())}
    leaders = [n for n, m in members.items() if m.get("role") in ("leader", "master", "standby_leader")]
    if len(members) != len(MEMBERS):
        bad(f"{len(members)} of {len(MEMBERS)} members in Patroni")
    if len(leaders) != 1:
        bad(f"{len(leaders)} leaders")
        return st
    leader = st["leader"] = leaders[0]

    try:
        me = rest(leader, "/patroni")
        timeline = me.get("timeline")
        st["timeline"] = timeline
        rows = query(leader, 5432, "select pg_is_in_recovery(), pg_current_wal_lsn()::text")
        if rows[0][0]:
            bad(f"leader {leader} is in recovery")
            return st
        leader_lsn = rows[0][1]
        senders = {r[0]: r[1] for r in query(leader, 5432,
                   "select application_name, state from pg_stat_replication")}
    except Exception as e:  # noqa: BLE001
        bad(f"leader {leader}: {str(e).strip()}")
        return st

    st["replicas"] = {}
    for name in sorted(members):
        if name == leader:
            continue
        try:
            rows = query(name, 5432, f"""
                select pg_is_in_recovery(),
                       pg_wal_lsn_diff('{leader_lsn}', coalesce(pg_last_wal_replay_lsn(), '0/0')),
                       (select received_tli from pg_stat_wal_receiver)""")
            in_recovery, behind, tli = rows[0]
            behind = max(0, int(behind))
            st["replicas"][name] = {"behind_bytes": behind, "timeline": tli,
                                    "sender": senders.get(name)}
            if not in_recovery:
                bad(f"{name} is not in recovery")
            elif senders.get(name) != "streaming":
                bad(f"{name}: walsender on {leader} is {senders.get(name)}")
            elif behind > 0:
                bad(f"{name}: replay {behind} bytes behind the leader")
            elif timeline is not None and tli != timeline:
                bad(f"{name}: receives timeline {tli}, leader is on {timeline}")
        except Exception as e:  # noqa: BLE001
            bad(f"{name}: {str(e).strip()}")

    upsert = ("insert into testbed_probe(via) values ('%s') "
              "on conflict (via) do update set at = now() returning inet_server_addr()::text")
    for via, host, port in (("haproxy", "haproxy", 5000), ("pgbouncer", "pgbouncer", 6432)):
        try:
            query(host, port, upsert % via, dbname="fileshare", write=True)
            st[via] = "write ok"
        except Exception as e:  # noqa: BLE001
            st[via] = "no write"
            bad(f"write through {via}: {str(e).strip()}")
    try:
        if not query("haproxy", 5001, "select pg_is_in_recovery()")[0][0]:
            bad("haproxy replica route reached a primary")
    except Exception as e:  # noqa: BLE001
        bad(f"haproxy replica route: {str(e).strip()}")

    if args.config and not st["problems"]:
        ttl, loop_wait, retry, sync = args.config.split(",")
        want = {"ttl": int(ttl), "loop_wait": int(loop_wait), "retry_timeout": int(retry),
                "synchronous_mode": sync == "true"}
        have = rest(leader, "/config")
        diff = {k: v for k, v in want.items() if have.get(k) != v}
        if diff:
            rest(leader, "/config", method="PATCH", body=diff)
            st["config_patched"] = diff
        st["config"] = want

    st["healthy"] = not st["problems"]
    return st


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--config")
    args = ap.parse_args()
    st = probe(args)
    if args.json:
        print(json.dumps(st, sort_keys=True))
    else:
        reps = ", ".join(f'{n} {r["behind_bytes"]} B behind' for n, r in st.get("replicas", {}).items())
        line = f'leader {st.get("leader", "-")} (timeline {st.get("timeline", "-")}); replicas: {reps or "-"}'
        if st["problems"]:
            line += "; waiting: " + "; ".join(st["problems"])
        else:
            line += "; HAProxy and PgBouncer take writes"
        if st.get("config_patched"):
            line += f'; patched config {st["config_patched"]}'
        print(line)
    sys.exit(0 if st["healthy"] else 1)


if __name__ == "__main__":
    main()
