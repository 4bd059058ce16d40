//go:build !linux

package driver

// newDeadlineTimer returns the loop's deadline timer: a loopTimer (the
// timerfd of looptimer_tfd_linux.go is Linux's only).
func newDeadlineTimer() deadlineTimer { return newLoopTimer() }
