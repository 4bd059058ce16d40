package wanem

import (
	"syscall"
	"time"
)

type unixRusage struct{ syscall.Rusage }

func getRusage(r *unixRusage) { syscall.Getrusage(syscall.RUSAGE_SELF, &r.Rusage) }

// cpu returns user plus system time.
func (r *unixRusage) cpu() time.Duration {
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
