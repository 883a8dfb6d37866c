package runner

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drill-dev/drill/dsl"
)

// clusterFiles parses each shared cluster file once per load, however many
// scenarios name it: entries are keyed by absolute path and modification
// time, and safe for the loader's goroutines. The parsed node is shared
// read-only; each scenario decodes it with its own vars.
type clusterFiles struct {
	mu      sync.Mutex
	entries map[clusterKey]*clusterEntry
}

type clusterKey struct {
	path  string
	mtime time.Time
}

type clusterEntry struct {
	once sync.Once
	node *yaml.Node
	err  error
}

// read returns the mapping held by the cluster file at path. A problem
// inside the file is a dsl.ErrorList with positions in it.
func (c *clusterFiles) read(path string) (*yaml.Node, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, unwrapPathError(err))
	}
	key := clusterKey{abs, info.ModTime()}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[clusterKey]*clusterEntry{}
	}
	e, ok := c.entries[key]
	if !ok {
		e = &clusterEntry{}
		c.entries[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.node, e.err = readMapping(path) })
	return e.node, e.err
}

// readMapping reads a YAML file holding one mapping (a shared cluster
// block), with merge keys expanded. A problem inside the file is a
// dsl.ErrorList.
func readMapping(path string) (*yaml.Node, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, dsl.ErrorList{dsl.SyntaxError(path, data, err)}
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s must hold a mapping of cluster settings", path)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, dsl.ErrorList{dsl.Errorf(dsl.At(path, &extra), "a second YAML document: a cluster file holds one mapping; remove the \"---\" separator and what follows")}
	} else if !errors.Is(err, io.EOF) {
		return nil, dsl.ErrorList{dsl.SyntaxError(path, data, err)}
	}
	if errs := dsl.ExpandMerges(path, &doc); len(errs) > 0 {
		return nil, errs
	}
	return doc.Content[0], nil
}
