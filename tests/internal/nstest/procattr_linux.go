package nstest

import "syscall"

// ProcAttr is the SysProcAttr of a process a test spawns: the process is
// killed when the test's process dies, not left running in its namespace.
func ProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
