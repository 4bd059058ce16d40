package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	atollbench "github.com/atoll-gcs/atoll/bench"
)

// tracefs is where the kernel's trace events are switched on and read.
const tracefs = "/sys/kernel/tracing"

// Wakeups is what apiab's -wakeups counts over a window from the
// kernel's sched_waking and sched_switch events: which process woke which
// of the run's agents and clientloads, and how long each then waited for
// a CPU. A message's time between processes is these hops: a counted
// figure where a wall-clock test on a shared host is noise.
type Wakeups struct {
	Seconds float64
	// Pairs counts the wakings of a run's process by its waker: another
	// of the run's processes ("n1 agent"), the same with " (softirq)"
	// where the waking ran in a soft interrupt in that process (the
	// network receive that a sender's sendmmsg runs for the other
	// namespaces on the testbed's veths) or " (irq)" in a hard one (a
	// timer), or "other" for any other task. A process's wakings of its
	// own threads are under the key [name, name].
	Pairs map[[2]string]int
	// Run is, per woken process, the µs from each waking to the switch
	// that ran it.
	Run map[string][]float64
}

// traceLine is one line of tracefs's trace: the current task, the
// context flags, the time in seconds, the event and its fields.
var traceLine = regexp.MustCompile(`^\s*(.+?)-(\d+)\s+\[\d+\]\s+(\S+)\s+([\d.]+): (sched_waking|sched_switch): (.*)$`)

var (
	wakingPid = regexp.MustCompile(`\bpid=(\d+)`)
	nextPid   = regexp.MustCompile(`\bnext_pid=(\d+)`)
)

// parseWakeups reads tracefs's trace text; label names the run's
// processes by thread id.
func parseWakeups(r io.Reader, label map[int]string) Wakeups {
	w := Wakeups{Pairs: map[[2]string]int{}, Run: map[string][]float64{}}
	woken := map[int]float64{} // thread id → the time of its waking
	var first, last float64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := traceLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		cur, _ := strconv.Atoi(m[2])
		flags, ev, fields := m[3], m[5], m[6]
		ts, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			continue
		}
		if first == 0 {
			first = ts
		}
		last = ts
		// The thread the event is about: the one woken, or the one run.
		re := wakingPid
		if ev == "sched_switch" {
			re = nextPid
		}
		p := re.FindStringSubmatch(fields)
		if p == nil {
			continue
		}
		tid, _ := strconv.Atoi(p[1])
		to, ours := label[tid]
		if !ours {
			continue
		}
		if ev == "sched_switch" {
			if at, ok := woken[tid]; ok {
				delete(woken, tid)
				w.Run[to] = append(w.Run[to], (ts-at)*1e6)
			}
			continue
		}
		woken[tid] = ts
		from, ok := label[cur]
		if !ok {
			from = "other"
		}
		switch {
		case strings.Contains(flags, "s"):
			from += " (softirq)"
		case strings.ContainsAny(flags, "hH"):
			from += " (irq)"
		}
		w.Pairs[[2]string{from, to}]++
	}
	w.Seconds = last - first
	return w
}

// countWakeups records sched_waking and sched_switch through tracefs for
// d and counts them for the processes named (pid → "n1 agent"), their
// threads as /proc lists them at the start and at the end. tracefs is one
// for the host: two of these at once spoil each other.
func countWakeups(ctx context.Context, procs map[int]string, d time.Duration) (Wakeups, error) {
	label := map[int]string{}
	threads := func() {
		for pid, name := range procs {
			ents, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
			for _, e := range ents {
				if tid, err := strconv.Atoi(e.Name()); err == nil {
					label[tid] = name
				}
			}
		}
	}
	threads()
	set := func(file, v string) error {
		return os.WriteFile(filepath.Join(tracefs, file), []byte(v), 0o644)
	}
	events := []string{"events/sched/sched_waking/enable", "events/sched/sched_switch/enable"}
	off := func() {
		set("tracing_on", "0")
		for _, e := range events {
			set(e, "0")
		}
	}
	defer off()
	for _, s := range [][2]string{{"tracing_on", "0"}, {"trace", ""}, {"trace_clock", "mono"}, {"buffer_size_kb", "8192"}, {events[0], "1"}, {events[1], "1"}, {"tracing_on", "1"}} {
		if err := set(s[0], s[1]); err != nil {
			return Wakeups{}, fmt.Errorf("tracefs (needs root and %s): %w", tracefs, err)
		}
	}
	ok := atollbench.Sleep(ctx, d)
	off()
	if !ok {
		return Wakeups{}, ctx.Err()
	}
	threads()
	f, err := os.Open(filepath.Join(tracefs, "trace"))
	if err != nil {
		return Wakeups{}, err
	}
	defer f.Close()
	w := parseWakeups(f, label)
	set("trace", "")
	return w, nil
}

// String gives the wakings per message (msgs: the messages each node
// delivered over the window, per second), the pairs of at least 0.05 a
// message, most first, then each process's wait from its waking to a
// CPU, p50 / p90 / p99 in µs.
func (w Wakeups) String(msgs float64) string {
	n := msgs * w.Seconds
	if n <= 0 || len(w.Pairs) == 0 {
		return "wakeups: none counted"
	}
	type pair struct {
		k [2]string
		c int
	}
	var ps []pair
	all := 0
	for k, c := range w.Pairs {
		ps = append(ps, pair{k, c})
		all += c
	}
	slices.SortFunc(ps, func(a, b pair) int {
		if a.c != b.c {
			return b.c - a.c
		}
		return strings.Compare(a.k[0]+a.k[1], b.k[0]+b.k[1])
	})
	var b strings.Builder
	fmt.Fprintf(&b, "wakeups/msg %.2f:", float64(all)/n)
	for _, p := range ps {
		if float64(p.c)/n < 0.05 {
			break
		}
		fmt.Fprintf(&b, " %s→%s %.2f", p.k[0], p.k[1], float64(p.c)/n)
	}
	b.WriteString("; µs to a CPU p50/p90/p99:")
	var names []string
	for name := range w.Run {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v := slices.Clone(w.Run[name])
		slices.Sort(v)
		q := func(p float64) float64 { return v[min(len(v)-1, int(p*float64(len(v))))] }
		fmt.Fprintf(&b, " %s %.0f/%.0f/%.0f", name, q(0.5), q(0.9), q(0.99))
	}
	return b.String()
}
