package runner

import (
	"time"

	_ "github.com/drill-dev/drill/steps/all" // every step kind
)

var fixedTime = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// validScenario is a realistic scenario of control steps with vars,
// references, retries and checks.
const validScenario = `
name: control drill
description: a scenario exercising every part of the language
tags: [fuzz, bench]
vars:
  limit: 3
  url: http://127.0.0.1:18008
  token: {default: s3cret, secret: true}
cluster:
  compose_project: drill-testbed
  patroni: [http://127.0.0.1:18008, http://127.0.0.1:18009]
  pooled_dsn: postgres://postgres:postgres@127.0.0.1:16432/fileshare
  members:
    postgres-master: {service: postgres-master, dsn: "postgres://postgres:postgres@127.0.0.1:15432/fileshare", api: "http://127.0.0.1:18008"}
steps:
  - id: first
    name: say hello
    kind: shell
    command: echo hello ${token}
    timeout: 10s
    retry: {attempts: 3, interval: 100ms}
  - id: api
    kind: http
    url: ${url}/cluster
    headers: {Accept: application/json}
    expect_status: [200, 503]
    capture:
      leader_name: members.0.name
    continue_on_error: true
  - kind: check
    expr: first.exit_code == 0 && first.stdout != ""
  - id: settle
    kind: wait_until
    expr: exit_code == 0 && stdout == "hello"
    interval: 200ms
    poll:
      kind: shell
      command: echo ${first.stdout}
  - kind: sleep
    duration: 10ms
cleanup:
  - kind: shell
    name: bye
    command: echo bye
checks:
  - first.exit_code == 0
  - expr: settle.waited_s < vars.limit
    name: settles quickly
    message: the poll should succeed at once
  - status_code in [200, 503]
`
