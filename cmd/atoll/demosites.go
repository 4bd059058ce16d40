package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/internal/schedprobe"
	"github.com/atoll-gcs/atoll/internal/sites"
	"github.com/atoll-gcs/atoll/topology"
)

// sitesYAML is the demo's topology: site a (3 nodes) and site b (2) close
// to each other, site c (2) far from both. Three groups, one per latency
// class: a-local lives in site a (its ring alone orders it), ab-regional
// in the federation domain of a and b, abc-global in the domain of all
// three. Each site's gateways take turns as the active gateway of its
// domains; a's third gateway is the standby that takes over the global
// domain.
const sitesYAML = `version: 1
cluster: demo
classes:
  - {name: realtime, budget: 5ms}
  - {name: regional, budget: 100ms}
  - {name: global, budget: 30s}
sites:
  - name: a
    unicast: ["10.1.0.1:5405", "10.1.0.2:5405", "10.1.0.3:5405"]
    nodes: [{id: a-1}, {id: a-2}, {id: a-3}]
    gateways: [a-1, a-2, a-3]
  - name: b
    unicast: ["10.2.0.1:5405", "10.2.0.2:5405"]
    nodes: [{id: b-1}, {id: b-2}]
    gateways: [b-1, b-2]
  - name: c
    unicast: ["10.3.0.1:5405", "10.3.0.2:5405"]
    nodes: [{id: c-1}, {id: c-2}]
    gateways: [c-1, c-2]
links:
  - {between: [a, b], rtt: 10ms}
  - {between: [a, c], rtt: %s}
  - {between: [b, c], rtt: %s}
groups:
  - {name: a-local, class: realtime, sites: [a]}
  - {name: ab-regional, class: regional, sites: [a, b]}
  - {name: abc-global, class: global, sites: ["*"]}
`

const (
	localGroup    = "a-local"
	regionalGroup = "ab-regional"
	globalGroup   = "abc-global"
)

// sitesDemo is the state of `atoll demo`.
type sitesDemo struct {
	out   io.Writer
	w     *sites.World
	start time.Time
	bad   []string

	mu     sync.Mutex // serializes the output of the ticker and the phases
	stalls []time.Duration
	// phase counts the phases judged so far (count): the index of the
	// phase in progress.
	phase int
	// ringStallAt is the phase in progress at the last stall that passed
	// a ring's token timeout (-1: none so far): only such a stall can
	// separate members that stayed connected (every member of a ring
	// timing out at once), and not only in its phase: the rings and
	// domains forming again after one 300 ms stall ran on for about 20 s,
	// into the next phase, in a CI run. It excuses those two phases
	// (stallExcuses), not the ones after.
	ringStallAt int
	// longest is the longest stall, at its end (since start).
	longest, longestAt time.Duration
}

func (d *sitesDemo) printf(format string, a ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "%6.1fs  ", time.Since(d.start).Seconds())
	fmt.Fprintf(d.out, format, a...)
	fmt.Fprintln(d.out)
}

func (d *sitesDemo) section(format string, a ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "\n== "+format+"\n", a...)
}

// sitesOptions are the flags of the demo of three sites.
type sitesOptions struct {
	// farRTT is the round-trip time between site c and the others.
	farRTT time.Duration
	// kill: site a's gateway is killed (kill -9) rather than stopped
	// gracefully.
	kill bool
	// dir, when set, keeps the world's directory (traces, data,
	// certificates) and the agents' log there.
	dir string
	// stall, when set, stops the whole process for that long 2 s into
	// the steady load.
	stall time.Duration
}

// runSitesDemo runs the demo of three sites.
func runSitesDemo(out io.Writer, o sitesOptions) (err error) {
	farRTT, kill, dir := o.farRTT, o.kill, o.dir
	far := farRTT.String()
	cfg := sites.Config{Name: "demo.yaml", Topology: fmt.Appendf(nil, sitesYAML, far, far)}
	if dir != "" {
		if err := emptyDir(dir); err != nil {
			return usageError(fmt.Errorf("--dir: %w", err))
		}
		logs, err := os.Create(filepath.Join(dir, "agents.log"))
		if err != nil {
			return err
		}
		defer logs.Close()
		cfg.Dir, cfg.Logs, cfg.FedTrace = dir, logs, true
	}
	w, err := sites.New(cfg)
	if err != nil {
		return err
	}
	d := &sitesDemo{out: out, w: w, start: time.Now(), ringStallAt: -1}
	defer w.Close()
	defer d.watchStalls()()
	defer func() {
		if err != nil {
			if ee := (*exitError)(nil); !errors.As(err, &ee) {
				err = fmt.Errorf("%w%s", err, d.stallNote())
			}
			w.StopAll()
			if dir != "" {
				fmt.Fprintf(out, "\nagent logs: %s\n", filepath.Join(dir, "agents.log"))
			} else {
				fmt.Fprintf(out, "\nagent logs:\n%s", w.Logs())
			}
		}
	}()
	fmt.Fprintf(out, "Atoll demo: three sites in this process, 7 agents. Each site's ring runs on a simulated LAN; the sites'\n")
	fmt.Fprintf(out, "gateways federate over QUIC on loopback through the WAN emulator: a–b 10ms RTT, c %v from both.\n", farRTT)
	fmt.Fprintf(out, "The planner puts each group in the smallest EVS domain that holds its sites:\n")
	for _, pc := range w.Plan().Groups {
		fmt.Fprintf(out, "  %-12s %-9s sites %-6s domain %-17s predicted max %s\n", pc.Group, pc.Class, strings.Join(pc.Sites, ","), pc.Domain, pc.Latency.Max)
	}
	if err := w.StartAll(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	d.section("The sites' rings form, their gateways federate, the clients join")
	if err := w.WaitDomains(30 * time.Second); err != nil {
		return err
	}
	a, b, c := w.SiteNodes("a"), w.SiteNodes("b"), w.SiteNodes("c")
	all := w.Nodes()
	members := map[string][]string{localGroup: a, regionalGroup: slices.Concat(a, b), globalGroup: all}
	for _, g := range []string{localGroup, regionalGroup, globalGroup} {
		if err := w.JoinView(ctx, g, members[g], 30*time.Second); err != nil {
			return err
		}
	}
	for _, dom := range w.Plan().FederationDomains() {
		d.printf("%-17s active gateways %s", dom.Name, d.gateways(dom.Name, dom.Sites))
	}
	d.printf("%s: %d members (site a); %s: %d (a, b); %s: %d (a, b, c)", localGroup, len(a), regionalGroup, len(a)+len(b), globalGroup, len(all))

	d.section("Every group under load; each second: deliveries and latency (send to delivery, p50/p99) per group")
	tick := d.ticker()
	defer tick()
	// Senders: a-local from a's members, ab-regional from b's and a-3,
	// abc-global from b's and c's, and from a-3 when a's gateways stand.
	load := func(phase string, local, regional, global []string, dur time.Duration) []*sites.Generator {
		return []*sites.Generator{
			w.Load(sites.Load{Phase: phase, Senders: local, Groups: []string{localGroup}, Every: 20 * time.Millisecond, For: dur}),
			w.Load(sites.Load{Phase: phase, Senders: regional, Groups: []string{regionalGroup}, Every: 50 * time.Millisecond, For: dur}),
			w.Load(sites.Load{Phase: phase, Senders: global, Groups: []string{globalGroup}, Every: 100 * time.Millisecond, Size: 512, For: dur}),
		}
	}
	wait := func(gs []*sites.Generator) error {
		var errs []error
		for _, g := range gs {
			errs = append(errs, g.Wait())
		}
		return errors.Join(errs...)
	}
	gens := load("steady", a, []string{"a-3", "b-1", "b-2"}, slices.Concat([]string{"a-3"}, b, c), 4*time.Second)
	if o.stall > 0 {
		time.Sleep(2 * time.Second)
		d.printf("the whole process stops for %v (SIGSTOP), as on a stalled host or VM (--stall)", o.stall)
		if _, err := sites.StallProcess(o.stall); err != nil {
			return err
		}
	}
	if err := wait(gens); err != nil {
		return err
	}
	d.count("steady", all)

	globalDomain := w.Plan().Groups[slices.IndexFunc(w.Plan().Groups, func(p topology.Placement) bool { return p.Group == globalGroup })].Domain
	victim := d.active("a", globalDomain)
	how, stop := "stops", w.Stop
	if kill {
		how, stop = "is killed (kill -9)", w.Kill
	}
	d.section("%s, site a's active gateway of %s, %s under load", victim, globalDomain, how)
	live := slices.DeleteFunc(slices.Clone(all), func(id string) bool { return id == victim })
	liveA := slices.DeleteFunc(slices.Clone(a), func(id string) bool { return id == victim })
	gens = load("gateway", liveA, b, slices.Concat(b, c), 5*time.Second)
	time.Sleep(time.Second)
	killed := time.Now()
	if err := stop(victim); err != nil {
		return err
	}
	if kill {
		d.printf("%s killed: nothing it sends gets out any more, on its LAN or the WAN", victim)
	} else {
		d.printf("%s stopped: it left its rings, its client disconnected", victim)
	}
	if err := w.WaitDomain(globalDomain, live, 45*time.Second); err != nil {
		return err
	}
	d.printf("%s took over for site a: %s has all the live agents again after %.1fs", d.active("a", globalDomain), globalDomain, time.Since(killed).Seconds())
	if err := wait(gens); err != nil {
		return err
	}
	if err := w.WaitView(globalGroup, live, 30*time.Second); err != nil {
		return err
	}
	d.count("gateway", live)

	d.section("Site c is cut off the WAN, then healed")
	ab := slices.Concat(liveA, b)
	gens = load("cut", liveA, b, ab, 4*time.Second)
	if err := w.Isolate("c"); err != nil {
		return err
	}
	cut := time.Now()
	d.printf("site c cut off (every WAN path of c drops everything)")
	if err := w.WaitView(globalGroup, ab, 45*time.Second); err != nil {
		return err
	}
	d.view("b-1", globalGroup, "a and b go on without c", time.Since(cut))
	if err := w.WaitView(globalGroup, c, 45*time.Second); err != nil {
		return err
	}
	d.view("c-1", globalGroup, "c goes on alone", time.Since(cut))
	if err := wait(gens); err != nil {
		return err
	}
	d.count("cut", ab)
	if err := w.Rejoin("c"); err != nil {
		return err
	}
	healed := time.Now()
	d.printf("site c healed")
	if err := w.WaitView(globalGroup, live, 45*time.Second); err != nil {
		return err
	}
	d.view("b-1", globalGroup, "c is back", time.Since(healed))

	d.section("Every member of every group multicasts again")
	if err := wait(load("healed", liveA, slices.Concat(liveA, b), live, 3*time.Second)); err != nil {
		return err
	}
	d.count("healed", live)
	tick()

	d.section("The EVS checker reads every agent's trace")
	res, err := w.Check()
	if err != nil {
		return err
	}
	if len(res.Violations) > 0 {
		_ = evs.Report(out, res.Violations)
		d.bad = append(d.bad, fmt.Sprintf("%d EVS violations", len(res.Violations)))
	} else {
		var doms []string
		for _, k := range slices.Sorted(maps.Keys(res.ByDomain)) {
			doms = append(doms, fmt.Sprintf("%s %d", k, res.ByDomain[k]))
		}
		fmt.Fprintf(out, "%d trace events from the 7 agents (%s): no violation of extended virtual synchrony.\n", res.Events, strings.Join(doms, ", "))
	}
	legend := sitesLegendStop
	if kill {
		legend = sitesLegendKill
	}
	fmt.Fprintf(out, sitesLegend, time.Since(d.start).Seconds(), legend)
	if len(d.bad) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("demo: %s%s", strings.Join(d.bad, "; "), d.stallNote())}
	}
	return nil
}

const sitesLegend = `
What you saw (%.0fs):
  a-local      a group inside site a: ordered by a's ring alone, its latency stays at LAN scale
               whatever the WAN does, while c is cut off too; its one spike is a's own ring
               re-forming without the node that went away (a few hundred ms).
  ab-regional  a group of the two close sites: ordered by the federation ring of a's and b's
               gateways, about the a–b round trip, never waiting for c.
  abc-global   a group of all three sites: ordered by the gateways' ring over the far links, slow;
               it pauses while its domain re-forms (a's gateway replaced, c gone or back).
%s  cut, heal    c cut off: a's and b's members saw c's members leave abc-global with reason
               network, c's saw the others leave; healed, both sides merged back.
  lost/dup     messages of members that stayed connected, missing or delivered twice at members
               that stayed connected: both must be 0 (the demo exits 1 otherwise). So must their
               deliveries not owed because they were apart, unless a stall of the process past
               a ring's token timeout came in that phase or the one before.
  EVS check    every agent's trace (sends, deliveries, configurations of each ring and domain)
               against the properties of extended virtual synchrony (docs/EVS.md).
`

const (
	sitesLegendStop = `  stop         site a's active gateway of the global domain stopped; the next gateway of a took
               over: the members that stayed connected lost nothing and got nothing twice.
`
	sitesLegendKill = `  kill -9      site a's active gateway of the global domain crashed; the next gateway of a took
               over: the members that stayed connected lost nothing and got nothing twice.
`
)

// stallMin is how late a wake-up of the stall probe must be to be a stall
// of the process.
const stallMin = 150 * time.Millisecond

// watchStalls notes and prints every stall of the process (a goroutine
// of it did not run for stallMin or more: a stalled host or VM, SIGSTOP,
// or a starved CPU; internal/schedprobe) with the rings whose token
// timeout it passed, whose members may all lose the token at once and
// form them again (CI: every ring at one instant, then 40 s of forming).
// The function it returns stops it.
func (d *sitesDemo) watchStalls() (stop func()) {
	p := schedprobe.Start(d.start, stallMin, func(s schedprobe.Stall) {
		d.stalled(s.To-s.From, d.start.Add(s.To))
	})
	return p.Stop
}

// stalled notes and prints a stall of gap that ended at end.
func (d *sitesDemo) stalled(gap time.Duration, end time.Time) {
	byTimeout := map[time.Duration][]string{} // the rings whose token timeout gap passed
	for _, dom := range d.w.Plan().Domains {
		if tt := dom.Timeouts.Token.D(); tt > 0 && gap > tt {
			byTimeout[tt] = append(byTimeout[tt], dom.Name)
		}
	}
	var passed []string
	for _, tt := range slices.Sorted(maps.Keys(byTimeout)) {
		passed = append(passed, fmt.Sprintf("%s (%v)", strings.Join(byTimeout[tt], ", "), tt))
	}
	d.mu.Lock()
	d.stalls = append(d.stalls, gap)
	if len(passed) > 0 {
		d.ringStallAt = d.phase
	}
	if gap > d.longest {
		d.longest, d.longestAt = gap, end.Sub(d.start)
	}
	d.mu.Unlock()
	lost := "shorter than every ring's token timeout"
	if len(passed) > 0 {
		lost = "past the token timeout of " + strings.Join(passed, "; ") + ": their members may all time out at once and form those rings again"
	}
	d.printf("the process stalled for %v (a goroutine that wakes every %v did not run): %s", gap.Round(time.Millisecond), schedprobe.Interval, lost)
}

// stallNote says, for a failure, how the process stalled ("" if it did
// not): the demo judges real-time rings, and a stall longer than their
// token timeouts re-forms them all at once.
func (d *sitesDemo) stallNote() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.stalls) == 0 {
		return ""
	}
	return fmt.Sprintf(" (the process stalled %d times for %v or more, the longest %v ending at %.1fs: the demo judges rings in real time, and a stall past their token timeouts makes them all form again at once; its phases wait at most 30-45 s)",
		len(d.stalls), stallMin, d.longest.Round(time.Millisecond), d.longestAt.Seconds())
}

// gateways names the active gateway of domain at each of its sites.
func (d *sitesDemo) gateways(domain string, sites []string) string {
	var out []string
	for _, s := range sites {
		out = append(out, s+": "+d.active(s, domain))
	}
	return strings.Join(out, ", ")
}

// active returns the node that site's running nodes name as the active
// gateway of domain ("-" when none does).
func (d *sitesDemo) active(site, domain string) string {
	for _, id := range d.w.SiteNodes(site) {
		if n := d.w.Node(id); n.Running() {
			for _, ds := range n.Agent().Status().Domains {
				if ds.Domain == domain && ds.Active != "" {
					return ds.Active
				}
			}
		}
	}
	return "-"
}

// view prints the last regular view of group at node id.
func (d *sitesDemo) view(id, group, what string, after time.Duration) {
	v, _ := d.w.Node(id).LastView(group)
	change := ""
	if len(v.Left) > 0 {
		change += " left " + strings.Join(v.Left, " ")
	}
	if len(v.Joined) > 0 {
		change += " joined " + strings.Join(v.Joined, " ")
	}
	d.printf("%s after %.1fs: %s's view of %s:%s (reason %s), %d members", what, after.Seconds(), id, group, change, v.Reason, len(v.Members))
}

// count prints the lost and duplicated counts of phase among ids and
// notes what is wrong.
func (d *sitesDemo) count(phase string, ids []string) {
	c := d.w.Count(phase, ids, 30*time.Second)
	bad, excused := d.judge(c)
	apart := ""
	if c.Separated > 0 {
		apart = fmt.Sprintf(" (%d deliveries not owed: the receiver and the sender were apart, as EVS allows)", c.Separated)
	}
	if excused {
		apart += "; " + notJudged
	}
	d.printf("%-8s %4d messages sent by the members that stayed connected: %d lost, %d duplicated%s", phase+":", c.Sent, c.Lost, c.Dup, apart)
	if c.Lost > 0 {
		d.printf("  e.g. %s", strings.Join(c.Missing, ", "))
		for _, l := range c.Lacks {
			d.printf("  %v", l)
		}
	}
	d.bad = append(d.bad, bad...)
}

// notJudged ends the count line of a phase that stallExcuses: members
// apart are not judged there.
const notJudged = "members apart not judged: a stall of the process passed a ring's token timeout in this phase or the one before"

// judge judges c, the count of the phase in progress, and moves on to the
// next phase; excused says whether a stall excused members apart in it
// (stallExcuses).
func (d *sitesDemo) judge(c sites.Count) (bad []string, excused bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	excused = stallExcuses(d.ringStallAt, d.phase)
	d.phase++
	return judgeCount(c, excused), excused
}

// stallExcuses reports whether a stall that passed a ring's token timeout
// in phase at (-1: none) excuses members apart in phase: its own and the
// next one.
func stallExcuses(at, phase int) bool {
	return at >= 0 && (phase == at || phase == at+1)
}

// judgeCount says what is wrong with a phase's count; stalled says
// whether a stall of the process that passed a ring's token timeout
// excuses members apart in it (stallExcuses). Lost and duplicated
// messages always are. So are deliveries not owed because receiver and
// sender were apart (sites.Count.Separated): EVS allows them, but the
// members the demo counts stay connected throughout (the victim and,
// while cut off, site c are left out), so only a stall that made a whole
// ring time out at once, or the forming again that follows it, may
// separate them.
func judgeCount(c sites.Count, stalled bool) []string {
	var bad []string
	if c.Lost > 0 {
		bad = append(bad, fmt.Sprintf("%s: %d messages lost", c.Phase, c.Lost))
	}
	if c.Dup > 0 {
		bad = append(bad, fmt.Sprintf("%s: %d messages duplicated", c.Phase, c.Dup))
	}
	if c.Separated > 0 && !stalled {
		bad = append(bad, fmt.Sprintf("%s: %d deliveries not owed because members that stayed connected were apart, with no stall of the process in that phase or the one before to explain it (a configuration change the phase should not make)", c.Phase, c.Separated))
	}
	return bad
}

// ticker prints, every second, each group's deliveries in that second and
// their latencies; the function it returns stops it (once).
func (d *sitesDemo) ticker() func() {
	return every(time.Second, func() {
		lat := d.w.TakeLatencies()
		d.printf("%s | %s | %s", latency(localGroup, lat[localGroup]), latency(regionalGroup, lat[regionalGroup]), latency(globalGroup, lat[globalGroup]))
	})
}

// every calls f every period on a goroutine of its own until the function
// it returns is called (once; later calls do nothing), which waits until
// f returned.
func every(period time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f()
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-stopped }) }
}

// latency summarizes one group's latencies in a second.
func latency(group string, ls []time.Duration) string {
	if len(ls) == 0 {
		return fmt.Sprintf("%s %4d  %17s", group, 0, "")
	}
	slices.Sort(ls)
	return fmt.Sprintf("%s %4d  %7s /%7s", group, len(ls), ms(ls[len(ls)/2]), ms(ls[len(ls)*99/100]))
}

// ms formats d in milliseconds with a precision that fits its size.
func ms(d time.Duration) string {
	switch f := float64(d.Microseconds()) / 1000; {
	case f < 10:
		return fmt.Sprintf("%.1fms", f)
	default:
		return fmt.Sprintf("%.0fms", f)
	}
}

// emptyDir makes dir if it does not exist and fails if it holds anything:
// the agents' data of an earlier run there would be taken for theirs.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	es, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(es) > 0 {
		return fmt.Errorf("%s is not empty (name a new or empty directory: an earlier run's agent data there would be taken for this one's)", dir)
	}
	return nil
}
