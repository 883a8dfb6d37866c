package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/steps"
)

// requiresTimeout bounds reading the cluster's versions before a scenario
// with requires runs.
const requiresTimeout = 15 * time.Second

// Versions are what a scenario's requires are checked against: each
// component's version as text ("3.0.2", "15.4").
type Versions map[string]string

// unmet checks reqs against the cluster's versions, read from the first
// member that answers GET /patroni (patroni.version, server_version). It
// returns why the scenario must be skipped ("" to run it), or an error
// when the versions could not be read.
func unmet(ctx context.Context, ports *steps.Ports, reqs []*dsl.Requirement) (string, Versions, error) {
	if len(reqs) == 0 {
		return "", nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, requiresTimeout)
	defer cancel()
	need := map[string]bool{}
	for _, r := range reqs {
		need[r.Component] = true
	}
	v, err := readVersions(ctx, ports, need)
	if err != nil {
		return "", nil, err
	}
	var why []string
	for _, r := range reqs {
		if ok, reason := r.Check(v[r.Component]); !ok {
			why = append(why, reason)
		}
	}
	return strings.Join(why, "; "), v, nil
}

// readVersions asks the members' GET /patroni in turn until the versions
// needed are known (a member whose PostgreSQL is down reports no
// server_version).
func readVersions(ctx context.Context, ports *steps.Ports, need map[string]bool) (Versions, error) {
	client, err := ports.Patroni()
	if err != nil {
		return nil, fmt.Errorf("requires: %w", err)
	}
	var errs []error
	for _, url := range client.URLs() {
		st, err := client.Member(ctx, url)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		v := Versions{"patroni": st.Patroni.Version}
		if st.ServerVersion > 0 {
			v["postgres"] = PostgresVersion(st.ServerVersion)
		}
		complete := true
		for c := range need {
			complete = complete && v[c] != ""
		}
		if complete {
			return v, nil
		}
		errs = append(errs, fmt.Errorf("%s reports no %s version (PostgreSQL not running?)", url, missing(v, need)))
	}
	return nil, fmt.Errorf("requires: could not read the cluster's versions from GET /patroni: %w", errors.Join(errs...))
}

func missing(v Versions, need map[string]bool) string {
	var out []string
	for c := range need {
		if v[c] == "" {
			out = append(out, dsl.Components[c])
		}
	}
	return strings.Join(out, ", ")
}

// PostgresVersion writes PostgreSQL's server_version_num as a version:
// 150004 is 15.4, 90624 is 9.6.24.
func PostgresVersion(num int) string {
	if num >= 100000 {
		return fmt.Sprintf("%d.%d", num/10000, num%10000)
	}
	return fmt.Sprintf("%d.%d.%d", num/10000, num/100%100, num%100)
}
