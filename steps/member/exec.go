package member

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/internal/platform"
	"github.com/drill-dev/drill/steps"
)

func init() {
	steps.Register(steps.Kind{
		Name:    "member.exec",
		Needs:   []platform.Capability{platform.Exec},
		Summary: "run a command in a member and capture its output",
		Doc: "Runs command in the member's container (docker exec) or on its host (over SSH, as the login user): " +
			"patronictl, psql against the local socket, reading a file. Fails unless it exits with expect_exit " +
			"(0 by default). stdout and stderr are recorded (first 64 KiB each), and stdout parsed as JSON when it is JSON.",
		Example: "kind: member.exec\ntarget: leader\ncommand: [patronictl, -c, /etc/patroni/patroni.yml, list, -f, json]",
		New:     func() steps.Step { return &Exec{} },
		Timeout: time.Minute,
		Metrics: []metric.Spec{
			{Name: "exit_code", Type: metric.Number, Doc: "the command's exit status"},
			{Name: "stdout", Type: metric.String, Doc: "standard output, trimmed (first 64 KiB)"},
			{Name: "stderr", Type: metric.String, Doc: "standard error, trimmed (first 64 KiB)"},
			{Name: "json", Type: metric.Any, Doc: "standard output parsed as JSON, when it is JSON"},
			{Name: "duration_s", Type: metric.Number, Doc: "how long the command ran, round trip included"},
			{Name: "member", Type: metric.String, Doc: "the Patroni member it ran on, when known"},
		},
	})
}

// Exec runs a command in one member.
type Exec struct {
	Target     string   `yaml:"target" target:"unit,one" required:"true" doc:"where to run: a service, or leader, any_replica, sync_standby or member:NAME (one member)"`
	Index      int      `yaml:"index" doc:"container number of a scaled service"`
	Command    []string `yaml:"command" required:"true" doc:"the program and its arguments, e.g. [cat, /etc/patroni/patroni.yml]; use [sh, -c, \"...\"] for a shell line"`
	Stdin      string   `yaml:"stdin" doc:"text fed to the command's standard input"`
	ExpectExit int      `yaml:"expect_exit" doc:"exit status that counts as success"`
}

// Validate checks the target and the command.
func (s *Exec) Validate() error {
	if len(s.Command) == 0 || s.Command[0] == "" {
		return steps.FieldErrorf("command", "needs the program to run, e.g. [patronictl, list]")
	}
	if s.ExpectExit < 0 || s.ExpectExit > 255 {
		return steps.FieldErrorf("expect_exit", "must be an exit status from 0 to 255, found %d", s.ExpectExit)
	}
	return steps.ValidateUnit(s.Target, s.Index)
}

// Run runs the command on the one unit the target stands for.
func (s *Exec) Run(ctx context.Context, env *steps.Env) error {
	p, vs, err := env.Victims(ctx, s.Target, s.Index)
	if err != nil {
		return err
	}
	if len(vs) != 1 {
		return fmt.Errorf("%q is %d members; member.exec runs in one: use any_replica, member:NAME or index", s.Target, len(vs))
	}
	v := vs[0]
	var stdin []byte
	if s.Stdin != "" {
		stdin = []byte(s.Stdin)
	}
	start := time.Now()
	res, err := p.Exec(ctx, v.Unit, s.Command, stdin)
	if err != nil {
		return fmt.Errorf("running %s in %s: %w", s.Command[0], v, err)
	}
	env.Logf("%s in %s: exit %d in %s", strings.Join(s.Command, " "), v, res.ExitCode, time.Since(start).Round(time.Millisecond))
	values := map[string]any{
		"exit_code":  res.ExitCode,
		"stdout":     capped(res.Stdout),
		"stderr":     capped(res.Stderr),
		"duration_s": time.Since(start).Seconds(),
	}
	if v.Member.Name != "" {
		values["member"] = v.Member.Name
	}
	var doc any
	if json.Unmarshal(res.Stdout, &doc) == nil {
		values["json"] = doc
	}
	if err := env.RecordAll(values); err != nil {
		return err
	}
	if res.ExitCode != s.ExpectExit {
		return fmt.Errorf("%s exited with %d, expected %d: %s", s.Command[0], res.ExitCode, s.ExpectExit, steps.FirstLine(string(res.Stderr)+string(res.Stdout)))
	}
	return nil
}

// capped is out trimmed and cut to 64 KiB.
func capped(out []byte) string {
	const max = 64 << 10
	if len(out) > max {
		out = out[:max]
	}
	return strings.TrimSpace(string(out))
}

var (
	_ steps.Step      = (*Exec)(nil)
	_ steps.Validator = (*Exec)(nil)
)
