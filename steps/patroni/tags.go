package patroni

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/client/patroni"
	"github.com/drill-dev/drill/internal/fault"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/internal/platform"
	"github.com/drill-dev/drill/steps"
)

// patroni.tags changes a member's tags in its local Patroni configuration
// file. The file holds the cluster's passwords: its content never leaves
// the member except as the step reads it to edit it, and never reaches the
// ledger, the logs or the reports. The original is kept ON THE MEMBER, as
// <file>.drill-<id> beside it (cp -p: same owner, mode and bytes); the
// ledger names only the paths, and the undo moves the backup back.

// opTags is the undo of patroni.tags: put the backup back and reload.
const opTags = "patroni.tags"

// The tags Patroni knows, by the type of their value.
var (
	boolTags = []string{"clonefrom", "nofailover", "noloadbalance", "nostream", "nosync"}
	intTags  = []string{"failover_priority", "sync_priority"}
	nameTags = []string{"replicatefrom"}
)

func init() {
	var faultMetrics []metric.Spec
	for _, m := range steps.FaultMetrics {
		if m.Name != "fault_at" {
			faultMetrics = append(faultMetrics, m)
		}
	}
	steps.Register(steps.Kind{
		Name:    "patroni.tags",
		Needs:   []platform.Capability{platform.Exec},
		Summary: "set or clear a member's Patroni tags (nofailover, nosync, failover_priority...) in its configuration file",
		Doc: "Edits the tags section of the member's local Patroni configuration file (as root: docker exec on compose, " +
			"sudo on hosts), reloads Patroni (POST /reload) and waits until the member's GET /patroni reports the new tags. " +
			"set takes the predefined tags, nofailover, nosync, noloadbalance, clonefrom and nostream (true or false), " +
			"failover_priority and sync_priority (integers, 0 or more), replicatefrom (a member name), and any other name " +
			"as a tag of your own; clear removes tags. Patroni omits a predefined boolean tag that is false, so false is " +
			"seen as applied when the tag is absent. The file is found from the running patroni process's command line " +
			"(its last argument), or named by cluster.members.NAME.patroni_config. Only the tags section changes; the rest " +
			"of the file keeps its order and comments. A fault: the original file is kept beside it on the member " +
			"(FILE.drill-ID, same owner and mode; the passwords it holds never leave the member) and put back byte for byte " +
			"when the run ends, or by drill cleanup, and Patroni reloads. Patroni before 3.2 (the bookworm test bed's 3.0.2) " +
			"does not know failover_priority and sync_priority: it accepts and reports them as tags of your own, with no " +
			"effect on failover. A member's restart keeps the change only when its configuration file survives the restart.",
		Example: "kind: patroni.tags\ntarget: any_replica\nset:\n  nofailover: true\n  zone: b\nclear: [nosync]",
		New:     func() steps.Step { return &Tags{Interval: 200 * time.Millisecond} },
		Timeout: time.Minute,
		Fault:   true,
		Metrics: append([]metric.Spec{
			{Name: "fault_at", Type: metric.Time, Doc: "when the reload was requested, the file already changed"},
			{Name: "applied_at", Type: metric.Time, Doc: "when GET /patroni of the member first reported the new tags"},
			{Name: "took_s", Type: metric.Number, Doc: "seconds from fault_at to applied_at", Resolution: "the interval plus one REST call"},
			{Name: "tags", Type: metric.Any, Doc: "the member's tags as Patroni reports them once applied (a false predefined tag is absent)"},
			{Name: "config_file", Type: metric.String, Doc: "the configuration file changed, on the member"},
		}, faultMetrics...),
	})
	fault.Register(opTags, undoTags)
}

// Tags sets and clears one member's Patroni tags.
type Tags struct {
	Target   string         `yaml:"target" target:"unit,one" required:"true" doc:"the member: a service, or leader, any_replica, sync_standby or member:NAME (one member)"`
	Set      map[string]any `yaml:"set" doc:"tags to set, e.g. {nofailover: true, failover_priority: 2, zone: b}"`
	Clear    []string       `yaml:"clear" doc:"tags to remove, e.g. [nosync]"`
	Keep     bool           `yaml:"keep" doc:"leave the change in place when the run ends; drill prints how to undo it"`
	Interval time.Duration  `yaml:"interval" doc:"time between reads of GET /patroni while waiting for the new tags"`
}

// Build checks the tags' values, pointing at each bad one.
func (s *Tags) Build(bc *steps.BuildContext) error {
	if len(s.Set) == 0 && len(s.Clear) == 0 {
		return steps.FieldErrorf("set", "give the tags to set, or clear: a list of tags to remove")
	}
	if s.Interval <= 0 {
		return steps.FieldErrorf("interval", "must be more than 0")
	}
	var errs dsl.ErrorList
	for _, k := range slices.Sorted(maps.Keys(s.Set)) {
		if msg := checkTag(k, s.Set[k]); msg != "" {
			errs.Add(dsl.Errorf(bc.KeyPos("set", k), "set.%s %s", k, msg))
		}
	}
	for _, k := range s.Clear {
		if _, both := s.Set[k]; both {
			errs.Add(dsl.Errorf(bc.KeyPos("set", k), "set.%s: the tag is also in clear; set it or clear it", k))
		}
		if k == "" {
			errs.Add(dsl.Errorf(bc.FieldPos("clear"), "clear: names an empty tag"))
		}
	}
	return errs.Err()
}

// checkTag says what is wrong with a tag's value, "" when nothing.
func checkTag(name string, v any) string {
	if str, ok := v.(string); ok && dsl.HasRefs(str) {
		return "" // a step's value, known when the step runs
	}
	switch {
	case slices.Contains(boolTags, name):
		if _, ok := v.(bool); !ok {
			return "must be true or false, found " + describeValue(v)
		}
	case slices.Contains(intTags, name):
		n, ok := v.(int64)
		if !ok {
			return "must be an integer, 0 or more, found " + describeValue(v)
		}
		if n < 0 {
			return fmt.Sprintf("must be 0 or more, found %d", n)
		}
	case slices.Contains(nameTags, name):
		if str, ok := v.(string); !ok || str == "" {
			return "must be a member's name, found " + describeValue(v)
		}
	default:
		switch v.(type) {
		case string, bool, int64, float64:
		case nil:
			return "has no value: to remove the tag, name it in clear"
		default:
			return "must be a single value (text, number or true/false), found " + describeValue(v)
		}
	}
	return ""
}

// Run changes the file, reloads Patroni and waits for the new tags.
func (s *Tags) Run(ctx context.Context, env *steps.Env) error {
	p, vs, err := env.Victims(ctx, s.Target, 0)
	if err != nil {
		return err
	}
	if len(vs) != 1 {
		return fmt.Errorf("%q is %d members; patroni.tags changes one: use any_replica or member:NAME", s.Target, len(vs))
	}
	if err := env.PrepareFault(ctx, vs); err != nil {
		return err
	}
	v := vs[0]
	if v.Member.Name == "" {
		return fmt.Errorf("service %q runs no known Patroni member: map it in cluster.members", v.Unit.Service)
	}
	client, err := env.Ports.Patroni()
	if err != nil {
		return err
	}
	api, err := client.MemberURL(ctx, v.Member.Name)
	if err != nil {
		return err
	}
	file := env.Cluster().Members[v.Member.Name].PatroniConfig
	if file == "" {
		if file, err = findConfig(ctx, p, v); err != nil {
			return err
		}
	}
	old, err := readConfig(ctx, p, v, file)
	if err != nil {
		return err
	}
	edited, err := editTags(old, s.Set, s.Clear)
	if err != nil {
		return fmt.Errorf("%s on %s: %w", file, v, err)
	}
	id, err := backupID()
	if err != nil {
		return err
	}
	args := tagsUndo{
		UndoArgs: steps.UndoArgs{Ref: p.Ref(), Units: platform.ArgsOf(v.Unit)},
		File:     file, Backup: file + ".drill-" + id, Member: v.Member.Name, API: api,
	}
	var reloadAt time.Time
	flt := fault.Fault{Desc: fmt.Sprintf("change the Patroni tags of %s in %s (%s)", v, file, s.describe()), Target: v.Key(),
		Undo: fault.NewAction(opTags, args), Keep: s.Keep}
	err = env.Faults.Inject(ctx, flt, func(ctx context.Context) error {
		if err := writeConfig(ctx, p, v, args, edited); err != nil {
			return err
		}
		reloadAt = time.Now()
		res, err := client.Reload(ctx, v.Member.Name)
		if err != nil {
			return err
		}
		env.Logf("%s; kept the original as %s; reload of %s: %d %s", s.describe(), args.Backup, v.Member.Name, res.Status, res.Message)
		return nil
	})
	if err != nil {
		return err
	}
	if err := env.RecordAll(map[string]any{"fault_at": reloadAt, "config_file": file}); err != nil {
		return err
	}
	return steps.Poll(ctx, env, s.Interval, "Patroni to report the new tags of "+v.Member.Name, func() (bool, string, error) {
		st, err := client.Member(ctx, api)
		if err != nil {
			return false, err.Error(), nil
		}
		seen := time.Now()
		if why := tagsDiffer(st.Tags, s.Set, s.Clear); why != "" {
			return false, why, nil
		}
		tags := st.Tags
		if tags == nil {
			tags = map[string]any{}
		}
		env.Logf("Patroni reports tags %s, %.3f s after the reload", formatTags(tags), seen.Sub(reloadAt).Seconds())
		return true, "", env.RecordAll(map[string]any{"applied_at": seen, "took_s": seen.Sub(reloadAt).Seconds(), "tags": tags})
	})
}

// describe is the change in words: "set nofailover=true; clear nosync".
func (s *Tags) describe() string {
	var parts []string
	if len(s.Set) > 0 {
		parts = append(parts, "set "+formatTags(s.Set))
	}
	if len(s.Clear) > 0 {
		parts = append(parts, "clear "+strings.Join(s.Clear, ", "))
	}
	return strings.Join(parts, "; ")
}

// formatTags writes tags sorted by name: "nofailover=true, zone=b".
func formatTags(tags map[string]any) string {
	keys := slices.Sorted(maps.Keys(tags))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, tags[k])
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, ", ")
}

// tagsDiffer says how the tags Patroni reports differ from the change, ""
// when they show it: each set tag with its value (a predefined boolean set
// to false may be absent, as Patroni omits it), each cleared tag absent.
func tagsDiffer(reported, set map[string]any, clear []string) string {
	for _, k := range slices.Sorted(maps.Keys(set)) {
		want := set[k]
		got, ok := reported[k]
		if !ok && want == false && slices.Contains(boolTags, k) {
			continue
		}
		if !ok {
			return fmt.Sprintf("no tag %s yet (tags: %s)", k, formatTags(reported))
		}
		if !sameJSON(got, want) {
			return fmt.Sprintf("tag %s is %v, waiting for %v", k, got, want)
		}
	}
	for _, k := range clear {
		if got, ok := reported[k]; ok {
			return fmt.Sprintf("tag %s is still %v", k, got)
		}
	}
	return ""
}

// sameJSON compares two values as JSON: 2 (YAML) and 2.0 (JSON) agree.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// backupID names one change's backup: a UTC time and a random suffix.
func backupID() (string, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("naming the backup: %w", err)
	}
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b), nil
}

// findConfigScript prints the last argument of the oldest process named
// patroni, then its working directory when that can be read (a container
// without CAP_SYS_PTRACE cannot read it).
const findConfigScript = `pid=$(pgrep -o -x patroni) || { echo "no process named patroni runs here" >&2; exit 3; }
tr '\0' '\n' <"/proc/$pid/cmdline" | tail -n 1
readlink "/proc/$pid/cwd" 2>/dev/null || true`

// findConfig finds the configuration file of the Patroni running in v: the
// last argument of its command line.
func findConfig(ctx context.Context, p platform.Platform, v steps.Victim) (string, error) {
	out, err := rootRun(ctx, p, v, "find the Patroni configuration file", []string{"sh", "-c", findConfigScript}, nil)
	if err != nil {
		return "", fmt.Errorf("%w; name the file with cluster.members.%s.patroni_config", err, v.Member.Name)
	}
	file, cwd, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if file == "" || path.Base(file) == "patroni" {
		return "", fmt.Errorf("the patroni process in %s has no configuration file argument (it may read it from PATRONI_CONFIGURATION): name the file with cluster.members.%s.patroni_config", v, v.Member.Name)
	}
	if path.IsAbs(file) {
		return file, nil
	}
	if cwd == "" {
		return "", fmt.Errorf("the patroni process in %s names its configuration file %q relative to a working directory drill cannot read: name the file with cluster.members.%s.patroni_config", v, file, v.Member.Name)
	}
	return path.Join(cwd, file), nil
}

// readConfig reads the file as root. Its content is never logged.
func readConfig(ctx context.Context, p platform.Platform, v steps.Victim, file string) ([]byte, error) {
	return rootRun(ctx, p, v, "read "+file, []string{"cat", "--", file}, nil)
}

// writeScript keeps the original as the backup (cp -p: owner, mode and
// bytes), then writes stdin to a temporary file beside it with the same
// owner and mode, and moves it into place: Patroni never reads half a file.
const writeScript = `set -eu
f=$1 b=$2 t=$2.tmp
umask 077
[ ! -e "$b" ] || { echo "$b exists already" >&2; exit 3; }
cp -p -- "$f" "$b"
cat >"$t"
chown --reference="$f" -- "$t"
chmod --reference="$f" -- "$t"
mv -f -- "$t" "$f"`

// restoreScript moves the backup back, when it is still there, and removes
// a temporary file a failed write left.
const restoreScript = `set -eu
f=$1 b=$2
rm -f -- "$b.tmp"
if [ -e "$b" ]; then mv -f -- "$b" "$f"; fi`

func writeConfig(ctx context.Context, p platform.Platform, v steps.Victim, a tagsUndo, content []byte) error {
	_, err := rootRun(ctx, p, v, "write "+a.File, []string{"sh", "-c", writeScript, "sh", a.File, a.Backup}, content)
	return err
}

// rootRun runs argv as root in v and returns its stdout; a non-zero exit is
// an error with the first line of stderr (never stdout: it may be the file).
func rootRun(ctx context.Context, p platform.Platform, v steps.Victim, what string, argv []string, stdin []byte) ([]byte, error) {
	res, err := p.ExecAdmin(ctx, v.Unit, argv, stdin)
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", what, v, err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("%s in %s: exit %d: %s", what, v, res.ExitCode, steps.FirstLine(string(res.Stderr)))
	}
	return res.Stdout, nil
}

// editTags returns the configuration src with set and clear applied to its
// top-level tags mapping (made when missing). Everything else keeps its
// order, values and comments; yaml re-indents the file by 2 and drops blank
// lines.
func editTags(src []byte, set map[string]any, clear []string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not a YAML mapping of Patroni settings")
	}
	root := doc.Content[0]
	var tags *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "tags" {
			tags = root.Content[i+1]
		}
	}
	switch {
	case tags == nil:
		tags = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "tags"}, tags)
	case tags.Kind == yaml.ScalarNode && tags.ShortTag() == "!!null":
		*tags = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: tags.Line, Column: tags.Column, LineComment: tags.LineComment}
	case tags.Kind != yaml.MappingNode:
		return nil, fmt.Errorf("its tags (line %d) are not a mapping", tags.Line)
	}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		var val yaml.Node
		if err := val.Encode(set[k]); err != nil {
			return nil, fmt.Errorf("tag %s: %w", k, err)
		}
		if i := keyIndex(tags, k); i >= 0 {
			val.LineComment, val.HeadComment = tags.Content[i+1].LineComment, tags.Content[i+1].HeadComment
			tags.Content[i+1] = &val
			continue
		}
		tags.Content = append(tags.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, &val)
	}
	for _, k := range clear {
		if i := keyIndex(tags, k); i >= 0 {
			tags.Content = slices.Delete(tags.Content, i, i+2)
		}
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("writing the YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("writing the YAML: %w", err)
	}
	return out.Bytes(), nil
}

// keyIndex is the index of key's key node in mapping m, or -1.
func keyIndex(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// tagsUndo is the undo of patroni.tags in the ledger: where the member runs,
// the file and its backup on it (paths only), and how to reach its Patroni.
type tagsUndo struct {
	steps.UndoArgs
	File   string `json:"file"`
	Backup string `json:"backup"`
	Member string `json:"member"`
	API    string `json:"api"`
}

// undoTags moves the backup back over the file (nothing to do when it is
// gone: already restored) and reloads the member's Patroni.
func undoTags(ctx context.Context, c fault.Connector, raw json.RawMessage) error {
	var a tagsUndo
	if err := json.Unmarshal(raw, &a); err != nil {
		return fmt.Errorf("%s: bad arguments in the ledger (%s): %w", opTags, raw, err)
	}
	return steps.OnPlatform(ctx, c, opTags, raw, func(p platform.Platform, ua steps.UndoArgs) error {
		if len(ua.Units) != 1 || a.File == "" || a.Backup == "" {
			return fmt.Errorf("%s: the ledger entry names no unit or no file: %s", opTags, raw)
		}
		u := ua.Units[0]
		res, err := p.ExecAdmin(ctx, u.Unit(), []string{"sh", "-c", restoreScript, "sh", a.File, a.Backup}, nil)
		if err != nil {
			return steps.UndoFailed(u, "restore "+a.File+" in", err)
		}
		if res.ExitCode != 0 {
			return fmt.Errorf("restoring %s from %s in %s: exit %d: %s", a.File, a.Backup, u.Name, res.ExitCode, steps.FirstLine(string(res.Stderr)))
		}
		client, err := patroni.New([]string{a.API}, patroni.Options{MemberURLs: map[string]string{a.Member: a.API}})
		if err != nil {
			return err
		}
		if _, err := client.Reload(ctx, a.Member); err != nil {
			return fmt.Errorf("%s is restored, but Patroni did not take the reload: %w", a.File, err)
		}
		return nil
	})
}

var (
	_ steps.Step    = (*Tags)(nil)
	_ steps.Builder = (*Tags)(nil)
)
