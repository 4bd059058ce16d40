package bench

import (
	"strings"
	"testing"
)

// TestParseWakeups: a waking counts for its waker (another of the run's
// processes, in a soft or hard interrupt in it, or another task) and the
// woken process, a process's waking of its own thread under its own name
// twice, the wait to a CPU runs from the last waking to the switch that
// runs the thread, and tasks outside the run are left out. The lines are
// tracefs's, as countWakeups reads them.
func TestParseWakeups(t *testing.T) {
	trace := `# tracer: nop
#
      atoll-base-100     [001] d.s2.  10.000100: sched_waking: comm=atoll-base pid=200 prio=120 target_cpu=000
          <idle>-0       [000] d..2.  10.000130: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=atoll-base next_pid=200 next_prio=120
      atoll-base-200     [000] d..2.  10.000200: sched_waking: comm=cl-base pid=300 prio=120 target_cpu=001
      atoll-base-200     [000] d..2.  10.000210: sched_waking: comm=atoll-base pid=201 prio=120 target_cpu=001
            bash-999     [001] d.h2.  10.000300: sched_waking: comm=cl-base pid=300 prio=120 target_cpu=001
             sim-500     [001] d..2.  10.000400: sched_switch: prev_comm=sim prev_pid=500 prev_prio=120 prev_state=R ==> next_comm=cl-base next_pid=300 next_prio=120
            bash-999     [001] d..2.  10.000500: sched_waking: comm=bash pid=998 prio=120 target_cpu=001
`
	label := map[int]string{100: "n1 agent", 200: "n2 agent", 201: "n2 agent", 300: "n2 client"}
	w := parseWakeups(strings.NewReader(trace), label)
	want := map[[2]string]int{
		{"n1 agent (softirq)", "n2 agent"}: 1,
		{"n2 agent", "n2 client"}:          1,
		{"n2 agent", "n2 agent"}:           1,
		{"other (irq)", "n2 client"}:       1,
	}
	if len(w.Pairs) != len(want) {
		t.Errorf("pairs %v, want %v", w.Pairs, want)
	}
	for k, n := range want {
		if w.Pairs[k] != n {
			t.Errorf("%s → %s: %d wakings, want %d (all: %v)", k[0], k[1], w.Pairs[k], n, w.Pairs)
		}
	}
	near := func(got []float64, want float64) bool { return len(got) == 1 && got[0] > want-0.5 && got[0] < want+0.5 }
	if !near(w.Run["n2 agent"], 30) || !near(w.Run["n2 client"], 100) || len(w.Run) != 2 {
		t.Errorf("µs to a CPU %v, want n2 agent [30], n2 client [100] (from the last waking)", w.Run)
	}
	if w.Seconds < 0.0003999 || w.Seconds > 0.0004001 {
		t.Errorf("window %v s, want 0.0004", w.Seconds)
	}
	// 10,000 messages a second over 0.4 ms: 4 messages, a waking each.
	s := w.String(10000)
	for _, part := range []string{"wakeups/msg 1.00:", "n1 agent (softirq)→n2 agent 0.25", "other (irq)→n2 client 0.25", "n2 client 100/100/100"} {
		if !strings.Contains(s, part) {
			t.Errorf("%q lacks %q", s, part)
		}
	}
}
