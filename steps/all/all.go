// Package all registers every step kind drill ships and every platform
// driver, for the programs and tests that load scenarios: import it for its
// side effects.
package all

import (
	_ "github.com/drill-dev/drill/internal/platform/compose" // the compose platform
	_ "github.com/drill-dev/drill/internal/platform/hosts"   // hosts over SSH, systemd units
	_ "github.com/drill-dev/drill/internal/platform/kube"    // pods on Kubernetes
	_ "github.com/drill-dev/drill/steps/control"             // sleep, wait_until, check
	_ "github.com/drill-dev/drill/steps/host"                // http, shell
	_ "github.com/drill-dev/drill/steps/logs"                // log.wait, log.absent
	_ "github.com/drill-dev/drill/steps/member"              // compose.stop, kill, pause, ..., member.exec
	_ "github.com/drill-dev/drill/steps/network"             // network.partition, delay, ...
	_ "github.com/drill-dev/drill/steps/patroni"             // patroni.*
	_ "github.com/drill-dev/drill/steps/process"             // process.kill, freeze, thaw, start
	_ "github.com/drill-dev/drill/steps/sql"                 // sql.*, pg.*
	_ "github.com/drill-dev/drill/steps/workload"            // writer.*, watch.*, sql.insert_loop
)
