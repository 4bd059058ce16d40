package isolation

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"
)

// Execution traces (Config.ExecTrace): each site's process writes the Go
// execution trace (runtime/trace) of each phase's measured part, so that
// a slow delivery can be followed through the goroutines of the process
// that sent and delivered it: which goroutine ran, which waited for a
// thread, which was blocked and who woke it, the collector's work.
//
// The trace carries the benchmark's own events as user logs, on the
// run's clock (ns since its base, as in the deliveries file), so that a
// message of the deliveries file is found in it:
//
//	category isolation.clock     message: the run's clock, read just before the log (every execClockEvery)
//	category isolation.send      message: "<group> <phase> <sender> <seq> <sent>", on the sending goroutine, just before MulticastWait
//	category isolation.delivery  message: "<member> <group> <phase> <sender> <seq> <sent> <at>", on the goroutine that read it
//
// Beside each trace, SITE.PHASE.rROUND.pprof is the process's CPU profile
// of the same time (runtime/pprof, 100 samples a second), whose samples
// the trace shows on the goroutines they were taken in.
//
// Tracing costs the process some CPU (a few percent; more for the logs'
// formatting), so a run with it measures a slightly slower system.

// execClockEvery is how often a traced process logs the run's clock.
const execClockEvery = 10 * time.Millisecond

// execTraceName is the file of site's (or "all", every site in one
// process) execution trace of phase code's measured part in dir.
func execTraceName(dir, site string, code uint8) string {
	return filepath.Join(dir, fmt.Sprintf("%s.%s.r%d.trace", site, phaseKey(int(code)%nPhases), int(code)/nPhases+1))
}

// execTrace traces this process into path from `from` on for dur, and
// logs the run's clock into the trace meanwhile. Wait returns once the
// trace is written (or did not start), with the error, if any.
type execTrace struct {
	done chan struct{}
	err  error
}

func startExecTrace(ctx context.Context, path string, from, dur time.Duration, clk clock) *execTrace {
	t := &execTrace{done: make(chan struct{})}
	time.AfterFunc(from, func() {
		defer close(t.done)
		if ctx.Err() == nil {
			t.err = t.run(ctx, path, dur, clk)
		}
	})
	return t
}

func (t *execTrace) run(ctx context.Context, path string, dur time.Duration, clk clock) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("isolation: the execution trace: %w", err)
	}
	pf, err := os.Create(strings.TrimSuffix(path, ".trace") + ".pprof")
	if err != nil {
		f.Close()
		return fmt.Errorf("isolation: the CPU profile: %w", err)
	}
	defer pf.Close()

	if err := pprof.StartCPUProfile(pf); err != nil {
		f.Close()
		return fmt.Errorf("isolation: start the CPU profile: %w", err)
	}
	defer pprof.StopCPUProfile()
	if err := trace.Start(f); err != nil {
		f.Close()
		return fmt.Errorf("isolation: start the execution trace %s: %w", path, err)
	}
	tick := time.NewTicker(execClockEvery)
	end := time.NewTimer(dur)
	for loop := true; loop; {
		trace.Log(context.Background(), "isolation.clock", strconv.FormatInt(clk.now(), 10))
		select {
		case <-tick.C:
		case <-end.C:
			loop = false
		case <-ctx.Done():
			loop = false
		}
	}
	tick.Stop()
	end.Stop()
	trace.Log(context.Background(), "isolation.clock", strconv.FormatInt(clk.now(), 10))
	trace.Stop()
	if err := f.Close(); err != nil {
		return fmt.Errorf("isolation: write the execution trace %s: %w", path, err)
	}
	return nil
}

// wait returns when the trace is written.
func (t *execTrace) wait() error {
	<-t.done
	return t.err
}

// logSend logs a message's send into the execution trace, if one runs.
func logSend(k key, sent int64) {
	if !trace.IsEnabled() {
		return
	}
	trace.Log(context.Background(), "isolation.send", fmt.Sprintf("%s %d %d %d %d", Groups[k.group], k.phase, k.sender, k.seq, sent))
}

// logDelivery logs a delivery at member into the execution trace, if one
// runs.
func logDelivery(member string, e *event) {
	if e.Kind != evMessage || !trace.IsEnabled() {
		return
	}
	trace.Log(context.Background(), "isolation.delivery", fmt.Sprintf("%s %s %d %d %d %d %d", member, Groups[e.Group], e.Phase, e.Sender, e.Seq, e.Sent, e.At))
}
