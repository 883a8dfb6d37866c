// Package netfault cuts and degrades the network between containers: partitions with iptables
// rules in chains of drill's own, delay and loss with tc netem. Generating the commands is pure
// (Partition.Rules, RestoreScript, Netem.Batch) and tested without an engine; applying them goes
// through NetExecer, which internal/client/docker implements.
//
// Every change is undone by Heal, which succeeds when there is nothing to undo, so it can be
// replayed from the undo ledger at any time.
package netfault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// NetExecer runs commands in a target's network namespace with CAP_NET_ADMIN.
type NetExecer interface {
	// NetExec runs argv in target's network namespace, feeding stdin when it is not nil, and
	// returns its stdout. A command that exits non-zero is an error that includes its stderr.
	// A target that has no network namespace (a stopped or killed container) is an error
	// matching ErrNoNamespace.
	NetExec(ctx context.Context, target string, argv []string, stdin []byte) ([]byte, error)
}

// ErrNoNamespace: the target has no network namespace, because it is not running. Nothing
// drill put in its old namespace survives: the kernel dropped the rules and qdiscs with it.
var ErrNoNamespace = errors.New("no network namespace")

// ErrUnsupported: the host's kernel lacks what the fault needs (e.g. the netem qdisc).
var ErrUnsupported = errors.New("not supported by this kernel")

// Heal removes every partition rule and netem qdisc drill put in each target's namespace.
// Idempotent: a target with nothing to remove succeeds. A target with no network namespace
// (not running) has nothing left to remove: it counts as healed and is listed in gone, sorted,
// for the caller to say so.
func Heal(ctx context.Context, ex NetExecer, targets ...string) (gone []string, err error) {
	return healEach(targets, func(t string) error {
		var netemErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			netemErr = healNetem(ctx, ex, t)
		}()
		err := healPartition(ctx, ex, t)
		<-done
		return errors.Join(err, netemErr)
	})
}

// each runs fn for every target at once, so that a fault starts (and ends) at nearly the same
// moment everywhere, and joins the errors.
func each(targets []string, fn func(target string) error) error {
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { errs[i] = fn(t) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// healEach runs the heal fn for every target at once; a target whose namespace is gone is
// healed and listed in gone.
func healEach(targets []string, fn func(target string) error) (gone []string, err error) {
	var mu sync.Mutex
	err = each(targets, func(t string) error {
		err := fn(t)
		if err != nil && noNamespace(err) {
			mu.Lock()
			gone = append(gone, t)
			mu.Unlock()
			return nil
		}
		return err
	})
	slices.Sort(gone)
	return gone, err
}

// noNamespace reports whether every error err joins means the target has no namespace.
func noNamespace(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !noNamespace(e) {
				return false
			}
		}
		return true
	}
	return errors.Is(err, ErrNoNamespace)
}

// run runs argv on target and returns its stdout; errors name the tool and the target.
func run(ctx context.Context, ex NetExecer, target string, stdin []byte, argv ...string) (string, error) {
	out, err := ex.NetExec(ctx, target, argv, stdin)
	if err != nil {
		return "", fmt.Errorf("%s on %q: %w", argv[0], target, err)
	}
	return string(out), nil
}

// HealScript is a POSIX shell script that does what Heal does, for a host to
// run on its own (a dead-man switch that heals a partition which cut drill
// off): it removes the jumps to drill's chains, the chains, and drill's root
// qdiscs. Every command may fail harmlessly when there is nothing to remove.
func HealScript() string {
	return strings.Join([]string{
		"while iptables -w -D INPUT -j " + ChainIn + " 2>/dev/null; do :; done",
		"while iptables -w -D OUTPUT -j " + ChainOut + " 2>/dev/null; do :; done",
		"iptables -w -F " + ChainIn + " 2>/dev/null; iptables -w -X " + ChainIn + " 2>/dev/null",
		"iptables -w -F " + ChainOut + " 2>/dev/null; iptables -w -X " + ChainOut + " 2>/dev/null",
		"tc qdisc show 2>/dev/null | sed -n 's/^qdisc [^ ]* " + RootHandle + " dev \\([^ ]*\\) root.*/\\1/p' | while read -r dev; do tc qdisc del dev \"$dev\" root; done",
		"true",
	}, "\n") + "\n"
}
