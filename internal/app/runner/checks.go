package runner

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/steps"
)

// MaxFileSize bounds a scenario, cluster or var file: a drill is a few
// kilobytes, and a bigger file is a mistake that would take long to parse.
const MaxFileSize = 1 << 20

// ReadFile reads a scenario, cluster or var file. Only regular files are
// read (a device, a FIFO or a socket would block or never end), up to
// MaxFileSize. The error names the path.
func ReadFile(path string) ([]byte, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return data, nil
}

// readFile is ReadFile with an error that does not name the path.
func readFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	mode := info.Mode()
	switch {
	case mode.IsDir():
		return nil, errors.New("it is a directory, not a YAML file")
	case !mode.IsRegular():
		return nil, fmt.Errorf("it is %s, not a regular file", fileType(mode))
	case info.Size() > MaxFileSize:
		return nil, errTooBig
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if len(data) > MaxFileSize {
		return nil, errTooBig
	}
	return data, nil
}

var errTooBig = errors.New("it is larger than 1 MiB, the limit for a scenario, cluster or var file")

func fileType(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// resolveVars replaces ${other} references inside the text values of vars
// with the other var's value (its typed value when the text is exactly one
// reference), in place. A reference to an undefined var, to a step, or a
// cycle is an error at the var.
func resolveVars(decl []*dsl.Var, vals map[string]any) dsl.ErrorList {
	pos := make(map[string]dsl.Pos, len(decl))
	for _, v := range decl {
		pos[v.Name] = v.Pos
	}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var errs dsl.ErrorList
	var resolve func(name string, path []string) bool
	resolve = func(name string, path []string) bool {
		switch state[name] {
		case done:
			return true
		case visiting:
			cycle := append(path[slices.Index(path, name):], name)
			errs = append(errs, dsl.Errorf(pos[name], "var %q refers to itself through %s: a var cannot depend on itself", name, strings.Join(cycle, " -> ")))
			return false
		}
		text, isText := vals[name].(string)
		if !isText || !dsl.HasRefs(text) && !strings.Contains(text, "$${") {
			state[name] = done
			return true
		}
		state[name] = visiting
		defer func() { state[name] = done }()
		parts, err := dsl.ParseTemplate(text)
		if err != nil {
			errs = append(errs, dsl.Errorf(pos[name], "var %q: %v", name, err))
			return false
		}
		for _, p := range parts {
			switch {
			case p.Ref == nil:
			case p.Ref.Step != "":
				errs = append(errs, dsl.Errorf(pos[name], "var %q: %s is recorded at run time: a var can refer only to other vars", name, p.Ref))
				return false
			case !hasKey(vals, p.Ref.Name):
				errs = append(errs, dsl.Errorf(pos[name], "var %q: undefined var %q%s", name, p.Ref.Name, dsl.DidYouMean(p.Ref.Name, slices.Collect(maps.Keys(vals)))))
				return false
			case !resolve(p.Ref.Name, append(path, name)):
				return false
			}
		}
		if len(parts) == 1 && parts[0].Ref != nil {
			vals[name] = vals[parts[0].Ref.Name]
			return true
		}
		vals[name], _ = dsl.Expand(parts, func(r dsl.Ref) (string, bool) { return dsl.VarString(vals[r.Name]), true })
		return true
	}
	for _, v := range decl {
		resolve(v.Name, nil)
	}
	return errs
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

// clusterRef refuses ${step.metric} in the cluster block.
func clusterRef(ref dsl.Ref) error {
	return fmt.Errorf("%s: the cluster block is read before any step runs; it can use ${var}, not a step's value", ref)
}

// checkClusterURLs requires an http:// or https:// scheme on every Patroni
// URL of a cluster block (cluster.patroni, members.*.api).
func checkClusterURLs(file string, c *cluster.Cluster, nodes map[string]*yaml.Node) dsl.ErrorList {
	var errs dsl.ErrorList
	check := func(what, url string, n *yaml.Node) {
		if url == "" || strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://") {
			return
		}
		_, rest, found := strings.Cut(url, "://")
		if !found {
			rest = url
		}
		errs = append(errs, dsl.Errorf(dsl.At(file, n), "%s: %q needs the scheme http:// or https://, e.g. http://%s", what, url, rest))
	}
	if n := nodes["patroni"]; n != nil && n.Kind == yaml.SequenceNode && len(n.Content) == len(c.Patroni) {
		for i, url := range c.Patroni {
			check("cluster.patroni", url, n.Content[i])
		}
	}
	if n := nodes["members"]; n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			name, m := n.Content[i].Value, n.Content[i+1]
			if api := valueOf(m, "api"); api != nil {
				check("cluster.members."+name+".api", c.Members[name].API, api)
			}
		}
	}
	return errs
}

// checkClusterProcesses checks the block's processes entries: one finder
// (match, a regular expression, or pid_file, an absolute path), and a start
// command and user that can run.
func checkClusterProcesses(file string, c *cluster.Cluster, nodes map[string]*yaml.Node) dsl.ErrorList {
	n := nodes["processes"]
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var errs dsl.ErrorList
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, entry := n.Content[i].Value, n.Content[i+1]
		p, where := c.Processes[name], "cluster.processes."+name
		at := func(key string) dsl.Pos {
			if v := valueOf(entry, key); v != nil {
				return dsl.At(file, v)
			}
			return dsl.At(file, entry)
		}
		_, builtin := cluster.BuiltinProcesses[name]
		switch {
		case p.Match != "" && p.PIDFile != "":
			errs = append(errs, dsl.Errorf(at("pid_file"), "%s: give match or pid_file, not both", where))
		case p.Match == "" && p.PIDFile == "" && !builtin:
			errs = append(errs, dsl.Errorf(dsl.At(file, n.Content[i]), "%s: drill does not know this process: give match (a regular expression for its command line, as pgrep -f takes) or pid_file (built-in: %s)", where, strings.Join(slices.Sorted(maps.Keys(cluster.BuiltinProcesses)), ", ")))
		}
		if p.Match != "" {
			if _, err := regexp.CompilePOSIX(p.Match); err != nil {
				errs = append(errs, dsl.Errorf(at("match"), "%s.match: not an extended regular expression: %v", where, err))
			}
		}
		if p.PIDFile != "" && !strings.HasPrefix(p.PIDFile, "/") {
			errs = append(errs, dsl.Errorf(at("pid_file"), "%s.pid_file: must be an absolute path in the member, found %q", where, p.PIDFile))
		}
		if v := valueOf(entry, "start"); v != nil && (len(p.Start) == 0 || p.Start[0] == "") {
			errs = append(errs, dsl.Errorf(dsl.At(file, v), "%s.start: needs the program to run and its arguments, e.g. [testbed-patroni, start]", where))
		}
		switch {
		case p.User != "" && len(p.Start) == 0:
			errs = append(errs, dsl.Errorf(at("user"), "%s.user: is the user start runs as: give start too, or remove user", where))
		case p.User != "" && (strings.ContainsAny(p.User, " \t:/") || strings.HasPrefix(p.User, "-")):
			errs = append(errs, dsl.Errorf(at("user"), "%s.user: %q is not a user name", where, p.User))
		}
	}
	return errs
}

// checkClusterKubernetes checks the block's kubernetes settings: only with
// platform kubernetes, which needs them, and with a known preset.
func checkClusterKubernetes(file string, c *cluster.Cluster, nodes map[string]*yaml.Node) dsl.ErrorList {
	n := nodes["kubernetes"]
	at := func(key string) dsl.Pos {
		if v := valueOf(n, key); v != nil {
			return dsl.At(file, v)
		}
		return dsl.At(file, n)
	}
	switch {
	case c.Platform != kubernetesPlatform && n != nil:
		return dsl.ErrorList{dsl.Errorf(dsl.At(file, n), "cluster.kubernetes: is for platform kubernetes: set platform: kubernetes, or remove this block")}
	case c.Platform != kubernetesPlatform:
		return nil
	case n == nil:
		return dsl.ErrorList{dsl.Errorf(dsl.At(file, nodes["platform"]), "platform kubernetes needs a kubernetes block: at least selector (the label selector of the cluster's pods) or preset and cluster_name")}
	}
	k := c.Kubernetes
	if _, _, err := k.Pods(); err != nil {
		if k.Preset == "" {
			return dsl.ErrorList{dsl.Errorf(dsl.At(file, n), "cluster.kubernetes: %v", err)}
		}
		msg := err.Error()
		if _, known := cluster.Presets[k.Preset]; !known {
			msg += dsl.DidYouMean(k.Preset, slices.Sorted(maps.Keys(cluster.Presets)))
		}
		return dsl.ErrorList{dsl.Errorf(at("preset"), "cluster.kubernetes.preset: %s", msg)}
	}
	if k.PodCIDR != "" {
		if _, err := netip.ParsePrefix(k.PodCIDR); err != nil {
			return dsl.ErrorList{dsl.Errorf(at("pod_cidr"), "cluster.kubernetes.pod_cidr: %q is not an address range such as 10.244.0.0/16", k.PodCIDR)}
		}
	}
	if k.PortForward {
		// Every address must name one host and a port that a forward can
		// reach; the real forwards open when the run starts.
		if _, err := c.Readdressed(func(string, string, int) (string, error) { return "127.0.0.1:1", nil }); err != nil {
			return dsl.ErrorList{dsl.Errorf(at("port_forward"), "cluster.kubernetes.port_forward: cluster.%v", err)}
		}
	}
	return nil
}

// kubernetesPlatform is the Kubernetes driver's name (internal/platform/kube).
const kubernetesPlatform = "kubernetes"

// checkClusterGroups checks the block's groups: each lists services (hosts
// on platform hosts) by name, at least one, none twice; a group's name is
// not a role or another name of the block, and a group holds no group.
func checkClusterGroups(file string, c *cluster.Cluster, nodes map[string]*yaml.Node) dsl.ErrorList {
	n := nodes["groups"]
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var errs dsl.ErrorList
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, list := n.Content[i].Value, n.Content[i+1]
		where, at := "cluster.groups."+name, dsl.At(file, n.Content[i])
		_, isHost := c.Hosts[name]
		_, isMember := c.Members[name]
		switch {
		case steps.IsRole(name) || name == steps.OnPooled || name == steps.OnAll:
			errs = append(errs, dsl.Errorf(at, "%s: %q is a word targets already use: name the group otherwise", where, name))
		case isHost || isMember:
			errs = append(errs, dsl.Errorf(at, "%s: the block already names a member or host %q: name the group otherwise", where, name))
		case len(c.Groups[name]) == 0:
			errs = append(errs, dsl.Errorf(at, "%s: lists nothing: give the services (hosts on platform hosts) it stands for, e.g. [etcd1, etcd2, etcd3]", where))
		}
		seen := map[string]bool{}
		for j, entry := range c.Groups[name] {
			pos := dsl.At(file, list)
			if list.Kind == yaml.SequenceNode && j < len(list.Content) {
				pos = dsl.At(file, list.Content[j])
			}
			_, isGroup := c.Groups[entry]
			_, isHost := c.Hosts[entry]
			switch {
			case entry == "" || steps.IsRole(entry) || strings.Contains(entry, "${"):
				errs = append(errs, dsl.Errorf(pos, "%s: %q: a group lists services (hosts on platform hosts) by name, not roles or references", where, entry))
			case isGroup:
				errs = append(errs, dsl.Errorf(pos, "%s: %q is a group: list its services here instead", where, entry))
			case c.Platform == "hosts" && !isHost:
				hosts := slices.Sorted(maps.Keys(c.Hosts))
				errs = append(errs, dsl.Errorf(pos, "%s: no host %q in the cluster block (hosts: %s)%s", where, entry, strings.Join(hosts, ", "), dsl.DidYouMean(entry, hosts)))
			case seen[entry]:
				errs = append(errs, dsl.Errorf(pos, "%s: lists %q twice", where, entry))
			}
			seen[entry] = true
		}
	}
	return errs
}

// valueOf returns the value of key in a mapping node, or nil.
func valueOf(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// checkReferences checks the parameters that name other steps' work (see
// steps.Referrer), in run order: the step or task must exist, come before,
// and be of the kind the parameter needs.
func checkReferences(list []*steps.Built) dsl.ErrorList {
	all, earlier := newRefIndex(), newRefIndex()
	for _, b := range list {
		all.add(b)
	}
	var errs dsl.ErrorList
	for _, b := range list {
		if r, ok := b.Step.(steps.Referrer); ok {
			for _, ref := range r.References() {
				if msg := earlier.problem(ref, all); msg != "" {
					errs = append(errs, dsl.Errorf(b.FieldPos(ref.Field), "%s: %s", ref.Field, msg))
				}
			}
		}
		earlier.add(b)
	}
	return errs
}

// refIndex is what a list of steps names: step ids, and the background
// tasks they start.
type refIndex struct {
	ids   map[string]*steps.Built
	tasks map[string]*steps.Built
}

func newRefIndex() *refIndex {
	return &refIndex{ids: map[string]*steps.Built{}, tasks: map[string]*steps.Built{}}
}

func (x *refIndex) add(b *steps.Built) {
	if b.Spec.ID != "" {
		x.ids[b.Spec.ID] = b
	}
	if s, ok := b.Step.(steps.Starter); ok {
		_, name := s.Starts()
		x.tasks[name] = b
	}
}

// problem says what is wrong with ref given the steps before it (x) and
// every step (all), or "".
func (x *refIndex) problem(ref steps.Reference, all *refIndex) string {
	if strings.Contains(ref.Name, "${") {
		return "" // known at run time
	}
	if ref.What == steps.RefFault {
		if b := x.ids[ref.Name]; b != nil {
			if !b.Kind.Fault {
				return fmt.Sprintf("step %q is a %s, not a fault step: name the step that injected the fault", ref.Name, b.Kind.Name)
			}
			return ""
		}
		if b := all.ids[ref.Name]; b != nil {
			return fmt.Sprintf("step %q comes after this one (line %d): name a fault step that runs before it", ref.Name, b.Spec.Pos.Line)
		}
		var faults []string
		for id, b := range x.ids {
			if b.Kind.Fault {
				faults = append(faults, id)
			}
		}
		return fmt.Sprintf("no step with id %q before this one%s", ref.Name, dsl.DidYouMean(ref.Name, faults))
	}
	if b := x.tasks[ref.Name]; b != nil {
		if what, _ := b.Step.(steps.Starter).Starts(); what != ref.What {
			return fmt.Sprintf("%q is a %s started by %s (line %d), not a %s", ref.Name, what, b.Kind.Name, b.Spec.Pos.Line, ref.What)
		}
		return ""
	}
	if b := all.tasks[ref.Name]; b != nil {
		return fmt.Sprintf("the %s %q starts after this step (%s at line %d)", ref.What, ref.Name, b.Kind.Name, b.Spec.Pos.Line)
	}
	var names []string
	for name, b := range x.tasks {
		if what, _ := b.Step.(steps.Starter).Starts(); what == ref.What {
			names = append(names, name)
		}
	}
	return fmt.Sprintf("no %s named %q is started before this step%s", ref.What, ref.Name, dsl.DidYouMean(ref.Name, names))
}
