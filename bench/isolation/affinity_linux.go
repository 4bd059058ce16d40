package isolation

import (
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// setAffinity sets the CPUs thread tid may run on.
func setAffinity(tid string, cpus []int) error {
	id, err := strconv.Atoi(tid)
	if err != nil {
		return err
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return unix.SchedSetaffinity(id, &set)
}

// setIdle has thread tid run at SCHED_IDLE, the lowest CPU priority.
func setIdle(tid string) error {
	id, err := strconv.Atoi(tid)
	if err != nil {
		return err
	}
	return unix.SchedSetAttr(id, &unix.SchedAttr{Policy: unix.SCHED_IDLE}, 0)
}

// dieWithParent has cmd's process killed when the thread that started it
// ends (Linux: the parent-death signal), so that a site's process never
// outlives a coordinator that was killed.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
