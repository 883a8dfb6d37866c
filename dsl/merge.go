package dsl

import "go.yaml.in/yaml/v3"

// ExpandMerges rewrites every mapping under n that holds YAML merge keys
// (<<: *defaults, or <<: [*a, *b]) into a plain mapping: the merged
// mappings' entries are inserted where the merge key was, except keys the
// mapping sets itself; with a list, an earlier mapping wins over a later
// one. Merged entries keep the position where they are written (the anchor),
// so an error in one points there. A merge value that is not a mapping or a
// list of mappings is an error at its position.
func ExpandMerges(file string, n *yaml.Node) ErrorList {
	m := &merger{file: file}
	m.expand(n)
	return m.errs
}

type merger struct {
	file string
	// done holds the anchored nodes already expanded (made on the first
	// alias): an alias may name its own ancestor.
	done map[*yaml.Node]bool
	errs ErrorList
}

func (m *merger) expand(n *yaml.Node) {
	if n == nil {
		return
	}
	if n.Kind == yaml.AliasNode {
		if m.done == nil {
			m.done = map[*yaml.Node]bool{}
		}
		if !m.done[n.Alias] {
			m.done[n.Alias] = true
			m.expand(n.Alias)
		}
		return
	}
	for _, c := range n.Content {
		m.expand(c)
	}
	if n.Kind != yaml.MappingNode || !hasMerge(n) {
		return
	}
	own := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !isMerge(n.Content[i]) {
			own[n.Content[i].Value] = true
		}
	}
	var out []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !isMerge(k) {
			out = append(out, k, v)
			continue
		}
		for _, src := range m.sources(v) {
			for j := 0; j+1 < len(src.Content); j += 2 {
				if key := src.Content[j].Value; !own[key] {
					own[key] = true
					out = append(out, src.Content[j], src.Content[j+1])
				}
			}
		}
	}
	n.Content = out
}

// sources returns the mappings a merge key's value names, in precedence
// order.
func (m *merger) sources(v *yaml.Node) []*yaml.Node {
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items = v.Content
	}
	var out []*yaml.Node
	for _, item := range items {
		target := item
		if target.Kind == yaml.AliasNode {
			target = target.Alias
		}
		if target == nil {
			target = item
		}
		if target.Kind != yaml.MappingNode {
			m.errs = append(m.errs, Errorf(At(m.file, item), "the merge key << takes a mapping (<<: *defaults) or a list of them, found %s", describe(target)))
			continue
		}
		out = append(out, target)
	}
	return out
}

func hasMerge(n *yaml.Node) bool {
	for i := 0; i < len(n.Content); i += 2 {
		if isMerge(n.Content[i]) {
			return true
		}
	}
	return false
}

func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.ShortTag() == "!!merge" || k.Tag == "")
}
