package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	atollbench "github.com/atoll-gcs/atoll/bench"
	"github.com/atoll-gcs/atoll/internal/schedprobe"
)

// IdleOptions configures an idle A/B (IdleMain): a ring of `atoll agent`
// processes per build, all idle at the same time, each in namespaces of
// its own.
type IdleOptions struct {
	Nodes   int
	Windows int           // measurement windows, one after the other
	Window  time.Duration // each window's length
	Settle  time.Duration // after every ring formed, before the first window
	Bins    []string      // NAME=ATOLL
	Work    string
	Out     io.Writer
}

// idleRing is one build's ring of idle agents.
type idleRing struct {
	name string
	tb   *Testbed
	ag   *Agents
}

// idleSnap is what one ring's agents had used at one instant.
type idleSnap struct {
	at    time.Time
	sched []atollbench.SchedStat
	st    agent.Status // node 1's
}

func (r *idleRing) snap(ctx context.Context) (idleSnap, error) {
	s := idleSnap{at: time.Now(), sched: agentsSched(r.ag.Pids)}
	if len(s.sched) != len(r.ag.Pids) {
		return s, errors.New("idleab: no /proc/PID/task/*/schedstat (a kernel without schedstats)")
	}
	var err error
	s.st, err = agentStatus(ctx, filepath.Join(r.ag.DataDir(0), agent.AdminSocketName))
	return s, err
}

// idleLine is one ring's line for a window between two snapshots: each
// agent's CPU in percent of a core (from its threads' run time, to the
// nanosecond, where /proc/PID/stat counts 10 ms ticks), its wake-ups per
// rotation, node 1's rotations per second and the rings installed (a
// ring installed means a token was lost and the window measured a
// membership round too).
func idleLine(a, b idleSnap) string {
	secs := b.at.Sub(a.at).Seconds()
	w := idleRingBetween(secs, a.st, b.st, a.sched, b.sched)
	var cpu, wakes []string
	for i := range a.sched {
		cpu = append(cpu, fmt.Sprintf("%.3f", b.sched[i].Sub(a.sched[i]).Run.Seconds()/secs*100))
		if w.RotPerSec > 0 {
			wakes = append(wakes, fmt.Sprintf("%.1f", w.Wakes[i]/w.RotPerSec))
		}
	}
	return fmt.Sprintf("%%CPU %s  wake-ups/rotation %s  n1 %.1f rot/s  rings installed %d",
		strings.Join(cpu, " "), strings.Join(wakes, " "), w.RotPerSec, w.Rings)
}

// RunIdle starts a ring of o.Nodes agents per build and measures them
// idle, side by side, over o.Windows windows: the host's other work weighs
// on every build alike in each window.
func RunIdle(ctx context.Context, o IdleOptions, prefix string) error {
	var rings []*idleRing
	defer func() {
		for _, r := range rings {
			if r.ag != nil {
				r.ag.Stop()
			}
			r.tb.Close()
		}
	}()
	for i, v := range o.Bins {
		name, bin, ok := strings.Cut(v, "=")
		if !ok || name == "" || bin == "" {
			return fmt.Errorf("idleab: build %q: want NAME=ATOLL", v)
		}
		tb, err := NewTestbed(o.Nodes, fmt.Sprintf("%s%d", prefix, i))
		if err != nil {
			return err
		}
		r := &idleRing{name: name, tb: tb}
		rings = append(rings, r)
		if r.ag, err = StartAgents(tb, filepath.Join(o.Work, name), AgentOptions{Bin: bin}); err != nil {
			return err
		}
	}
	if !atollbench.Sleep(ctx, o.Settle) {
		return ctx.Err()
	}
	for w := range o.Windows {
		a := make([]idleSnap, len(rings))
		for i, r := range rings {
			var err error
			if a[i], err = r.snap(ctx); err != nil {
				return err
			}
		}
		if !atollbench.Sleep(ctx, o.Window) {
			return ctx.Err()
		}
		for i, r := range rings {
			b, err := r.snap(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.Out, "%s  window %d %-8s %s  loadavg %s\n", time.Now().Format("15:04:05"), w, r.name, idleLine(a[i], b), schedprobe.LoadAvg())
		}
	}
	return nil
}

// IdleMain is the command line of tests/bench/cmd/idleab.
func IdleMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("idleab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o    IdleOptions
		bins stringsFlag
	)
	fs.Var(&bins, "v", "a build, NAME=ATOLL; repeat for each")
	fs.IntVar(&o.Nodes, "nodes", 3, "ring size")
	fs.IntVar(&o.Windows, "windows", 5, "measurement windows")
	fs.DurationVar(&o.Window, "window", time.Minute, "each window's length")
	fs.DurationVar(&o.Settle, "settle", 10*time.Second, "after the rings formed, before the first window")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sudo idleab -v A=ATOLL -v B=ATOLL2 [flags]\n\nRuns a ring of idle `atoll agent` processes per build, side by side, and prints per window each agent's CPU, its wake-ups per rotation and the ring's rotations (docs/BENCHMARKS.md, \"An idle ring, side by side\").")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Bins = bins
	switch {
	case len(o.Bins) == 0:
		return errors.New("name at least one build with -v NAME=ATOLL")
	case len(o.Bins) > 9 || o.Nodes < 2 || o.Windows < 1 || o.Window < time.Second:
		return fmt.Errorf("-v ×%d, -nodes %d, -windows %d, -window %v: want 1 to 9 builds, at least 2 nodes, 1 window of 1s", len(o.Bins), o.Nodes, o.Windows, o.Window)
	case os.Geteuid() != 0:
		return errors.New("creating network namespaces needs root: run it with sudo")
	}
	dir, err := os.MkdirTemp("", "atoll-idleab-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.Work, o.Out = dir, stdout
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return RunIdle(ctx, o, fmt.Sprintf("id%04x", os.Getpid()&0xffff))
}
