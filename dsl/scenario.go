package dsl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"go.yaml.in/yaml/v3"
)

// Scenario is one drill file, parsed. Step parameters and the cluster block
// stay YAML nodes: the packages that own step kinds and cluster settings
// decode them strictly, with these positions.
type Scenario struct {
	File        string
	Pos         Pos
	Name        string
	Description string
	Tags        []string
	Vars        []*Var
	Cluster     *yaml.Node // mapping, or nil when the file has none
	// ClusterFile is set when the cluster block is a path to a YAML file
	// holding it (relative to the scenario's directory), shared by several
	// scenarios; ClusterPos is where the path is written.
	ClusterFile string
	ClusterPos  Pos
	Steps       []*Step
	Checks      []*Check
	Cleanup     []*Step
	// Requires are the versions the cluster must run for the scenario to
	// run at all; unmet, it is skipped. In the order written.
	Requires []*Requirement
	// Matrix, when not nil, runs the scenario once per combination of its
	// vars' values.
	Matrix *Matrix
}

// Requirement is one entry of requires: a component and a version
// constraint, parsed at load time.
type Requirement struct {
	Pos        Pos
	Component  string // a key of Components: patroni, postgres
	Text       string // the constraint as written: ">= 3.2"
	Constraint *semver.Constraints
}

// Components are what requires may name, with the name people know them by.
var Components = map[string]string{"patroni": "Patroni", "postgres": "PostgreSQL"}

// Check reports whether version meets the requirement, and when not why:
// "needs Patroni >= 3.2, the cluster runs 3.0.2". A version that does not
// parse does not meet it.
func (r *Requirement) Check(version string) (bool, string) {
	v, err := semver.NewVersion(version)
	if err == nil && r.Constraint.Check(v) {
		return true, ""
	}
	return false, fmt.Sprintf("needs %s %s, the cluster runs %s", Components[r.Component], r.Text, version)
}

// Var is a named value a scenario declares, with a default that the command
// line can override (--var name=value).
type Var struct {
	Pos         Pos
	Name        string
	Default     any // string, int64, float64 or bool, from the YAML scalar
	Secret      bool
	Description string
}

// Step is one step of a scenario, before its kind is known to be valid.
type Step struct {
	Pos             Pos
	ID              string // for references: ${id.metric}; "" when not given
	Name            string // for people; defaults to the id or the kind
	Kind            string
	KindPos         Pos
	Timeout         time.Duration // 0: the kind's default
	ContinueOnError bool
	// ExpectError, when set, makes the step one that must fail with an
	// error matching it (ExpectErrorText is the pattern as written).
	ExpectError     *regexp.Regexp
	ExpectErrorText string
	Retry           Retry
	Params          *yaml.Node // mapping of the kind's own keys; never nil
}

// MaxRetryAttempts is the largest retry.attempts a step may give.
const MaxRetryAttempts = 1000

// Retry says how often a failing step is tried again.
type Retry struct {
	Attempts int           // total tries; 0 or 1 means no retry
	Interval time.Duration // pause between tries
}

// Check is an expression that must be true at the end of the run.
type Check struct {
	Pos     Pos
	Name    string
	Expr    string
	ExprPos Pos // where the expression's first character is
	// ExprText locates positions inside Expr in the file.
	ExprText TextPos
	Message  string
}

// StepCommonKeys are the keys every step accepts besides its kind's own.
var StepCommonKeys = []string{"id", "name", "kind", "timeout", "continue_on_error", "expect_error", "retry"}

var topKeys = []string{"name", "description", "tags", "requires", "vars", "matrix", "cluster", "steps", "checks", "cleanup"}

// Parse parses one scenario file. It returns every problem it finds, as an
// ErrorList sorted by position, and a nil Scenario when there are any.
func Parse(file string, data []byte) (*Scenario, error) {
	p := &parser{file: file, src: data}
	sc := p.parse(data)
	if err := p.errs.Err(); err != nil {
		return nil, err
	}
	return sc, nil
}

type parser struct {
	file string
	src  []byte
	errs ErrorList
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, Errorf(At(p.file, n), format, args...))
}

func (p *parser) parse(data []byte) *Scenario {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errs = append(p.errs, Errorf(Pos{File: p.file, Line: 1, Col: 1}, "empty scenario: write at least a name and one step"))
			return nil
		}
		p.errs = append(p.errs, yamlSyntaxError(p.file, data, err))
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errorf(&extra, "a second YAML document: one scenario per file, remove the \"---\" separator or move it to its own file")
	} else if !errors.Is(err, io.EOF) {
		p.errs = append(p.errs, yamlSyntaxError(p.file, data, err))
	}
	p.errs = append(p.errs, ExpandMerges(p.file, &doc)...)
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		p.errs = append(p.errs, Errorf(Pos{File: p.file, Line: 1, Col: 1}, "empty scenario: write at least a name and one step"))
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "a scenario is a mapping with name, steps and checks; found %s", describe(root))
		return nil
	}
	sc := &Scenario{File: p.file, Pos: At(p.file, root)}
	for _, kv := range p.pairs(root, topKeys, "top level") {
		switch kv.key {
		case "name":
			sc.Name = p.str(kv.val)
		case "description":
			sc.Description = p.str(kv.val)
		case "tags":
			sc.Tags = p.strList(kv.val)
		case "requires":
			sc.Requires = p.requires(kv.val)
		case "vars":
			sc.Vars = p.vars(kv.val)
		case "matrix":
			sc.Matrix = p.matrix(kv.keyNode, kv.val)
		case "cluster":
			if kv.val.Kind == yaml.ScalarNode && kv.val.ShortTag() == "!!str" {
				sc.ClusterFile, sc.ClusterPos = kv.val.Value, At(p.file, kv.val)
			} else if p.expect(kv.val, yaml.MappingNode, "the cluster block (or the path of a file holding it)") {
				sc.Cluster = kv.val
			}
		case "steps":
			sc.Steps = p.steps(kv.val, "steps")
		case "checks":
			sc.Checks = p.checks(kv.val)
		case "cleanup":
			sc.Cleanup = p.steps(kv.val, "cleanup")
		}
	}
	if len(sc.Steps) == 0 && len(p.errs) == 0 {
		p.errorf(root, "empty scenario: no steps; add a \"steps:\" list")
	}
	if sc.Name == "" {
		sc.Name = strings.TrimSuffix(baseName(p.file), ".yaml")
		sc.Name = strings.TrimSuffix(sc.Name, ".yml")
	}
	p.checkIDs(sc)
	p.checkMatrix(sc)
	return sc
}

// keyVal is one entry of a mapping, with its key node.
type keyVal struct {
	key     string
	keyNode *yaml.Node
	val     *yaml.Node
}

// pairs returns the entries of a mapping, reporting duplicate keys and keys
// not in allowed (nil allowed accepts any key).
func (p *parser) pairs(n *yaml.Node, allowed []string, where string) []keyVal {
	return p.pairsFiltered(n, allowed, where, nil)
}

func (p *parser) pairsFiltered(n *yaml.Node, allowed []string, where string, rest *[]*yaml.Node) []keyVal {
	var out []keyVal
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "a key must be a plain word, found %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.errorf(k, "duplicate key %q (first at line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		if allowed != nil && !contains(allowed, k.Value) {
			if rest != nil {
				*rest = append(*rest, k, v)
				continue
			}
			hint := DidYouMean(k.Value, allowed)
			if hint == "" {
				hint = "; known keys: " + strings.Join(allowed, ", ")
			}
			p.errorf(k, "unknown key %q at %s%s", k.Value, where, hint)
			continue
		}
		out = append(out, keyVal{key: k.Value, keyNode: k, val: v})
	}
	return out
}

func (p *parser) expect(n *yaml.Node, kind yaml.Kind, what string) bool {
	if n.Kind == kind {
		return true
	}
	want := map[yaml.Kind]string{yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list", yaml.ScalarNode: "a value"}[kind]
	p.errorf(n, "%s must be %s, found %s", what, want, describe(n))
	return false
}

func (p *parser) str(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, "expected text, found %s", describe(n))
		return ""
	}
	return n.Value
}

func (p *parser) strList(n *yaml.Node) []string {
	if !p.expect(n, yaml.SequenceNode, "tags") {
		return nil
	}
	var out []string
	for _, item := range n.Content {
		out = append(out, p.str(item))
	}
	return out
}

// requires parses {patroni: ">= 3.2", postgres: ">= 16"}.
func (p *parser) requires(n *yaml.Node) []*Requirement {
	if !p.expect(n, yaml.MappingNode, "requires") {
		return nil
	}
	names := make([]string, 0, len(Components))
	for k := range Components {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []*Requirement
	for _, kv := range p.pairs(n, names, "requires") {
		if kv.val.Kind != yaml.ScalarNode || kv.val.ShortTag() == "!!null" {
			p.errorf(kv.val, "requires.%s must be a version constraint such as \">= 3.2\", found %s", kv.key, describe(kv.val))
			continue
		}
		c, err := semver.NewConstraint(kv.val.Value)
		if err != nil {
			p.errorf(kv.val, "requires.%s: %q is not a version constraint: write e.g. \">= 3.2\", \"^4\" or \">= 3.0, < 4\"", kv.key, kv.val.Value)
			continue
		}
		out = append(out, &Requirement{Pos: At(p.file, kv.val), Component: kv.key, Text: kv.val.Value, Constraint: c})
	}
	return out
}

func (p *parser) vars(n *yaml.Node) []*Var {
	if !p.expect(n, yaml.MappingNode, "vars") {
		return nil
	}
	var out []*Var
	for _, kv := range p.pairs(n, nil, "vars") {
		v := &Var{Pos: At(p.file, kv.keyNode), Name: kv.key}
		if !IsIdent(kv.key) {
			p.errorf(kv.keyNode, "bad var name %q: use letters, digits and underscores", kv.key)
			continue
		}
		switch kv.val.Kind {
		case yaml.ScalarNode:
			v.Default = p.scalar(kv.val)
		case yaml.MappingNode:
			for _, f := range p.pairs(kv.val, []string{"default", "secret", "description"}, "var "+kv.key) {
				switch f.key {
				case "default":
					v.Default = p.scalar(f.val)
				case "secret":
					v.Secret = p.boolean(f.val)
				case "description":
					v.Description = p.str(f.val)
				}
			}
		default:
			p.errorf(kv.val, "var %q: give a default value, or a mapping with default, secret and description", kv.key)
		}
		out = append(out, v)
	}
	return out
}

// scalar returns a scalar's value typed by its YAML tag.
func (p *parser) scalar(n *yaml.Node) any {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "expected a value (text, number or true/false), found %s", describe(n))
		return nil
	}
	return ScalarValue(n)
}

// ScalarValue returns a scalar node's value typed by its resolved YAML tag:
// int64, float64, bool, nil for null, or string.
func ScalarValue(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!int":
		if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return i
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f
		}
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return b
		}
	case "!!null":
		return nil
	}
	return n.Value
}

func (p *parser) boolean(n *yaml.Node) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.errorf(n, "expected true or false, found %s", describe(n))
		return false
	}
	b, _ := ScalarValue(n).(bool)
	return b
}

func (p *parser) duration(n *yaml.Node, what string) time.Duration {
	d, err := ParseDuration(n)
	if err != nil {
		p.errorf(n, "%s: %v", what, err)
	}
	return d
}

// ParseDuration reads a duration scalar such as 500ms, 30s or 1m30s.
func ParseDuration(n *yaml.Node) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("expected a duration such as 30s, found %s", describe(n))
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		if _, numErr := strconv.ParseFloat(n.Value, 64); numErr == nil {
			return 0, fmt.Errorf("bad duration %q: add a unit, e.g. %ss", n.Value, n.Value)
		}
		return 0, fmt.Errorf("bad duration %q: use a number with a unit: ms, s, m or h (e.g. 500ms, 30s, 1m30s)", n.Value)
	}
	if d < 0 {
		return 0, fmt.Errorf("bad duration %q: it must not be negative", n.Value)
	}
	if d > MaxDuration {
		return 0, fmt.Errorf("bad duration %q: it must be at most %s", n.Value, maxDurationText)
	}
	return d, nil
}

func (p *parser) steps(n *yaml.Node, where string) []*Step {
	if !p.expect(n, yaml.SequenceNode, where) {
		return nil
	}
	var out []*Step
	for _, item := range n.Content {
		if item.Kind != yaml.MappingNode {
			p.errorf(item, "each entry of %s must be a mapping with a kind, found %s", where, describe(item))
			continue
		}
		if s := p.step(item); s != nil {
			out = append(out, s)
		}
	}
	return out
}

// ParseStep parses one step mapping, as found in a steps list or nested in a
// step's parameters (wait_until's poll).
func ParseStep(file string, n *yaml.Node) (*Step, error) {
	p := &parser{file: file}
	if !p.expect(n, yaml.MappingNode, "a step") {
		return nil, p.errs.Err()
	}
	s := p.step(n)
	return s, p.errs.Err()
}

func (p *parser) step(n *yaml.Node) *Step {
	s := &Step{Pos: At(p.file, n), Params: &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}}
	var rest []*yaml.Node
	hasKind := false
	for _, kv := range p.pairsFiltered(n, StepCommonKeys, "", &rest) {
		switch kv.key {
		case "id":
			s.ID = p.str(kv.val)
			if s.ID != "" && !IsIdent(s.ID) {
				p.errorf(kv.val, "bad step id %q: use letters, digits and underscores (it is used in ${%s.metric})", s.ID, s.ID)
			}
		case "name":
			s.Name = p.str(kv.val)
		case "kind":
			hasKind = true
			s.Kind, s.KindPos = p.str(kv.val), At(p.file, kv.val)
			if s.Kind == "" && kv.val.Kind == yaml.ScalarNode && kv.val.ShortTag() != "!!null" {
				p.errorf(kv.val, "empty kind: name a step kind (drill kinds lists them)")
			}
		case "timeout":
			if s.Timeout = p.duration(kv.val, "timeout"); s.Timeout == 0 && kv.val.Kind == yaml.ScalarNode && zeroDuration(kv.val.Value) {
				p.errorf(kv.val, "timeout must be more than 0 (leave it out for the kind's default)")
			}
		case "continue_on_error":
			s.ContinueOnError = p.boolean(kv.val)
		case "expect_error":
			s.ExpectErrorText = p.str(kv.val)
			re, err := regexp.Compile(s.ExpectErrorText)
			switch {
			case err != nil:
				p.errorf(kv.val, "expect_error: not a regular expression: %v", err)
			case s.ExpectErrorText == "":
				p.errorf(kv.val, "expect_error needs a pattern the step's error must match, e.g. \"refused\" (\".\" for any error)")
			default:
				s.ExpectError = re
			}
		case "retry":
			s.Retry = p.retry(kv.val)
		}
	}
	s.Params.Content = rest
	if !hasKind {
		p.errorf(n, "step has no kind: add \"kind: ...\" (drill kinds lists them)")
	}
	if s.Kind == "" {
		return nil
	}
	if s.Name == "" {
		s.Name = s.ID
	}
	if s.Name == "" {
		s.Name = s.Kind
	}
	return s
}

func (p *parser) retry(n *yaml.Node) Retry {
	var r Retry
	if !p.expect(n, yaml.MappingNode, "retry") {
		return r
	}
	for _, kv := range p.pairs(n, []string{"attempts", "interval"}, "retry") {
		switch kv.key {
		case "attempts":
			i, ok := p.scalar(kv.val).(int64)
			if !ok || i < 1 || i > MaxRetryAttempts {
				p.errorf(kv.val, "retry attempts must be a whole number from 1 to %d, found %q", MaxRetryAttempts, kv.val.Value)
				continue
			}
			r.Attempts = int(i)
		case "interval":
			r.Interval = p.duration(kv.val, "retry interval")
		}
	}
	return r
}

func (p *parser) checks(n *yaml.Node) []*Check {
	if !p.expect(n, yaml.SequenceNode, "checks") {
		return nil
	}
	var out []*Check
	for _, item := range n.Content {
		if c := p.check(item); c != nil {
			out = append(out, c)
		}
	}
	return out
}

func (p *parser) check(n *yaml.Node) *Check {
	c := &Check{Pos: At(p.file, n)}
	var exprNode *yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		exprNode = n
	case yaml.MappingNode:
		for _, kv := range p.pairs(n, []string{"name", "expr", "message"}, "a check") {
			switch kv.key {
			case "name":
				c.Name = p.str(kv.val)
			case "expr":
				exprNode = kv.val
			case "message":
				c.Message = p.str(kv.val)
			}
		}
		if exprNode == nil {
			p.errorf(n, "check has no expr: add \"expr: ...\", e.g. expr: rto_s < 60")
			return nil
		}
	default:
		p.errorf(n, "a check is an expression or a mapping with expr, name and message; found %s", describe(n))
		return nil
	}
	if exprNode.Kind != yaml.ScalarNode || strings.TrimSpace(exprNode.Value) == "" {
		p.errorf(exprNode, "check expression must be non-empty text, e.g. rto_s < 60")
		return nil
	}
	c.Expr = exprNode.Value
	c.ExprText = ScalarText(p.file, p.src, exprNode)
	c.ExprPos = c.ExprText.Start
	if c.Name == "" {
		c.Name = strings.Join(strings.Fields(c.Expr), " ")
	}
	return c
}

func (p *parser) checkIDs(sc *Scenario) {
	seen := map[string]*Step{}
	names := map[string]*Step{}
	for _, list := range [][]*Step{sc.Steps, sc.Cleanup} {
		for _, s := range list {
			if s.ID != "" {
				if first, dup := seen[s.ID]; dup {
					p.errs = append(p.errs, Errorf(s.Pos, "duplicate step id %q (first at line %d)", s.ID, first.Pos.Line))
				} else {
					seen[s.ID] = s
				}
			}
			if s.Name != s.Kind && s.Name != s.ID {
				if first, dup := names[s.Name]; dup {
					p.errs = append(p.errs, Errorf(s.Pos, "duplicate step name %q (first at line %d): give each step its own name", s.Name, first.Pos.Line))
				} else {
					names[s.Name] = s
				}
			}
		}
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.ShortTag() == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

// Describe names what a YAML node holds, for error messages.
func Describe(n *yaml.Node) string { return describe(n) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func baseName(path string) string {
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		return path[i+1:]
	}
	return path
}
