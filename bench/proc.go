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
func NewMonoClock() MonoClock { return newMonoClock(time.Now, MonoNow, monoClockTries) }

// monoClockTries is how many times NewMonoClock reads the offset, keeping
// the reading bracketed most narrowly.
const monoClockTries = 32

// newMonoClock reads the offset between now and mono tries times. Each
// reading takes mono between two readings of now and assumes it was taken
// at their midpoint, so its error is at most half the time between them.
// A process descheduled between them (a loaded host preempts for
// milliseconds) would shift every timestamp it converts by up to half of
// that, and the latency of every message from that sender with it (a
// negative median latency, −770 µs, that apiab once printed at 1,000
// msgs/s fits such a reading in the sender). The narrowest bracket of
// many readings has an error of about a system call.
func newMonoClock(now func() time.Time, mono func() int64, tries int) MonoClock {
	var best MonoClock
	var width time.Duration
	for i := range max(tries, 1) {
		t0 := now()
		m := mono()
		t1 := now()
		if w := t1.Sub(t0); i == 0 || w < width {
			width = w
			best = MonoClock{base: t0.Add(w / 2), offset: m}
		}
	}
	return best
}

// Ns returns t as CLOCK_MONOTONIC nanoseconds.
func (c MonoClock) Ns(t time.Time) int64 { return c.offset + int64(t.Sub(c.base)) }

// HostCPU returns the CPU time the whole host has spent so far, busy
// (every state but idle and iowait) and in total, summed over its CPUs
// (/proc/stat's cpu line); 0 and 0 where the host does not say. Over a
// window, busy divided by the window's wall time is how many cores every
// process used, the benchmark's own and the host's other work alike.
func HostCPU() (busy, total time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	return parseHostCPU(string(b))
}

// parseHostCPU reads the cpu line of a /proc/stat (its first): user,
// nice, system, idle, iowait, irq, softirq, steal, ..., in clock ticks.
func parseHostCPU(stat string) (busy, total time.Duration) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	var b, t uint64
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0
		}
		t += n
		if i != 3 && i != 4 { // idle, iowait
			b += n
		}
	}
	return time.Duration(b) * time.Second / clockTicks, time.Duration(t) * time.Second / clockTicks
}

// SchedStat is what the kernel's scheduler counted for a process, summed
// over its threads (/proc/PID/task/*/schedstat): time on a CPU, time spent
// runnable but waiting for a CPU (the run queue), and the times a thread
// was put on a CPU. Over a window, Wait per Runs is how long a thread that
// was woken waited for a CPU on average: on a host whose cores are busy,
// every hand-off between processes (client → agent → ring → agent →
// client) pays it.
type SchedStat struct {
	Run, Wait time.Duration
	Runs      uint64
}

// Sub returns s − t.
func (s SchedStat) Sub(t SchedStat) SchedStat {
	return SchedStat{Run: s.Run - t.Run, Wait: s.Wait - t.Wait, Runs: s.Runs - t.Runs}
}

// ProcSchedStat returns a process's SchedStat: the sum over its threads
// that exist now (a thread that ended takes its counts with it); pid 0
// means this process. It needs a kernel with schedstats (CONFIG_SCHEDSTATS
// or CONFIG_SCHED_INFO).
func ProcSchedStat(pid int) (SchedStat, error) {
	dir := "/proc/self/task"
	if pid != 0 {
		dir = fmt.Sprintf("/proc/%d/task", pid)
	}
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return SchedStat{}, fmt.Errorf("bench: scheduler statistics: %w", err)
	}
	var s SchedStat
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread ended
		}
		ts, err := parseSchedStat(string(b))
		if err != nil {
			return SchedStat{}, fmt.Errorf("bench: %s/%s/schedstat: %w", dir, t.Name(), err)
		}
		s.Run += ts.Run
		s.Wait += ts.Wait
		s.Runs += ts.Runs
	}
	return s, nil
}

// parseSchedStat parses one thread's schedstat line: nanoseconds on a
// CPU, nanoseconds waiting on a run queue, timeslices run.
func parseSchedStat(line string) (SchedStat, error) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return SchedStat{}, fmt.Errorf("%d fields in %q, want 3", len(f), line)
	}
	var v [3]uint64
	for i := range f {
		n, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return SchedStat{}, err
		}
		v[i] = n
	}
	return SchedStat{Run: time.Duration(v[0]), Wait: time.Duration(v[1]), Runs: v[2]}, nil
}
