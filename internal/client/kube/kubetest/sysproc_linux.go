package kubetest

import "syscall"

// sysProcAttr puts the child in its own process group (a ^C to the test
// does not reach it before the cleanup stops it) and has the kernel kill it
// if the test binary dies without cleaning up (a go test -timeout panic).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
