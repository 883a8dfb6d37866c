package process

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/internal/platform"
)

// proc is one process of a unit, as ps shows it.
type proc struct {
	PID, PPID int
	Stat      string // ps's STAT: "T" when stopped
	Text      string // its name (comm) or command line (args), whichever was asked
}

// psArgv lists every process of a unit, oldest first, with its name or its
// whole command line (-ww: never cut) as the last column.
func psArgv(column string) []string {
	return []string{"ps", "-ww", "-eo", "pid=,ppid=,stat=," + column + "=", "--sort=start_time"}
}

// listProcs runs ps in u through the platform's admin exec.
func listProcs(ctx context.Context, p platform.Platform, u platform.Unit, column string) ([]proc, error) {
	out, err := run(ctx, p, u, psArgv(column))
	if err != nil {
		return nil, err
	}
	return parsePS(out), nil
}

// parsePS reads the output of psArgv; lines it cannot read are skipped.
func parsePS(out string) []proc {
	var procs []proc
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		ppid, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			continue
		}
		// the last column keeps its inner spaces
		rest := strings.TrimSpace(line)
		for range 3 {
			rest = strings.TrimLeft(rest[strings.IndexAny(rest, " \t"):], " \t")
		}
		procs = append(procs, proc{PID: pid, PPID: ppid, Stat: f[2], Text: rest})
	}
	return procs
}

// run runs argv in u with the platform's admin rights and returns its
// stdout; a non-zero exit is an error with its stderr.
func run(ctx context.Context, p platform.Platform, u platform.Unit, argv []string) (string, error) {
	res, err := p.ExecAdmin(ctx, u, argv, nil)
	if err != nil {
		return "", fmt.Errorf("running %s in %s: %w", argv[0], u.Name, err)
	}
	if res.ExitCode != 0 {
		return "", &exitError{argv: argv, unit: u.Name, code: res.ExitCode, msg: strings.TrimSpace(string(res.Stderr) + " " + string(res.Stdout))}
	}
	return string(res.Stdout), nil
}

type exitError struct {
	argv []string
	unit string
	code int
	msg  string
}

func (e *exitError) Error() string {
	return fmt.Sprintf("%s in %s exited with %d: %s", strings.Join(e.argv, " "), e.unit, e.code, e.msg)
}

// describe says how spec finds its process, for messages.
func describe(spec cluster.Process) string {
	switch {
	case spec.PIDFile != "":
		return "the pid in " + spec.PIDFile
	case spec.Match != "":
		return fmt.Sprintf("the oldest process whose command line matches %q (pgrep -o -f)", spec.Match)
	}
	return fmt.Sprintf("the oldest process named %s (pgrep -o -x %s)", spec.Comm, spec.Comm)
}

// find looks for the process spec describes in u; found is false when none
// runs.
func find(ctx context.Context, p platform.Platform, u platform.Unit, spec cluster.Process) (pr proc, found bool, err error) {
	switch {
	case spec.PIDFile != "":
		out, err := run(ctx, p, u, []string{"cat", spec.PIDFile})
		if err != nil {
			return proc{}, false, err
		}
		first, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
		pid, err := strconv.Atoi(strings.TrimSpace(first))
		if err != nil || pid <= 0 {
			return proc{}, false, fmt.Errorf("%s in %s does not start with a pid: %q", spec.PIDFile, u.Name, first)
		}
		procs, err := listProcs(ctx, p, u, "comm")
		if err != nil {
			return proc{}, false, err
		}
		for _, pr := range procs {
			if pr.PID == pid {
				return pr, true, nil
			}
		}
		return proc{}, false, nil
	case spec.Match != "":
		re, err := regexp.CompilePOSIX(spec.Match)
		if err != nil {
			return proc{}, false, fmt.Errorf("match %q: %w", spec.Match, err)
		}
		procs, err := listProcs(ctx, p, u, "args")
		if err != nil {
			return proc{}, false, err
		}
		return first(withoutSelf(procs), func(pr proc) bool { return re.MatchString(pr.Text) })
	}
	procs, err := listProcs(ctx, p, u, "comm")
	if err != nil {
		return proc{}, false, err
	}
	return first(procs, func(pr proc) bool { return pr.Text == spec.Comm })
}

func first(procs []proc, match func(proc) bool) (proc, bool, error) {
	for _, pr := range procs {
		if match(pr) {
			return pr, true, nil
		}
	}
	return proc{}, false, nil
}

// withoutSelf drops the ps that listed the processes and its ancestors (the
// sudo and the shell of an SSH session): their command lines hold no
// pattern, but a pattern may match them ("ps", "sudo").
func withoutSelf(procs []proc) []proc {
	self := strings.Join(psArgv("args"), " ")
	parent := map[int]int{}
	seen := map[int]bool{}
	for _, pr := range procs {
		parent[pr.PID] = pr.PPID
	}
	for _, pr := range procs {
		if pr.Text == self {
			for pid := pr.PID; pid > 1 && !seen[pid]; pid = parent[pid] {
				seen[pid] = true
			}
		}
	}
	out := procs[:0:0]
	for _, pr := range procs {
		if !seen[pr.PID] {
			out = append(out, pr)
		}
	}
	return out
}
