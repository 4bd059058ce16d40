package isolation

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atoll-gcs/atoll/bench"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/internal/sites"
	"github.com/atoll-gcs/atoll/internal/wanem"
	"github.com/atoll-gcs/atoll/topology"
)

// runner is the state of one run.
type runner struct {
	cfg     Config
	w       *sites.World
	clk     clock
	start   time.Time
	members map[string][]*member // by group
	killed  string
	// kill is when the gateway was killed; phaseFrom and sendEnd are the
	// start of the measured part and the end of the sending of the phase
	// that ran last (ns on clk).
	kill, phaseFrom, sendEnd int64
}

func (b *runner) logf(format string, a ...any) {
	fmt.Fprintf(b.cfg.Log, "%6.1fs  %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, a...))
}

// connect gives every member of every group its own client (one session
// per group, so that a group's backlog never waits in another group's
// send queue), joins it and waits for every member to see the full view.
func (b *runner) connect(ctx context.Context) error {
	b.members = map[string][]*member{}
	for gi, g := range Groups {
		if !slices.Contains(b.cfg.Groups, g) {
			continue
		}
		for _, n := range members(g) {
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			c, err := client.DialAgent(dctx, b.w.Node(n).Agent(), client.WithName(g), client.WithEventBuffer(1<<16))
			cancel()
			if err != nil {
				return fmt.Errorf("isolation: a client of %s for %s: %w", n, g, err)
			}
			m := newMember(n, gi, c, b.clk)
			go m.read()
			b.members[g] = append(b.members[g], m)
			jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err = c.Join(jctx, g)
			cancel()
			if err != nil {
				return fmt.Errorf("isolation: %s joins %s: %w", n, g, err)
			}
		}
	}
	return b.waitViews(ctx, nil)
}

// closeClients ends every client's session.
func (b *runner) closeClients() {
	for _, ms := range b.members {
		for _, m := range ms {
			m.c.Close()
		}
	}
}

// waitViews waits until every member of every group outside the sites
// in without sees a regular view of exactly the group's members outside
// them.
func (b *runner) waitViews(ctx context.Context, without []string) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		var missing []string
		for g, ms := range b.members {
			var want []string
			for _, m := range ms {
				if m.node != b.killed && !slices.Contains(without, siteOf(m.node)) {
					want = append(want, m.node+":"+g)
				}
			}
			slices.Sort(want)
			for _, m := range ms {
				if m.node == b.killed || slices.Contains(without, siteOf(m.node)) {
					continue
				}
				m.mu.Lock()
				ok := slices.Equal(m.view, want)
				m.mu.Unlock()
				if !ok {
					missing = append(missing, m.node+" in "+g)
				}
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			slices.Sort(missing)
			return fmt.Errorf("isolation: no view with every member within 90s at %s", strings.Join(missing, ", "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func siteOf(node string) string { s, _, _ := strings.Cut(node, "-"); return s }

func nodeIndex(node string) uint8 { return uint8(slices.Index(allNodes(), node)) }

// phaseLoad is the load of one phase: the total rate offered to each
// group (0: the group is idle), and abc-global's rate per site when set.
type phaseLoad struct {
	rate     map[string]float64
	siteRate map[string]float64 // abc-global's offered rate by site, overriding rate
}

// runPhase offers the phase's load for Warmup+Duration, calls during (if
// set) at its offset after the start, flushes the senders, waits until
// every receiver got everything, and computes the phase's figures.
//
// code is the phase code the messages carry (ph in the first round, see
// phaseCode); measured the length of the measured part. It returns the
// phase's figures and, by group, the window to pool it with the other
// rounds' (groupStatsOver).
func (b *runner) runPhase(ctx context.Context, ph int, code uint8, measured time.Duration, pl phaseLoad, at time.Duration, during func()) (Phase, map[string]window, error) {
	p := Phase{Name: PhaseNames[ph]}
	start := b.clk.now()
	from := start + int64(b.cfg.Warmup)
	b.phaseFrom, b.sendEnd = from, from+int64(measured)
	before := b.linkStats()
	holdsBefore := b.traceHolds()
	// The CPU over the measured part: from the warm-up's end to the end
	// of sending (not the flush and the wait for the deliveries after it).
	var cpuFrom, cpuTo cpuSample
	var cpuDone sync.WaitGroup
	cpuDone.Add(2)
	time.AfterFunc(b.cfg.Warmup, func() { cpuFrom = sampleCPU(); cpuDone.Done() })
	time.AfterFunc(b.cfg.Warmup+measured, func() { cpuTo = sampleCPU(); cpuDone.Done() })
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	senders := map[string][]sender{}
	for gi, g := range Groups {
		ms := b.members[g]
		if len(ms) == 0 || pl.rate[g] == 0 {
			continue
		}
		count := map[string]int{}
		for _, m := range ms {
			count[siteOf(m.node)]++
		}
		for _, m := range ms {
			if m.node == b.killed {
				continue
			}
			rate := pl.rate[g] / float64(len(ms))
			if r, ok := pl.siteRate[siteOf(m.node)]; ok && gi == slices.Index(Groups, ABCGlobal) {
				rate = r / float64(count[siteOf(m.node)])
			}
			size := b.cfg.Size
			if g == ABCGlobal {
				size = b.cfg.GlobalSize
			}
			senders[g] = append(senders[g], sender{m, nodeIndex(m.node)})
			wg.Go(func() {
				err := m.send(ctx, code, nodeIndex(m.node), load{rate: rate, size: size, dur: b.cfg.Warmup + measured})
				if err == nil {
					err = m.flush(ctx)
				}
				if err != nil && m.node != b.killed {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	if during != nil {
		t := time.NewTimer(at)
		select {
		case <-t.C:
			during()
		case <-ctx.Done():
			t.Stop()
		}
	}
	wg.Wait()
	cpuDone.Wait()
	p.CPU = cpuBetween(cpuFrom, cpuTo, runtime.NumCPU())
	b.logf("%s: CPU over the measured part: this process %.2f cores, the host %.2f of %d; goroutines waited runnable p50 %v p99 %v p99.9 %v; GC pauses %v (longest %v)",
		p.Name, p.CPU.Process, p.CPU.Host, runtime.NumCPU(), p.CPU.SchedP50.Round(time.Microsecond), p.CPU.SchedP99.Round(time.Microsecond), p.CPU.SchedP999.Round(time.Microsecond), p.CPU.GCPauses.Round(time.Microsecond), p.CPU.GCPauseMax.Round(time.Microsecond))
	end := b.clk.now()
	after := b.linkStats()
	p.Links = linkRates(before, after, time.Duration(end-start))
	p.TraceHolds = holdDeltas(holdsBefore, b.traceHolds())
	var hs []string
	for _, h := range p.TraceHolds {
		hs = append(hs, fmt.Sprintf("%s %d (%v; clients held %d passes)", h.Node, h.Holds, h.Held.Round(time.Microsecond), h.ClientsHeld))
	}
	if len(hs) > 0 {
		b.logf("%s: site a's sends held for the trace: %s", p.Name, strings.Join(hs, ", "))
	}
	if err := errors.Join(errs...); err != nil {
		return p, nil, err
	}
	wins := map[string]window{}
	// The killed node's messages are not owed to anyone; its clients
	// receive nothing more.
	for gi, g := range Groups {
		var live []sender
		for _, s := range senders[g] {
			if s.m.node != b.killed {
				live = append(live, s)
			}
		}
		if len(b.members[g]) == 0 {
			continue
		}
		recv := b.receivers(g)
		if err := b.waitDelivered(ctx, gi, code, start, live, recv); err != nil {
			b.logf("%v", err)
		}
		w := window{code, start, from, b.clk.now(), live}
		wins[g] = w
		p.Groups = append(p.Groups, groupStatsOver(gi, []window{w}, recv))
	}
	return p, wins, nil
}

// traceHolds returns site a's running agents' trace hold counters.
func (b *runner) traceHolds() map[string]TraceHold {
	out := map[string]TraceHold{}
	for _, id := range members(ALocal) {
		if n := b.w.Node(id); n != nil && n.Running() {
			c := n.Agent().Status().Counters
			out[id] = TraceHold{Node: id, Holds: c.TraceHolds, Held: c.TraceHeld, ClientsHeld: c.ClientsHeld}
		}
	}
	return out
}

// holdDeltas returns what the trace hold counters of the nodes in both
// grew by, by node.
func holdDeltas(before, after map[string]TraceHold) []TraceHold {
	var out []TraceHold
	for _, id := range slices.Sorted(maps.Keys(after)) {
		if b, ok := before[id]; ok {
			a := after[id]
			out = append(out, TraceHold{Node: id, Holds: a.Holds - b.Holds, Held: a.Held - b.Held, ClientsHeld: a.ClientsHeld - b.ClientsHeld})
		}
	}
	return out
}

// receivers are group's members that are still connected.
func (b *runner) receivers(g string) []*member {
	var out []*member
	for _, m := range b.members[g] {
		if m.node != b.killed {
			out = append(out, m)
		}
	}
	return out
}

// waitDelivered waits (up to DeliveryWait) until every receiver got every
// message the senders sent in the phase, but for the pairs that were in
// views without each other; the lost count is what is missing then.
func (b *runner) waitDelivered(ctx context.Context, group int, ph uint8, start int64, senders []sender, recv []*member) error {
	deadline := time.Now().Add(b.cfg.DeliveryWait)
	for {
		missing := 0
		apart := separated(senders, recv, start, b.clk.now())
		for _, s := range senders {
			s.m.mu.Lock()
			seqs := slices.Clone(s.m.sent[ph])
			s.m.mu.Unlock()
			for _, r := range recv {
				if apart[s.m][r] {
					continue
				}
				r.mu.Lock()
				for _, seq := range seqs {
					if r.got[key{uint8(group), ph, s.idx, seq}] == nil {
						missing++
					}
				}
				r.mu.Unlock()
			}
		}
		if missing == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("isolation: %s, phase %q: %d deliveries still missing after %v", Groups[group], PhaseNames[int(ph)%nPhases], missing, b.cfg.DeliveryWait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *runner) linkStats() []wanem.Stats {
	out := make([]wanem.Stats, len(wanLinks))
	for i, l := range wanLinks {
		if k := b.w.Mesh().Link(l[0], l[1]); k != nil {
			out[i] = k.Stats()
		}
	}
	return out
}

func linkRates(before, after []wanem.Stats, d time.Duration) []LinkStats {
	var out []LinkStats
	for i, l := range wanLinks {
		out = append(out, LinkStats{
			Link:       l[0] + "→" + l[1],
			BitsPerSec: float64(after[i].DeliveredBytes-before[i].DeliveredBytes) * 8 / d.Seconds(),
			QueueDrops: after[i].Drops.Queue - before[i].Drops.Queue,
		})
	}
	return out
}

// Run runs the benchmark once: it starts the world of sites (package
// internal/sites), connects the clients, runs the phases in order, checks
// EVS over every agent's trace and returns the report. The error is for
// a run that could not be carried out; a run that lost or duplicated
// messages or broke EVS returns its report, whose Err says so.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	yaml := Topology(cfg.CapBits, cfg.Groups)
	if _, _, err := Plan(yaml, cfg.Groups); err != nil {
		return nil, err
	}
	w, err := sites.New(sites.Config{Topology: yaml, Name: "isolation.yaml", Logs: cfg.AgentLogs, Dir: cfg.Dir})
	if err != nil {
		return nil, err
	}
	defer w.Close()
	defer func() {
		if err != nil {
			fmt.Fprintf(cfg.Log, "\nthe agents' logs:\n%s", tail(w.Logs(), 60))
		}
	}()
	p := w.Plan()
	r := &Report{Config: cfg, Started: time.Now(), Cores: runtime.NumCPU(), LoadStart: loadAvg()}
	gd, _ := p.Domain(wantDomain[ABCGlobal])
	r.Domain, r.Predicted, r.Failover.TokenTimeout = gd.Name, gd.Latency, gd.Timeouts.Token.D()
	for _, g := range gd.Gateways {
		if g.Site == "a" {
			r.Failover.Killed = g.Active
		}
	}
	b := &runner{cfg: cfg, w: w, start: r.Started, clk: clock{base: r.Started}}
	if err := w.StartAll(); err != nil {
		return nil, err
	}
	if err := w.WaitDomains(90 * time.Second); err != nil {
		return nil, err
	}
	b.logf("the sites' rings and federation domains formed: %s", strings.Join(fedDomains(p), ", "))
	if err := b.connect(ctx); err != nil {
		return nil, err
	}
	b.logf("every client joined its group: %s", strings.Join(cfg.Groups, ", "))

	light := phaseLoad{rate: map[string]float64{ALocal: cfg.LocalRate, ABRegional: cfg.RegionalRate, ABCGlobal: cfg.GlobalRate}}
	perSite := cfg.Saturation * float64(cfg.CapBits) / float64(8*cfg.GlobalSize)
	saturating := phaseLoad{rate: light.rate, siteRate: map[string]float64{}}
	for _, s := range cfg.SaturateFrom {
		saturating.siteRate[s] = perSite
	}
	detached := phaseLoad{rate: map[string]float64{ALocal: cfg.LocalRate, ABRegional: cfg.RegionalRate}}

	type step struct {
		ph, round int
		load      phaseLoad
		before    func() error
	}
	detach := func() error {
		b.logf("cutting site c off from a and b")
		if err := w.Mesh().Isolate("c"); err != nil {
			return err
		}
		return b.waitViews(ctx, []string{"c"})
	}
	steps := []step{{PhaseFailover, 0, light, nil}}
	if cfg.FailoverOnly {
		// The other phases stay in the report, empty, at their places.
		for ph := range PhaseFailover {
			r.Phases = append(r.Phases, Phase{Name: PhaseNames[ph]})
		}
	} else {
		steps = nil
		for k := range cfg.Rounds {
			steps = append(steps,
				step{PhaseDetached, k, detached, detach},
				step{PhaseAttached, k, light, func() error {
					b.logf("attaching site c again")
					if err := w.Mesh().Rejoin("c"); err != nil {
						return err
					}
					return b.waitViews(ctx, nil)
				}},
				step{PhaseSaturated, k, saturating, nil})
		}
		steps = append(steps, step{PhaseFailover, 0, light, nil})
		r.Rounds = make([][]Phase, cfg.Rounds)
	}
	// The rounds' windows of each phase, by group, to pool.
	pool := make([]map[string][]window, PhaseFailover)
	for ph := range pool {
		pool[ph] = map[string][]window{}
	}
	for _, s := range steps {
		if s.before != nil {
			if err := s.before(); err != nil {
				return nil, err
			}
		}
		measured := cfg.roundDuration()
		if s.ph == PhaseFailover {
			measured = cfg.Duration
			if !cfg.FailoverOnly {
				// Every round ran: pool them before the kill takes a
				// receiver away.
				for ph := range PhaseFailover {
					r.Phases = append(r.Phases, b.pooled(ph, r.Rounds, pool[ph]))
				}
			}
		}
		var during func()
		at := cfg.Warmup + measured/3
		if s.ph == PhaseFailover {
			during = func() {
				b.logf("killing %s, site a's active gateway of %s, at %s", r.Failover.Killed, r.Domain, time.Now().UTC().Format("15:04:05.000"))
				b.killed = r.Failover.Killed
				b.kill = b.clk.now()
				if err := w.Kill(r.Failover.Killed); err != nil {
					b.logf("kill %s: %v", r.Failover.Killed, err)
				}
			}
		}
		round := ""
		if s.ph != PhaseFailover && cfg.Rounds > 1 {
			round = fmt.Sprintf(" (round %d of %d)", s.round+1, cfg.Rounds)
		}
		b.logf("phase %q%s: %v", PhaseNames[s.ph], round, cfg.Warmup+measured)
		ph, wins, err := b.runPhase(ctx, s.ph, phaseCode(s.ph, s.round), measured, s.load, at, during)
		if err != nil {
			return nil, fmt.Errorf("isolation: phase %q%s: %w", PhaseNames[s.ph], round, err)
		}
		if s.ph == PhaseFailover {
			r.Phases = append(r.Phases, ph)
		} else {
			r.Rounds[s.round] = append(r.Rounds[s.round], ph)
			for g, w := range wins {
				pool[s.ph][g] = append(pool[s.ph][g], w)
			}
		}
		for _, g := range ph.Groups {
			b.logf("  %-12s sent %6d  p50 %-9s p99 %-9s lost %d dup %d", g.Group, g.Sent, bench.FormatLatency(g.P50), bench.FormatLatency(g.P99), g.Lost, g.Duplicated)
		}
		if s.ph == PhaseFailover {
			b.failover(&r.Failover)
			for _, site := range slices.Sorted(maps.Keys(r.Failover.AgainBySite)) {
				b.logf("  abc-global at site %s: delivering again %v after the kill (the end of its longest time without a delivery), gap %v", site,
					r.Failover.AgainBySite[site].Round(time.Millisecond), r.Failover.GapBySite[site].Round(time.Millisecond))
			}
		}
	}
	b.closeClients()
	res, err := w.Check()
	if err != nil {
		return nil, err
	}
	r.EVSEvents = res.Events
	r.Violations = []string{}
	for _, v := range res.Violations {
		r.Violations = append(r.Violations, v.String())
	}
	r.Elapsed, r.LoadEnd = time.Since(r.Started), loadAvg()
	return r, nil
}

// phaseCode is the phase code the messages of phase ph in round (from 0)
// carry: ph in the first round, so that a run of one round numbers its
// phases as before.
func phaseCode(ph, round int) uint8 { return uint8(ph + nPhases*round) }

// pooled is phase ph's figures over every round: each group's latencies
// and counts over the messages of all its windows (groupStatsOver), the
// links' rates averaged and their drops summed, the CPU figures averaged
// (the longest GC pause the longest), the trace holds summed.
func (b *runner) pooled(ph int, rounds [][]Phase, wins map[string][]window) Phase {
	p := Phase{Name: PhaseNames[ph]}
	var runs []Phase
	for _, r := range rounds {
		if ph < len(r) {
			runs = append(runs, r[ph])
		}
	}
	for gi, g := range Groups {
		if ws := wins[g]; len(ws) > 0 {
			p.Groups = append(p.Groups, groupStatsOver(gi, ws, b.receivers(g)))
		}
	}
	p.Overlap = b.overlap(wins[ALocal])
	n := float64(len(runs))
	holds := map[string]TraceHold{}
	for _, r := range runs {
		for i, l := range r.Links {
			if i == len(p.Links) {
				p.Links = append(p.Links, LinkStats{Link: l.Link})
			}
			p.Links[i].BitsPerSec += l.BitsPerSec / n
			p.Links[i].QueueDrops += l.QueueDrops
		}
		c := r.CPU
		p.CPU.Process += c.Process / n
		p.CPU.Host += c.Host / n
		p.CPU.SchedP50 += time.Duration(float64(c.SchedP50) / n)
		p.CPU.SchedP99 += time.Duration(float64(c.SchedP99) / n)
		p.CPU.SchedP999 += time.Duration(float64(c.SchedP999) / n)
		p.CPU.GCPauses += c.GCPauses
		p.CPU.GCPauseMax = max(p.CPU.GCPauseMax, c.GCPauseMax)
		for _, h := range r.TraceHolds {
			t := holds[h.Node]
			t.Node, t.Holds, t.Held, t.ClientsHeld = h.Node, t.Holds+h.Holds, t.Held+h.Held, t.ClientsHeld+h.ClientsHeld
			holds[h.Node] = t
		}
	}
	for _, id := range slices.Sorted(maps.Keys(holds)) {
		p.TraceHolds = append(p.TraceHolds, holds[id])
	}
	return p
}

// failover measures the delivery gaps of abc-global around the kill.
func (b *runner) failover(f *Failover) {
	f.GapBySite, f.AgainBySite = map[string]time.Duration{}, map[string]time.Duration{}
	for _, m := range b.receivers(ABCGlobal) {
		m.mu.Lock()
		times := slices.Clone(m.times)
		m.mu.Unlock()
		g, site := longestGap(times, b.kill, b.sendEnd), siteOf(m.node)
		if _, ok := f.GapBySite[site]; !ok || g > f.GapBySite[site] {
			// The end of the site's longest gap: that of the member
			// that had it.
			f.GapBySite[site], f.AgainBySite[site] = g, againAfter(times, b.kill, b.sendEnd)
		}
		f.Gap = max(f.Gap, g)
		f.Before = max(f.Before, longestGap(times, b.phaseFrom, b.kill))
		idle := idleAt(times, b.kill)
		f.IdleAtKill = max(f.IdleAtKill, idle)
		f.GapWithIdle = max(f.GapWithIdle, longestGap(times, b.kill-int64(idle), b.sendEnd))
	}
}

// fedDomains lists the plan's federation domains.
func fedDomains(p *topology.Plan) []string {
	var out []string
	for _, d := range p.FederationDomains() {
		out = append(out, d.Name)
	}
	return out
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "")
}
