package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// syscallEvents are the tracepoints apiab's -syscalls counts in each agent
// and clientload (perf stat): every system call, and those of the client
// path and the ring by name. On a host whose kernel runs page-table
// isolation without PCID every system call flushes the TLB, and counting
// them per message says where the client path's CPU goes better than a
// loaded host's CPU figures.
var syscallEvents = []string{
	"raw_syscalls:sys_enter",
	"syscalls:sys_enter_read",
	"syscalls:sys_enter_write",
	"syscalls:sys_enter_recvmmsg",
	"syscalls:sys_enter_sendmmsg",
	"syscalls:sys_enter_recvmsg",
	"syscalls:sys_enter_sendmsg",
	"syscalls:sys_enter_epoll_pwait",
	"syscalls:sys_enter_futex",
	"syscalls:sys_enter_nanosleep",
	"syscalls:sys_enter_tgkill",
	"syscalls:sys_enter_madvise",
}

// SyscallCount is the system calls one process made over a window, by
// name ("all" for every one; the others as syscallEvents name them
// without "syscalls:sys_enter_").
type SyscallCount struct {
	Proc    string // "n1 agent", "n2 client"
	Seconds float64
	Counts  map[string]uint64
}

// countSyscalls counts syscallEvents in process pid over d with perf stat.
func countSyscalls(ctx context.Context, pid int, d time.Duration) (map[string]uint64, error) {
	return countSyscallsWhile(ctx, pid, "sleep", strconv.FormatFloat(d.Seconds(), 'f', 3, 64))
}

// countSyscallsWhile counts syscallEvents in process pid while perf stat
// runs the command name with args. perf enables its counters on pid before
// it starts the command (tools/perf/builtin-stat.c, __run_perf_stat), so
// whatever pid does once the command has begun is counted.
func countSyscallsWhile(ctx context.Context, pid int, name string, args ...string) (map[string]uint64, error) {
	args = append([]string{"stat", "-x", ";", "-e", strings.Join(syscallEvents, ","), "-p", strconv.Itoa(pid),
		"--", name}, args...)
	cmd := exec.CommandContext(ctx, "perf", args...)
	var out bytes.Buffer
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("perf %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return parsePerfStat(out.String())
}

// parsePerfStat reads perf stat -x ';' lines (count;unit;event;...).
func parsePerfStat(s string) (map[string]uint64, error) {
	counts := map[string]uint64{}
	for line := range strings.Lines(s) {
		f := strings.Split(strings.TrimSpace(line), ";")
		if len(f) < 3 || !strings.Contains(f[2], "sys_enter") {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue // "<not counted>", "<not supported>"
		}
		name := strings.TrimPrefix(f[2], "syscalls:sys_enter_")
		if f[2] == "raw_syscalls:sys_enter" {
			name = "all"
		}
		counts[name] = n
	}
	if _, ok := counts["all"]; !ok {
		return nil, fmt.Errorf("perf stat counted no system call: %q", s)
	}
	return counts, nil
}

// pidsOf returns the processes running the executable exe whose command
// line holds arg, in the order of their pids.
func pidsOf(exe, arg string) []int {
	want, err := filepath.EvalSymlinks(exe)
	if err != nil {
		want = exe
	}
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if got, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err != nil || got != want {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !slices.Contains(strings.Split(string(cmdline), "\x00"), arg) {
			continue
		}
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	return pids
}

// clientloadNode returns the -node flag of a clientload's command line
// (its index from 0), or -1.
func clientloadNode(pid int) int {
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return -1
	}
	args := strings.Split(string(cmdline), "\x00")
	for i, a := range args {
		if (a == "-node" || a == "--node") && i+1 < len(args) {
			if n, err := strconv.Atoi(strings.TrimPrefix(args[i+1], "n")); err == nil {
				return n - 1
			}
		}
	}
	return -1
}

// syscallsPerMsg formats counts per message delivered at each node
// (nodes' Delivered over WindowS): the total and the named calls that
// made at least 0.05 per message.
func syscallsPerMsg(sc []SyscallCount, perSec []float64) string {
	var b strings.Builder
	for i, c := range sc {
		if i < len(perSec) && perSec[i] <= 0 || c.Seconds <= 0 {
			continue
		}
		rate := perSec[min(i, len(perSec)-1)]
		if n := procNode(c.Proc); n >= 0 && n < len(perSec) {
			rate = perSec[n]
		}
		per := func(n uint64) float64 { return float64(n) / c.Seconds / rate }
		fmt.Fprintf(&b, " %s %.2f", c.Proc, per(c.Counts["all"]))
		var names []string
		for name := range c.Counts {
			if name != "all" && per(c.Counts[name]) >= 0.05 {
				names = append(names, name)
			}
		}
		slices.SortFunc(names, func(x, y string) int { return int(c.Counts[y]) - int(c.Counts[x]) })
		if len(names) > 0 {
			b.WriteString(" (")
			for j, name := range names {
				if j > 0 {
					b.WriteString(" ")
				}
				fmt.Fprintf(&b, "%s %.2f", name, per(c.Counts[name]))
			}
			b.WriteString(")")
		}
		b.WriteString(";")
	}
	return strings.TrimSuffix(b.String(), ";")
}

// procNode returns the node index of a SyscallCount's Proc ("n2 agent":
// 1), or -1.
func procNode(p string) int {
	name, _, _ := strings.Cut(p, " ")
	n, err := strconv.Atoi(strings.TrimPrefix(name, "n"))
	if err != nil {
		return -1
	}
	return n - 1
}
