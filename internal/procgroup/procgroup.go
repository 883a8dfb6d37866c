// Package procgroup runs host commands in process groups of their own and
// keeps a registry of the groups still alive, so that a process exiting in a
// hurry (drill's second Ctrl-C) can end them all before it goes.
package procgroup

import (
	"errors"
	"os/exec"
	"sync"
	"syscall"
)

var (
	mu   sync.Mutex
	live = map[int]struct{}{}
)

// Run runs cmd in a new process group and waits for it. The whole group is
// killed with SIGKILL when cmd's context ends (cmd must come from
// exec.CommandContext for that), when the command's leader exits (so a
// child it left in the background does not outlive the step), and by
// KillAll while the command runs. It returns what cmd.Run returns.
func Run(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error { return kill(cmd.Process.Pid) }
	mu.Lock() // held across Start so that KillAll cannot miss a group being born
	err := cmd.Start()
	if err != nil {
		mu.Unlock()
		return err
	}
	pgid := cmd.Process.Pid
	live[pgid] = struct{}{}
	mu.Unlock()
	err = cmd.Wait()
	mu.Lock()
	delete(live, pgid)
	_ = kill(pgid)
	mu.Unlock()
	return err
}

// KillAll sends SIGKILL to every process group Run has started and not yet
// ended, and returns how many it signalled. It does not wait for them.
func KillAll() int {
	mu.Lock()
	defer mu.Unlock()
	n := 0
	for pgid := range live {
		if kill(pgid) == nil {
			n++
		}
	}
	return n
}

// kill sends SIGKILL to the process group pgid; a group already gone is
// not an error.
func kill(pgid int) error {
	err := syscall.Kill(-pgid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
