package netfault

import (
	"context"
	"strings"
)

// State is what drill has put in a target's network namespace, as the tools print it.
type State struct {
	Rules  []string // iptables-save lines of drill's chains, their rules and the jumps to them
	Qdiscs []string // `tc qdisc show` lines of every interface
}

// Clean reports whether drill left nothing: no chain, no jump, no qdisc of drill's.
func (s State) Clean() bool {
	return len(s.Rules) == 0 && len(healBatch(strings.Join(s.Qdiscs, "\n"))) == 0
}

// ReadState reads target's drill rules and its qdiscs.
func ReadState(ctx context.Context, ex NetExecer, target string) (State, error) {
	saved, err := run(ctx, ex, target, nil, "iptables-save", "-t", "filter")
	if err != nil {
		return State{}, err
	}
	qdiscs, err := run(ctx, ex, target, nil, "tc", "qdisc", "show")
	if err != nil {
		return State{}, err
	}
	var s State
	for _, line := range strings.Split(saved, "\n") {
		if strings.Contains(line, ChainIn) || strings.Contains(line, ChainOut) {
			s.Rules = append(s.Rules, strings.TrimSpace(line))
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(qdiscs), "\n") {
		if line != "" {
			s.Qdiscs = append(s.Qdiscs, strings.TrimSpace(line))
		}
	}
	return s, nil
}
