package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat;
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcCPU returns the CPU time (user + system) a process has used so far,
// from /proc/PID/stat; pid 0 means this process.
func ProcCPU(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("bench: read CPU time: %w", err)
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that follow start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: %s: unexpected format", path)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: %s: only %d fields", path, len(f)+2)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: %s: bad utime/stime %q %q", path, f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// ProcMaxRSS returns the peak resident set size of a process in KiB
// (VmHWM in /proc/PID/status); pid 0 means this process.
func ProcMaxRSS(pid int) (int64, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("bench: read peak RSS: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("bench: %s has no VmHWM line", path)
}

// MonoNow returns CLOCK_MONOTONIC in nanoseconds, the clock the payload
// timestamps use: shared by every process of one host, also across network
// namespaces.
func MonoNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("bench: clock_gettime(CLOCK_MONOTONIC): " + err.Error())
	}
	return ts.Nano()
}

// MonoClock converts Go's monotonic time readings (which come from
// CLOCK_MONOTONIC through the vDSO, without a system call) to
// CLOCK_MONOTONIC nanoseconds, the clock of the payload timestamps, without
// a system call per reading. The benchmark's load clients use it.
type MonoClock struct {
	base   time.Time
	offset int64
}

// NewMonoClock reads the offset between the two clocks.
func NewMonoClock() MonoClock {
	// Take the offset between two readings of time.Now so that the error
	// is at most the time of one clock_gettime system call.
	t0 := time.Now()
	m := MonoNow()
	t1 := time.Now()
	mid := t0.Add(t1.Sub(t0) / 2)
	return MonoClock{base: mid, offset: m}
}

// Ns returns t as CLOCK_MONOTONIC nanoseconds.
func (c MonoClock) Ns(t time.Time) int64 { return c.offset + int64(t.Sub(c.base)) }
