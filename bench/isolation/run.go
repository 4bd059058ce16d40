package isolation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/bench"
	"github.com/atoll-gcs/atoll/internal/schedprobe"
	"github.com/atoll-gcs/atoll/internal/sites"
	"github.com/atoll-gcs/atoll/internal/syncbuf"
	"github.com/atoll-gcs/atoll/internal/wanem"
	"github.com/atoll-gcs/atoll/topology"
)

// runner is the state of one run.
type runner struct {
	cfg     Config
	w       *sites.World // the coordinator's: the WAN mesh, the plan, the traces
	clk     clock
	start   time.Time
	members map[string][]*member // by group
	byName  map[string]*member   // by member name (node:group)
	// workers run the sites' agents and sessions: one per site, each in a
	// process of its own, or one for all in this process (OneProcess).
	workers []caller
	bySite  map[string]caller
	killed  string
	// kill is when the gateway was killed; phaseFrom and sendEnd are the
	// start of the measured part and the end of the sending of the phase
	// that ran last (ns on clk).
	kill, phaseFrom, sendEnd int64

	gcMu    sync.Mutex
	gcMarks map[string][]span // the site processes' collector cycles (noteGC)
}

func (b *runner) logf(format string, a ...any) {
	fmt.Fprintf(b.cfg.Log, "%6.1fs  %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, a...))
}

// all calls q at every worker at once and returns their answers, in the
// workers' order, or the first error.
func (b *runner) all(ctx context.Context, q request) ([]answer, error) {
	as := make([]answer, len(b.workers))
	errs := make([]error, len(b.workers))
	var wg sync.WaitGroup
	for i, k := range b.workers {
		wg.Go(func() { as[i], errs[i] = k.call(ctx, q) })
	}
	wg.Wait()
	return as, errors.Join(errs...)
}

// sync applies the members' events since the last sync.
func (b *runner) sync(ctx context.Context) error {
	as, err := b.all(ctx, request{Op: opSync})
	if err != nil {
		return err
	}
	for _, a := range as {
		for name, es := range a.Events {
			m := b.byName[name]
			if m == nil {
				return fmt.Errorf("isolation: events of %q, not a member", name)
			}
			for _, e := range es {
				m.apply(e)
			}
		}
	}
	return nil
}

// waitDomains waits until, in every federation domain, every node of its
// sites shares one configuration of all of them.
func (b *runner) waitDomains(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		as, err := b.all(ctx, request{Op: opStatus})
		if err != nil {
			return err
		}
		statuses := map[string][]agent.DomainStatus{}
		for _, a := range as {
			for id, st := range a.Nodes {
				statuses[id] = st.Domains
			}
		}
		ok, last := true, ""
		for _, d := range b.w.Plan().FederationDomains() {
			var ids []string
			for _, s := range d.Sites {
				ids = append(ids, siteNodes[s]...)
			}
			if ok, last = sites.OneConfiguration(d.Name, ids, statuses); !ok {
				last = d.Name + ": " + last
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("isolation: the federation domains did not form within %v (%s)", timeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// connect gives every member of every group its own client (one session
// per group, so that a group's backlog never waits in another group's
// send queue), joins it and waits for every member to see the full view.
func (b *runner) connect(ctx context.Context) error {
	b.members, b.byName = map[string][]*member{}, map[string]*member{}
	byWorker := map[caller][]string{}
	for gi, g := range Groups {
		if !slices.Contains(b.cfg.Groups, g) {
			continue
		}
		for _, n := range members(g) {
			m := newMember(n, gi, b.clk)
			b.members[g] = append(b.members[g], m)
			b.byName[m.name()] = m
			k := b.bySite[siteOf(n)]
			byWorker[k] = append(byWorker[k], m.name())
		}
	}
	errs := make([]error, len(b.workers))
	var wg sync.WaitGroup
	for i, k := range b.workers {
		wg.Go(func() { _, errs[i] = k.call(ctx, request{Op: opConnect, Members: byWorker[k]}) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return b.waitViews(ctx, nil)
}

// waitViews waits until every member of every group outside the sites
// in without sees a regular view of exactly the group's members outside
// them.
func (b *runner) waitViews(ctx context.Context, without []string) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		if err := b.sync(ctx); err != nil {
			return err
		}
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
	holdsBefore, err := b.traceHolds(ctx)
	if err != nil {
		return p, nil, err
	}
	// The CPU over the measured part: from the warm-up's end to the end
	// of sending (not the flush and the wait for the deliveries after it),
	// each worker's process's, and this one's where the workers are
	// children.
	var cpuFrom, cpuTo cpuSample
	var cpuDone sync.WaitGroup
	cpuDone.Add(2)
	time.AfterFunc(b.cfg.Warmup, func() { cpuFrom = sampleCPU(); cpuDone.Done() })
	time.AfterFunc(b.cfg.Warmup+measured, func() { cpuTo = sampleCPU(); cpuDone.Done() })
	reqs := map[caller]*phaseRequest{}
	for _, k := range b.workers {
		reqs[k] = &phaseRequest{Code: code, Warmup: b.cfg.Warmup, Measured: measured}
		if b.cfg.ExecTrace != "" {
			reqs[k].ExecTrace = execTraceName(b.cfg.ExecTrace, b.processSite(k), code)
		}
	}
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
		live := slices.DeleteFunc(slices.Clone(ms), func(m *member) bool { return m.node == b.killed })
		for j, m := range live {
			rate := pl.rate[g] / float64(len(ms))
			if r, ok := pl.siteRate[siteOf(m.node)]; ok && gi == slices.Index(Groups, ABCGlobal) {
				rate = r / float64(count[siteOf(m.node)])
			}
			size := b.cfg.Size
			if g == ABCGlobal {
				size = b.cfg.GlobalSize
			}
			senders[g] = append(senders[g], sender{m, nodeIndex(m.node)})
			q := reqs[b.bySite[siteOf(m.node)]]
			q.Senders = append(q.Senders, senderLoad{Member: m.name(), Index: nodeIndex(m.node), Rate: rate, Size: size, Dur: b.cfg.Warmup + measured, Slot: float64(j) / float64(len(live))})
		}
	}
	as := make([]answer, len(b.workers))
	errs := make([]error, len(b.workers))
	var wg sync.WaitGroup
	for i, k := range b.workers {
		wg.Go(func() { as[i], errs[i] = k.call(ctx, request{Op: opPhase, Phase: reqs[k]}) })
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
	if err := errors.Join(errs...); err != nil {
		return p, nil, err
	}
	var sendErrs []error
	for i, a := range as {
		for name, seqs := range a.Sent {
			if m := b.byName[name]; m != nil {
				m.mu.Lock()
				m.sent[code] = seqs
				m.mu.Unlock()
			}
		}
		for _, node := range slices.Sorted(maps.Keys(a.SendErrors)) {
			if node != b.killed {
				sendErrs = append(sendErrs, errors.New(a.SendErrors[node]))
			}
		}
		if a.CPU != nil {
			p.Processes = append(p.Processes, ProcessCPU{Process: b.workers[i].name(), CPU: *a.CPU})
			if b.workers[i] == b.bySite["a"] {
				p.CPU = *a.CPU
			}
		}
	}
	if len(b.workers) > 1 {
		p.Processes = append(p.Processes, ProcessCPU{Process: coordinatorName, CPU: cpuBetween(cpuFrom, cpuTo, runtime.NumCPU())})
	}
	b.logf("%s: CPU over the measured part: the host %.2f of %d", p.Name, p.CPU.Host, runtime.NumCPU())
	if len(b.workers) > 1 {
		var gcs []string
		for _, s := range slices.Sorted(maps.Keys(siteNodes)) {
			n, d := gcWithin(b.gcSpans(s), from, from+int64(measured))
			gcs = append(gcs, fmt.Sprintf("%s %d (%v)", s, n, d.Round(100*time.Microsecond)))
		}
		b.logf("%s: collector cycles in the measured part, and their time in it, by site's process: %s", p.Name, strings.Join(gcs, ", "))
	}
	for _, pc := range p.Processes {
		b.logf("  %s: %.2f cores; goroutines waited runnable p50 %v p99 %v p99.9 %v; GC pauses %v (longest %v), stopping the world %v of them (longest %v)", pc.Process,
			pc.CPU.Process, pc.CPU.SchedP50.Round(time.Microsecond), pc.CPU.SchedP99.Round(time.Microsecond), pc.CPU.SchedP999.Round(time.Microsecond), pc.CPU.GCPauses.Round(time.Microsecond), pc.CPU.GCPauseMax.Round(time.Microsecond),
			pc.CPU.GCStops.Round(time.Microsecond), pc.CPU.GCStopMax.Round(time.Microsecond))
	}
	end := b.clk.now()
	after := b.linkStats()
	p.Links = linkRates(before, after, time.Duration(end-start))
	holdsAfter, err := b.traceHolds(ctx)
	if err != nil {
		return p, nil, err
	}
	p.TraceHolds = holdDeltas(holdsBefore, holdsAfter)
	var hs []string
	for _, h := range p.TraceHolds {
		hs = append(hs, fmt.Sprintf("%s %d (%v; clients held %d passes)", h.Node, h.Holds, h.Held.Round(time.Microsecond), h.ClientsHeld))
	}
	if len(hs) > 0 {
		b.logf("%s: site a's sends held for the trace: %s", p.Name, strings.Join(hs, ", "))
	}
	if err := errors.Join(sendErrs...); err != nil {
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
			if ctx.Err() != nil {
				return p, nil, context.Cause(ctx)
			}
			b.logf("%v", err)
		}
		w := window{code, start, from, b.clk.now(), live}
		wins[g] = w
		p.Groups = append(p.Groups, groupStatsOver(gi, []window{w}, recv))
	}
	return p, wins, nil
}

// traceHolds returns site a's running agents' trace hold counters.
func (b *runner) traceHolds(ctx context.Context) (map[string]TraceHold, error) {
	a, err := b.bySite["a"].call(ctx, request{Op: opStatus})
	if err != nil {
		return nil, err
	}
	out := map[string]TraceHold{}
	for id, st := range a.Nodes {
		if siteOf(id) == "a" {
			out[id] = st.Holds
		}
	}
	return out, nil
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
// message the senders sent in the phase that it is owed (missing); the
// lost count is what is missing then.
func (b *runner) waitDelivered(ctx context.Context, group int, ph uint8, start int64, senders []sender, recv []*member) error {
	deadline := time.Now().Add(b.cfg.DeliveryWait)
	for {
		if err := b.sync(ctx); err != nil {
			return err
		}
		n := missing(group, ph, start, b.clk.now(), senders, recv)
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("isolation: %s, phase %q: %d deliveries still missing after %v", Groups[group], PhaseNames[int(ph)%nPhases], n, b.cfg.DeliveryWait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// missing counts the (message, receiver) pairs of group's messages of
// phase ph, which started at start, that a receiver is owed and has not
// got by now: all but the pairs that were in views without each other
// (separated) and the messages their senders got in a transitional view
// without the receiver (ownCopy.apart).
func missing(group int, ph uint8, start, now int64, senders []sender, recv []*member) int {
	n := 0
	apart := separated(senders, recv, start, now)
	for _, s := range senders {
		s.m.mu.Lock()
		var keys []key
		var own []ownCopy
		for _, seq := range s.m.sent[ph] {
			k := key{uint8(group), ph, s.idx, seq}
			keys = append(keys, k)
			own = append(own, s.m.own(k))
		}
		s.m.mu.Unlock()
		for _, r := range recv {
			if apart[s.m][r] {
				continue
			}
			r.mu.Lock()
			for i, k := range keys {
				if r.got[k] == nil && !own[i].apart(r.name()) {
					n++
				}
			}
			r.mu.Unlock()
		}
	}
	return n
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
	if cfg.ExecTrace != "" {
		if err := os.MkdirAll(cfg.ExecTrace, 0o755); err != nil {
			return nil, fmt.Errorf("isolation: the execution traces' directory: %w", err)
		}
	}
	w, err := sites.New(sites.Config{Topology: yaml, Name: "isolation.yaml", Logs: cfg.AgentLogs, Dir: cfg.Dir, NoTrace: cfg.NoTrace})
	if err != nil {
		return nil, err
	}
	defer w.Close()
	// A site's process that ends during the run ends it (cause: which
	// site, how); the sites' processes end with the context.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var logs []*childLogs
	defer func() {
		if err == nil {
			return
		}
		if cfg.OneProcess {
			fmt.Fprintf(cfg.Log, "\nthe agents' logs:\n%s", tail(w.Logs(), 60))
		}
		for _, l := range logs {
			if l.buf != nil {
				fmt.Fprintf(cfg.Log, "\nthe agents' logs of site %s's process:\n%s", l.site, tail(l.buf.String(), 40))
			}
		}
	}()
	p := w.Plan()
	r := &Report{Config: cfg, Started: time.Now(), Cores: runtime.NumCPU(), LoadStart: schedprobe.LoadAvg()}
	gd, _ := p.Domain(wantDomain[ABCGlobal])
	r.Domain, r.Predicted, r.Failover.TokenTimeout = gd.Name, gd.Latency, gd.Timeouts.Token.D()
	for _, g := range gd.Gateways {
		if g.Site == "a" {
			r.Failover.Killed = g.Active
		}
	}
	b := &runner{cfg: cfg, w: w, start: r.Started, clk: clock{base: r.Started.UnixNano()}, bySite: map[string]caller{}}
	if cfg.OneProcess {
		if err := w.StartAll(); err != nil {
			return nil, err
		}
		k := local{&worker{w: w, sites: slices.Sorted(maps.Keys(siteNodes)), clk: b.clk, sessions: map[string]*session{}}}
		b.workers = []caller{k}
		for s := range siteNodes {
			b.bySite[s] = k
		}
	} else {
		spec := w.Spec()
		var agentLogs io.Writer
		if cfg.AgentLogs != nil {
			agentLogs = &syncbuf.Writer{W: cfg.AgentLogs}
		}
		for _, s := range slices.Sorted(maps.Keys(siteNodes)) {
			l := &childLogs{site: s, w: agentLogs}
			if l.w == nil {
				l.buf = &syncbuf.Buffer{}
				l.w = l.buf
			}
			logs = append(logs, l)
			c, err := startChild(ctx, s, l.w, cancel, func(from, to time.Time) { b.noteGC(s, from, to) })
			if err != nil {
				return nil, err
			}
			defer c.kill()
			if _, err := c.call(ctx, request{Op: opStart, Spec: &spec, Sites: []string{s}, Base: b.clk.base, CPUs: cfg.pinned(s), Idle: cfg.background(s)}); err != nil {
				return nil, err
			}
			b.workers = append(b.workers, c)
			b.bySite[s] = c
		}
		if cpus := cfg.pinned(""); len(cpus) > 0 {
			if err := pin(cpus); err != nil {
				return nil, err
			}
		}
		if cfg.background("") {
			if err := idle(); err != nil {
				return nil, err
			}
		}
		b.logf("each site runs in a process of its own (pids %s); the WAN relays in this one (pid %d)", b.pids(), os.Getpid())
	}
	if err := b.waitDomains(ctx, 90*time.Second); err != nil {
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
				if _, err := b.bySite["a"].call(ctx, request{Op: opKill, Node: r.Failover.Killed}); err != nil {
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
	if cfg.Deliveries != nil {
		if err := b.writeDeliveries(cfg.Deliveries); err != nil {
			return nil, fmt.Errorf("isolation: write the deliveries: %w", err)
		}
	}
	// Every process stops its sessions and agents; the ones killed before
	// count as failed in the check.
	for _, k := range b.workers {
		a, err := k.stop(ctx)
		if err != nil {
			return nil, err
		}
		w.MarkFailed(a.Failed...)
	}
	r.Violations = []string{}
	if cfg.NoTrace {
		if err := w.StopAll(); err != nil {
			return nil, err
		}
	} else {
		res, err := w.Check()
		if err != nil {
			return nil, err
		}
		r.EVSChecked, r.EVSEvents = true, res.Events
		for _, v := range res.Violations {
			r.Violations = append(r.Violations, v.String())
		}
	}
	r.Elapsed, r.LoadEnd = time.Since(r.Started), schedprobe.LoadAvg()
	return r, nil
}

// processSite names the site worker k runs, or "all" when it runs every
// site (Config.OneProcess).
func (b *runner) processSite(k caller) string {
	if b.cfg.OneProcess {
		return "all"
	}
	for s, c := range b.bySite {
		if c == k {
			return s
		}
	}
	return "coordinator"
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
		p.CPU.add(r.CPU, n)
		for _, pc := range r.Processes {
			i := slices.IndexFunc(p.Processes, func(q ProcessCPU) bool { return q.Process == pc.Process })
			if i < 0 {
				i = len(p.Processes)
				p.Processes = append(p.Processes, ProcessCPU{Process: pc.Process})
			}
			p.Processes[i].CPU.add(pc.CPU, n)
		}
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

// pids lists the sites' processes' ids.
func (b *runner) pids() string {
	var out []string
	for _, k := range b.workers {
		if c, ok := k.(*child); ok {
			out = append(out, fmt.Sprintf("%s %d", c.site, c.cmd.Process.Pid))
		}
	}
	return strings.Join(out, ", ")
}
