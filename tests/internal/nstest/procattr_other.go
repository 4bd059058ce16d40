//go:build !linux

package nstest

import "syscall"

// ProcAttr is the SysProcAttr of a process a test spawns. Network
// namespaces, and so these tests, exist on Linux only; elsewhere the
// package only needs to build, and there is no parent-death signal.
func ProcAttr() *syscall.SysProcAttr { return nil }
