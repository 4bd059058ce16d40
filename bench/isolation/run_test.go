package isolation

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/internal/sites"
)

// TestSmoke runs the whole benchmark with short phases, each site in a
// process of its own (this test binary again, TestMain): the world forms
// with its three domains, every phase runs, every loaded group gets
// deliveries measured in every phase, the failover is measured, the EVS
// check reads the traces, and the table shows it all. It judges no
// figure: latencies on a loaded CI machine say nothing, and lost,
// duplicated and EVS are judged by the cross-site tests (agent,
// cmd/atoll's TestDemoSites, tests/fednetns); it logs them.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs eight agents in three sites' processes for about 40 s")
	}
	if sites.RaceEnabled {
		// As TestCrossSiteGroup in agent: the race detector's slowdown
		// makes the federation rings miss tokens in real time.
		t.Skip("runs real-time federation rings: without the race detector only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log bytes.Buffer
	start := time.Now()
	// Short phases, and a saturation just over the cap: the backlog it
	// leaves drains in seconds.
	r, err := Run(ctx, Config{Duration: 1500 * time.Millisecond, Warmup: 500 * time.Millisecond, DeliveryWait: 10 * time.Second, Rounds: 2,
		LocalRate: 100, RegionalRate: 40, GlobalRate: 12, Saturation: 1.25, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("ran in %v:\n%s", time.Since(start).Round(time.Second), log.String())
	if !strings.Contains(log.String(), "saturating: collector cycles in the measured part, and their time in it, by site's process: a ") {
		t.Errorf("the log does not give the site processes' collector cycles")
	}
	if len(r.Phases) != nPhases {
		t.Fatalf("%d phases ran, want %d", len(r.Phases), nPhases)
	}
	for ph, p := range r.Phases {
		for _, g := range r.Config.Groups {
			if g == ABCGlobal && ph == PhaseDetached {
				continue // idle while c is cut off
			}
			if s, ok := r.group(ph, g); !ok || s.Sent == 0 {
				t.Errorf("phase %q: %s has no measured deliveries (%+v)", p.Name, g, s)
			}
		}
	}
	if len(r.Rounds) != 2 {
		t.Errorf("%d rounds ran, want 2", len(r.Rounds))
	}
	for _, round := range r.Rounds {
		if len(round) != PhaseFailover {
			t.Errorf("a round ran %d phases, want %d", len(round), PhaseFailover)
		}
	}
	if r.Phases[PhaseSaturated].CPU.Process <= 0 {
		t.Errorf("no CPU measured in the saturating phase: %+v", r.Phases[PhaseSaturated].CPU)
	}
	for _, ph := range []int{PhaseSaturated, PhaseFailover} {
		var names []string
		for _, pc := range r.Phases[ph].Processes {
			names = append(names, pc.Process)
			if pc.CPU.Process <= 0 {
				t.Errorf("phase %q: no CPU measured for %s's process: %+v", PhaseNames[ph], pc.Process, pc.CPU)
			}
		}
		if want := []string{"site a", "site b", "site c", coordinatorName}; !slices.Equal(names, want) {
			t.Errorf("phase %q: the CPU of processes %v, want %v", PhaseNames[ph], names, want)
		}
	}
	if o := r.Phases[PhaseSaturated].Overlap; len(o) != 4 || o[0].Deliveries+o[1].Deliveries+o[2].Deliveries+o[3].Deliveries == 0 {
		t.Errorf("a-local's deliveries not split by abc-global's around their sends in the saturating phase: %+v", o)
	}
	if r.Failover.Killed == "" || r.Failover.Gap <= 0 || r.Failover.TokenTimeout <= 0 {
		t.Errorf("failover not measured: %+v", r.Failover)
	}
	if !r.EVSChecked || r.EVSEvents == 0 {
		t.Errorf("the EVS check read no trace event (checked %v)", r.EVSChecked)
	}
	var out bytes.Buffer
	r.WriteTable(&out, "go test")
	for _, want := range append(PhaseNames[:], "a process of its own", "| C attached, abc-global saturating | site b |", "| a-local (site/a) |", "| ab-regional (fed/regional:a+b) |", "| abc-global (fed/global:a+b+c) |", "Gateway failover:", "EVS check", "a-local by what abc-global") {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table lacks %q", want)
		}
	}
	if err := r.Err(); err != nil {
		t.Logf("the run reports: %v", err)
	}
	t.Logf("\n%s", out.String())
}

// TestSmokeNoTrace runs the gateway-killed phase alone with the agents
// untraced (Config.NoTrace), in one process: no trace file, no send held
// for a trace, no EVS check, and the lost and duplicated counts still
// made from the deliveries.
func TestSmokeNoTrace(t *testing.T) {
	sites.SkipUnlessRealTime(t, "runs eight agents in three sites for about 15 s")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var log bytes.Buffer
	dir := t.TempDir()
	r, err := Run(ctx, Config{OneProcess: true, FailoverOnly: true, NoTrace: true, Dir: dir, Duration: 1500 * time.Millisecond, Warmup: 500 * time.Millisecond, DeliveryWait: 10 * time.Second,
		LocalRate: 100, RegionalRate: 40, GlobalRate: 12, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if r.EVSChecked || r.EVSEvents != 0 {
		t.Errorf("EVS checked %v over %d events without traces", r.EVSChecked, r.EVSEvents)
	}
	if traces, _ := filepath.Glob(filepath.Join(dir, "*.trace")); len(traces) > 0 {
		t.Errorf("untraced agents wrote %v", traces)
	}
	for _, h := range r.Phases[PhaseFailover].TraceHolds {
		if h.Holds != 0 {
			t.Errorf("%s held its sends %d times for a trace it does not write", h.Node, h.Holds)
		}
	}
	for _, g := range r.Config.Groups {
		if s, ok := r.group(PhaseFailover, g); !ok || s.Sent == 0 || s.Delivered == 0 {
			t.Errorf("%s: nothing sent or delivered (%+v)", g, s)
		}
	}
	var out bytes.Buffer
	r.WriteTable(&out, "go test")
	if !strings.Contains(out.String(), "EVS check: not run (--no-trace") {
		t.Errorf("the table does not say the EVS check did not run:\n%s", out.String())
	}
}

// TestSmokeOneProcess runs the gateway-killed phase alone with every site
// in this process (Config.OneProcess): the mode the benchmark had before
// a process per site, kept for comparison.
func TestSmokeOneProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs eight agents in three sites for about 15 s")
	}
	if sites.RaceEnabled {
		t.Skip("runs real-time federation rings: without the race detector only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var log bytes.Buffer
	xt := filepath.Join(t.TempDir(), "traces")
	r, err := Run(ctx, Config{OneProcess: true, FailoverOnly: true, Duration: 1500 * time.Millisecond, Warmup: 500 * time.Millisecond, DeliveryWait: 10 * time.Second,
		LocalRate: 100, RegionalRate: 40, GlobalRate: 12, Log: &log, ExecTrace: xt})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("%s", log.String())
	p := r.Phases[PhaseFailover]
	for _, g := range r.Config.Groups {
		if s, ok := r.group(PhaseFailover, g); !ok || s.Sent == 0 {
			t.Errorf("%s has no measured deliveries (%+v)", g, s)
		}
	}
	if len(p.Processes) != 1 || p.CPU.Process <= 0 || p.Processes[0].CPU != p.CPU {
		t.Errorf("one process, its CPU: %+v, %+v", p.CPU, p.Processes)
	}
	if r.Failover.Gap <= 0 || r.EVSEvents == 0 {
		t.Errorf("failover %+v, %d EVS events: not measured", r.Failover, r.EVSEvents)
	}
	// The execution trace of the measured part (Config.ExecTrace), with
	// the benchmark's sends, deliveries and clock in it, and the CPU
	// profile beside it.
	b, err := os.ReadFile(filepath.Join(xt, "all.failover.r1.trace"))
	if err != nil {
		t.Fatalf("the execution trace: %v", err)
	}
	for _, want := range []string{"go 1.", "isolation.clock", "isolation.send", "isolation.delivery", "abc-global"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("the execution trace (%d bytes) lacks %q", len(b), want)
		}
	}
	if fi, err := os.Stat(filepath.Join(xt, "all.failover.r1.pprof")); err != nil || fi.Size() == 0 {
		t.Errorf("the CPU profile beside the execution trace: %v", err)
	}
	var out bytes.Buffer
	r.WriteTable(&out, "go test")
	if !strings.Contains(out.String(), "Every site runs in this one process") {
		t.Errorf("the table does not say the sites shared one process:\n%s", out.String())
	}
	if err := r.Err(); err != nil {
		t.Logf("the run reports: %v", err)
	}
}
