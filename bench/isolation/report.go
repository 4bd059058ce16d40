package isolation

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/atoll-gcs/atoll/bench"
)

// The targets of issue 9.
const (
	// p99 of a-local (saturating) and ab-regional (attached) over their
	// p99 with c detached.
	targetRatio = 1.1
	// abc-global's median agreed latency off the planner's prediction.
	targetPrediction = 0.25
	// the failover gap over the federation token timeout.
	targetGap = 2
)

// group returns g's figures in phase ph, if measured.
func (r *Report) group(ph int, g string) (GroupStats, bool) {
	if ph >= len(r.Phases) {
		return GroupStats{}, false
	}
	return stats(r.Phases[ph], g)
}

// Target is one of issue 9's targets with what the run measured.
type Target struct {
	What     string `json:"what"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
	// Missing says why the run could not judge it (then Met is false).
	Missing string `json:"missing,omitempty"`
}

// Targets judges the run against issue 9's targets.
func (r *Report) Targets() []Target {
	var out []Target
	ratio := func(what, g string, ph int) {
		t := Target{What: what}
		base, ok1 := r.group(PhaseDetached, g)
		with, ok2 := r.group(ph, g)
		switch {
		case !slices.Contains(r.Config.Groups, g):
			t.Missing = g + " was not run"
		case !ok1 || !ok2:
			t.Missing = "no deliveries measured"
		default:
			x := float64(with.P99) / float64(base.P99)
			t.Measured = fmt.Sprintf("%s / %s = %.2f×", bench.FormatLatency(with.P99), bench.FormatLatency(base.P99), x)
			t.Met = x <= targetRatio
			if rs := r.roundRatios(g, ph); len(rs) > 1 {
				med := median(rs)
				t.Measured = fmt.Sprintf("median of %d rounds %.2f× (rounds %s); pooled %s", len(rs), med, ratioList(rs), t.Measured)
				t.Met = med <= targetRatio
			}
		}
		out = append(out, t)
	}
	ratio(fmt.Sprintf("a-local p99 with c attached and abc-global saturating ≤ %g× with c detached", targetRatio), ALocal, PhaseSaturated)
	ratio(fmt.Sprintf("ab-regional p99 with c attached ≤ %g× without c", targetRatio), ABRegional, PhaseAttached)
	ratio(fmt.Sprintf("ab-regional p99 with c attached and abc-global saturating ≤ %g× without c", targetRatio), ABRegional, PhaseSaturated)

	t := Target{What: fmt.Sprintf("abc-global median agreed latency (to the last member) within %.0f%% of the planner's prediction (mean %s)", targetPrediction*100, r.Predicted.Mean.D())}
	if g, ok := r.group(PhaseAttached, ABCGlobal); ok && g.LastP50 > 0 {
		off := float64(g.LastP50-r.Predicted.Mean.D()) / float64(r.Predicted.Mean.D())
		t.Measured = fmt.Sprintf("%s (%+.0f%%)", bench.FormatLatency(g.LastP50), off*100)
		t.Met = off <= targetPrediction && off >= -targetPrediction
	} else {
		t.Missing = "no message reached every member"
	}
	out = append(out, t)

	f := r.Failover
	lost, dup := 0, 0
	if g, ok := r.group(PhaseFailover, ABCGlobal); ok {
		lost, dup = g.Lost, g.Duplicated
	}
	t = Target{What: fmt.Sprintf("gateway kill under load: 0 lost, 0 duplicated, delivering again within %d× the federation token timeout (%s)", targetGap, f.TokenTimeout)}
	if len(r.Phases) <= PhaseFailover {
		t.Missing = "the failover phase did not run"
	} else {
		t.Measured = fmt.Sprintf("gap %s from the kill (%s from the last delivery before it), %d lost, %d duplicated",
			bench.FormatLatency(f.Gap), bench.FormatLatency(f.GapWithIdle), lost, dup)
		t.Met = lost == 0 && dup == 0 && f.Gap <= targetGap*f.TokenTimeout
	}
	out = append(out, t)
	return out
}

// roundRatios returns, round by round, g's p99 in phase ph over its p99
// with c detached in the same round, for the rounds that measured both.
func (r *Report) roundRatios(g string, ph int) []float64 {
	var out []float64
	for _, round := range r.Rounds {
		if ph >= len(round) {
			continue
		}
		base, ok1 := stats(round[PhaseDetached], g)
		with, ok2 := stats(round[ph], g)
		if ok1 && ok2 && base.P99 > 0 {
			out = append(out, float64(with.P99)/float64(base.P99))
		}
	}
	return out
}

// stats returns g's figures in p, if measured.
func stats(p Phase, g string) (GroupStats, bool) {
	i := slices.IndexFunc(p.Groups, func(s GroupStats) bool { return s.Group == g })
	if i < 0 || p.Groups[i].Measured == 0 {
		return GroupStats{}, false
	}
	return p.Groups[i], true
}

// median returns the median of xs (the mean of the middle two for an
// even count).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ratioList formats ratios in the order of the rounds.
func ratioList(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf("%.2f×", x))
	}
	return strings.Join(parts, ", ")
}

// WriteTable prints the report as Markdown: how the run was made, the
// latency table, the targets, the failover, the relay's links and the
// lost and duplicated counts.
func (r *Report) WriteTable(w io.Writer, command string) {
	c := r.Config
	fmt.Fprintf(w, "Isolation benchmark, run of %s, %v, `%s`.\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Elapsed.Round(time.Second), command)
	procs := "Every site runs in this one process (--one-process): the eight agents share one heap, one collector and one scheduler, which separate hosts would not"
	if !c.OneProcess {
		procs = "Each site runs in a process of its own, as separate hosts would, and the WAN relays in the coordinator's"
		if c.Pin {
			procs += " (pinned: site a's process to CPU 0, the others to CPU 1)"
		}
		if c.Background {
			procs += " (--background-others: sites b's and c's processes and the coordinator's at SCHED_IDLE, site a's at its own priority)"
		}
	}
	fmt.Fprintf(w, "Host: %d cores; load average (1, 5, 15 min) at start %s, at end %s. %s; other work on the machine and the sites' own work share the same cores.\n\n", r.Cores, r.LoadStart, r.LoadEnd, procs)
	fmt.Fprintf(w, "World: sites a (3 nodes), b (3 nodes), c (2 nodes), each site's ring on an in-process network; the gateways federate over QUIC on loopback through the WAN emulator: a–b 10ms RTT, c 200ms RTT from a and b with a cap of %s each way. ", rate(float64(c.CapBits)))
	fmt.Fprintf(w, "Load through the client API (one session per member and group, Agreed, MulticastWait), every member sending: a-local %g msgs/s and ab-regional %g msgs/s in total (%d B), abc-global %g msgs/s (%d B), while saturating %s from each of %s. ",
		c.LocalRate, c.RegionalRate, c.Size, c.GlobalRate, c.GlobalSize, perSec(c.Saturation*float64(c.CapBits)/float64(8*c.GlobalSize)), strings.Join(c.SaturateFrom, " and "))
	fmt.Fprintf(w, "Every phase: %v warm-up, %v measured. Latency: from just before the sender's MulticastWait to the delivery event at a member, over every delivery at every member; for abc-global also the median over messages of the time to the last member (the planner's agreed latency).\n\n", c.Warmup, c.Duration)

	fmt.Fprintf(w, "| group (domain) | latency | %s |\n", strings.Join(PhaseNames[:], " | "))
	fmt.Fprintf(w, "| --- | --- |%s\n", strings.Repeat(" ---: |", nPhases))
	dom := map[string]string{ALocal: "site/a", ABRegional: "fed/regional:a+b", ABCGlobal: r.Domain}
	for _, g := range Groups {
		if !slices.Contains(c.Groups, g) {
			continue
		}
		cells := []string{}
		for ph := range nPhases {
			if s, ok := r.group(ph, g); ok {
				cells = append(cells, fmt.Sprintf("%s / %s", bench.FormatLatency(s.P50), bench.FormatLatency(s.P99)))
			} else {
				cells = append(cells, "–")
			}
		}
		fmt.Fprintf(w, "| %s (%s) | p50 / p99 | %s |\n", g, dom[g], strings.Join(cells, " | "))
	}
	cells := []string{}
	for ph := range nPhases {
		if s, ok := r.group(ph, ABCGlobal); ok && s.LastP50 > 0 {
			cells = append(cells, bench.FormatLatency(s.LastP50))
		} else {
			cells = append(cells, "–")
		}
	}
	fmt.Fprintf(w, "| abc-global | median to the last member | %s |\n", strings.Join(cells, " | "))
	fmt.Fprintf(w, "| abc-global | planner's prediction | mean %s, max %s, rotation %s | | | |\n\n", r.Predicted.Mean.D(), r.Predicted.Max.D(), r.Predicted.Rotation.D())

	fmt.Fprintln(w, "| target (issue 9) | measured | met |")
	fmt.Fprintln(w, "| --- | --- | --- |")
	for _, t := range r.Targets() {
		m, met := t.Measured, "no"
		if t.Met {
			met = "**yes**"
		}
		if t.Missing != "" {
			m, met = "not measured: "+t.Missing, "–"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", t.What, m, met)
	}

	if len(r.Rounds) > 1 {
		fmt.Fprintf(w, "\nThe rounds (each phase measured %v per round; the table above pools them), p99:\n\n", c.roundDuration().Round(time.Millisecond))
		fmt.Fprintln(w, "| round | a-local detached / attached / saturating | ab-regional detached / attached / saturating |")
		fmt.Fprintln(w, "| ---: | ---: | ---: |")
		for k, round := range r.Rounds {
			var cells []string
			for _, g := range []string{ALocal, ABRegional} {
				var ps []string
				for _, p := range round {
					if s, ok := stats(p, g); ok {
						ps = append(ps, bench.FormatLatency(s.P99))
					} else {
						ps = append(ps, "–")
					}
				}
				cells = append(cells, strings.Join(ps, " / "))
			}
			fmt.Fprintf(w, "| %d | %s |\n", k+1, strings.Join(cells, " | "))
		}
	}
	others := 0.0
	for _, p := range r.Phases {
		others = max(others, p.CPU.Host-p.ours())
	}
	if others >= 0.25 {
		fmt.Fprintf(w, "\nOther work on the host: up to %.2f cores beside the benchmark's processes over a phase's measured part (below). The latencies above measure that work too: neither they nor the targets' ratios judge the protocol; compare runs of a quiet host.\n", others)
	}
	fmt.Fprintln(w, "\nCPU over each phase's measured part of the process that runs site a (with --one-process every site; the host's figure counts every process on the machine), the wait of its goroutines for a core, and site a's group loops holding every local client's requests back for a backlogged reader:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| phase | site a's process, cores | host busy, cores | goroutines waiting runnable p50 / p99 / p99.9 | GC pauses (longest) | of which stopping the world (longest) | site a: client requests held (passes) | a-local: share of its p99 tail in its worst second |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for ph, p := range r.Phases {
		held := uint64(0)
		for _, h := range p.TraceHolds {
			held += h.ClientsHeld
		}
		tail := "–"
		if s, ok := r.group(ph, ALocal); ok {
			tail = fmt.Sprintf("%.0f%%", 100*s.TailWorstSecond)
		}
		cp := p.CPU
		fmt.Fprintf(w, "| %s | %.2f | %.2f of %d | %v / %v / %v | %v (%v) | %v (%v) | %d | %s |\n", p.Name, cp.Process, cp.Host, r.Cores,
			cp.SchedP50.Round(time.Microsecond), cp.SchedP99.Round(time.Microsecond), cp.SchedP999.Round(time.Microsecond), cp.GCPauses.Round(time.Microsecond), cp.GCPauseMax.Round(time.Microsecond),
			cp.GCStops.Round(time.Microsecond), cp.GCStopMax.Round(time.Microsecond), held, tail)
	}

	r.writeProcesses(w)
	r.writeOverlap(w)

	f := r.Failover
	var sites []string
	for s := range f.GapBySite {
		sites = append(sites, s)
	}
	slices.Sort(sites)
	var gaps []string
	for _, s := range sites {
		gaps = append(gaps, fmt.Sprintf("%s %s", s, bench.FormatLatency(f.GapBySite[s])))
	}
	fmt.Fprintf(w, "\nGateway failover: %s (site a's active gateway of %s) killed %v into the measured part of the last phase; longest time without an abc-global delivery at a member that stayed connected, from the kill to the end of sending, counted from the kill: %s (by site: %s). At the kill the members had gone up to %s without a delivery (counted from their last delivery before the kill instead, the gap is %s); the longest time without one in the measured part before the kill: %s.\n",
		f.Killed, r.Domain, (c.Duration / 3).Round(time.Millisecond), bench.FormatLatency(f.Gap), strings.Join(gaps, ", "),
		bench.FormatLatency(f.IdleAtKill), bench.FormatLatency(f.GapWithIdle), bench.FormatLatency(f.Before))

	fmt.Fprintf(w, "\nThe relay's links to and from c (cap %s each way), delivered rate and tail drops at the cap's queue per phase:\n\n", rate(float64(c.CapBits)))
	fmt.Fprintf(w, "| link | %s |\n", strings.Join(PhaseNames[:], " | "))
	fmt.Fprintf(w, "| --- |%s\n", strings.Repeat(" ---: |", nPhases))
	for i, l := range wanLinks {
		cells := []string{}
		for _, p := range r.Phases {
			if i < len(p.Links) {
				cells = append(cells, fmt.Sprintf("%s, %d drops", rate(p.Links[i].BitsPerSec), p.Links[i].QueueDrops))
			} else {
				cells = append(cells, "–") // a phase not run (FailoverOnly)
			}
		}
		fmt.Fprintf(w, "| %s→%s | %s |\n", l[0], l[1], strings.Join(cells, " | "))
	}

	fmt.Fprintln(w, "\nMessages per phase (sent: accepted by the senders' agents, the killed node's not counted; lost: a message missing at a member that stayed connected to its sender; duplicated: deliveries beyond the first; separated: messages not owed to a member because it and the sender were in views without each other during the phase, as after a partition):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| phase | group | sent | deliveries | lost | duplicated | separated |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: |")
	for _, p := range r.Phases {
		for _, g := range p.Groups {
			if g.Sent == 0 {
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %d | %d |\n", p.Name, g.Group, g.Sent, g.Delivered, g.Lost, g.Duplicated, g.Separated)
		}
	}
	if !r.EVSChecked {
		fmt.Fprintf(w, "\nEVS check: not run (--no-trace: the agents wrote no trace, as agents without --trace; lost and duplicated are counted from the deliveries above).\n")
		return
	}
	fmt.Fprintf(w, "\nEVS check over every agent's trace: %d events, %d violations.\n", r.EVSEvents, len(r.Violations))
	for i, v := range r.Violations {
		if i == 10 {
			fmt.Fprintf(w, "  ... and %d more (--json keeps them all)\n", len(r.Violations)-i)
			break
		}
		fmt.Fprintf(w, "  %s\n", v)
	}
}

// rate formats bits per second.
func rate(bps float64) string {
	switch {
	case bps >= 1e6:
		return fmt.Sprintf("%.2f Mbit/s", bps/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.0f kbit/s", bps/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", bps)
}

func perSec(v float64) string { return fmt.Sprintf("%.0f msgs/s", v) }

// writeOverlap writes a-local's latencies split by what abc-global did
// around each send (Phase.Overlap), for the phases in which abc-global
// ran.
func (r *Report) writeOverlap(w io.Writer) {
	var rows []string
	for _, p := range r.Phases {
		for _, o := range p.Overlap {
			if o.Deliveries == 0 || o.When == OverlapNone && o.Share == 1 {
				continue
			}
			rows = append(rows, fmt.Sprintf("| %s | %s | %.1f%% | %.1f%% | %s / %s / %s |", p.Name, o.When, 100*o.Share, 100*o.TailShare,
				bench.FormatLatency(o.P50), bench.FormatLatency(o.P90), bench.FormatLatency(o.P99)))
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\na-local by what abc-global's members delivered from %v before to %v after each message's send: every site's agents and clients share this process's cores, so with --one-process a burst of abc-global coming down is work for all eight agents at once in one process; on separate hosts (and with a process per site, but for the cores they share) site a's a-local waits for site a's share of it only (its ring carries the Downs, its group loops and clients take them), not for b's or c's. A message whose way from its send to its delivery overlapped a cycle of site a's process's collector (from the runtime's gctrace of each site's process; not with --one-process) counts in that row first, whatever abc-global did:\n\n", overlapBefore, overlapAfter)
	fmt.Fprintln(w, "| phase | at the send | share of a-local's deliveries | share of its p99 tail | p50 / p90 / p99 |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: |")
	for _, row := range rows {
		fmt.Fprintln(w, row)
	}
}

// ours is the CPU of the benchmark's processes over the phase, in cores.
func (p Phase) ours() float64 {
	if len(p.Processes) == 0 {
		return p.CPU.Process
	}
	sum := 0.0
	for _, pc := range p.Processes {
		sum += pc.CPU.Process
	}
	return sum
}

// writeProcesses prints each process's CPU and collector pauses by phase,
// where the sites run in processes of their own.
func (r *Report) writeProcesses(w io.Writer) {
	if r.Config.OneProcess {
		return
	}
	var rows []string
	for _, p := range r.Phases {
		for _, pc := range p.Processes {
			c := pc.CPU
			rows = append(rows, fmt.Sprintf("| %s | %s | %.2f | %v / %v / %v | %v (%v) | %v (%v) |", p.Name, pc.Process, c.Process,
				c.SchedP50.Round(time.Microsecond), c.SchedP99.Round(time.Microsecond), c.SchedP999.Round(time.Microsecond), c.GCPauses.Round(time.Microsecond), c.GCPauseMax.Round(time.Microsecond),
				c.GCStops.Round(time.Microsecond), c.GCStopMax.Round(time.Microsecond)))
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "\nEach process over each phase's measured part: its CPU, the wait of its goroutines for a core, its collector's pauses:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| phase | process | cores | goroutines waiting runnable p50 / p99 / p99.9 | GC pauses (longest) | of which stopping the world (longest) |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: |")
	for _, row := range rows {
		fmt.Fprintln(w, row)
	}
}
