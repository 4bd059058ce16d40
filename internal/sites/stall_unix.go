//go:build unix

package sites

import (
	"fmt"
	"os"
	"os/exec"
	"time"
)

// StallProcess stops this whole process for d, as a stalled host or VM
// does (CI: every ring of `atoll demo` lost its token at one instant), and
// returns once it runs again: a child shell sends it SIGSTOP, sleeps d and
// sends SIGCONT. Every goroutine, timer and socket read of the process
// waits meanwhile; the kernel goes on queueing the packets sent to it, and
// every timer that expired fires at once after. It returns how long the
// process was stopped, as its monotonic clock saw it.
func StallProcess(d time.Duration) (time.Duration, error) {
	pid := os.Getpid()
	start := time.Now()
	out, err := exec.Command("/bin/sh", "-c", fmt.Sprintf("kill -STOP %d && sleep %.3f; kill -CONT %d", pid, d.Seconds(), pid)).CombinedOutput()
	took := time.Since(start)
	if err != nil {
		return took, fmt.Errorf("sites: stalling the process for %v: %w: %s", d, err, out)
	}
	if took < d {
		return took, fmt.Errorf("sites: stalling the process for %v: it ran on after %v (is SIGSTOP blocked?)", d, took)
	}
	return took, nil
}
