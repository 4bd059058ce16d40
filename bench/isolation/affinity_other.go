//go:build !linux

package isolation

import (
	"errors"
	"os/exec"
)

// setAffinity is Linux only.
func setAffinity(string, []int) error {
	return errors.New("pinning to CPUs is implemented on Linux only")
}

// setIdle is Linux only.
func setIdle(string) error {
	return errors.New("running at SCHED_IDLE is implemented on Linux only")
}

// dieWithParent does nothing here: a site's process ends when its stdin
// closes with the coordinator's end.
func dieWithParent(*exec.Cmd) {}
