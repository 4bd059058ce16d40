package sim

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/localring"
)

// partialFault is a fault that persists until healed and leaves the
// victim's tokens passing: nothing but the ring's own failure detection
// can take the victim out.
type partialFault struct {
	name   string
	nodes  int
	victim int  // slot
	evict  bool // the victim must be taken out of the ring (in a ring of two, either node)
	apply  func(c *Cluster, victim int)
}

var partialFaults = []partialFault{
	{"mute member", 3, 1, true, func(c *Cluster, v int) { c.MuteMulticast(v, 1) }},
	{"mute representative", 4, 0, true, func(c *Cluster, v int) { c.MuteMulticast(v, 1) }},
	{"mute in a ring of two", 2, 1, true, func(c *Cluster, v int) { c.MuteMulticast(v, 1) }},
	{"deaf member", 4, 2, true, func(c *Cluster, v int) { c.DeafMulticast(v, 1) }},
	{"deaf representative", 3, 0, true, func(c *Cluster, v int) { c.DeafMulticast(v, 1) }},
	{"lossy link", 3, 2, false, func(c *Cluster, v int) { c.LossyLink(0, v, 0.5) }},
	{"lossy links into one node", 5, 3, false, func(c *Cluster, v int) {
		for i := 0; i < c.Size(); i++ {
			if i != v {
				c.LossyLink(i, v, 0.3)
			}
		}
	}},
}

// partialLog, when set, receives the runs' logs (for debugging).
var partialLog io.Writer

// partialOutcome is what one run under a partial fault measured.
type partialOutcome struct {
	maxGap       time.Duration // longest time a healthy node delivered nothing, from the fault on
	evicted      bool          // a healthy node reported the victim's eviction
	evictedAfter time.Duration // from the fault to the first such report
	evictReason  string
	retransmits  uint64 // by every node while the fault lasted
	faultFor     time.Duration
	readmittedIn time.Duration // from the heal to one ring of all; 0 if never
}

// runPartialFault forms a ring, offers load at every node, applies the
// fault for faultFor, heals it and checks that the ring takes the victim
// back, that EVS holds and that the healthy nodes lost nothing.
func runPartialFault(t *testing.T, seed uint64, pf partialFault, faultFor time.Duration) partialOutcome {
	t.Helper()
	c := NewCluster(seed, pf.nodes)
	c.Log = partialLog
	c.StartAll()
	if !c.RunUntil(c.Now().Add(5*time.Second), c.Converged) {
		t.Fatalf("%s, seed %d: no ring at start: %s", pf.name, seed, c.describe())
	}
	var out partialOutcome
	victim := c.NodeID(pf.victim)
	var t0 time.Time
	last := map[localring.NodeID]time.Time{}
	c.OnEvent = func(node localring.NodeID, inc uint64, e localring.Event) {
		if node == victim || t0.IsZero() {
			return
		}
		switch e.Kind {
		case localring.EventDeliver:
			if gap := c.Now().Sub(last[node]); gap > out.maxGap {
				out.maxGap = gap
			}
			last[node] = c.Now()
		case localring.EventEvict:
			if (e.Evicted.ID == victim || pf.nodes == 2) && !out.evicted {
				out.evicted, out.evictReason, out.evictedAfter = true, e.Reason, c.Now().Sub(t0)
			}
		}
	}
	retransmits := func() uint64 {
		var n uint64
		for i := 0; i < c.Size(); i++ {
			n += c.Node(i).Stats().Retransmits
		}
		return n
	}
	load := func(d time.Duration) { offerLoad(c, d) }
	load(200 * time.Millisecond)

	t0 = c.Now()
	for i := 0; i < c.Size(); i++ {
		last[c.NodeID(i)] = t0
	}
	before := retransmits()
	faultFrom := len(c.Trace())
	pf.apply(c, pf.victim)
	load(faultFor)
	for i := 0; i < c.Size(); i++ {
		if id := c.NodeID(i); id != victim {
			if gap := c.Now().Sub(last[id]); gap > out.maxGap {
				out.maxGap = gap
			}
		}
	}
	out.retransmits = retransmits() - before
	out.faultFor = faultFor
	t0 = time.Time{} // no load from here on: stop measuring gaps

	c.Heal()
	healed := c.Now()
	if c.RunUntil(c.Now().Add(20*time.Second), c.Converged) {
		out.readmittedIn = c.Now().Sub(healed)
	} else {
		t.Errorf("%s, seed %d: no ring of all nodes 20s after the fault healed: %s", pf.name, seed, c.describe())
	}
	for _, v := range checkAfterHeal(c) {
		t.Errorf("%s, seed %d: %s", pf.name, seed, v)
	}
	if lost := lostForHealthy(c, string(victim)); lost != "" {
		t.Errorf("%s, seed %d: %s", pf.name, seed, lost)
	}
	if split := splitHealthy(c, faultFrom, string(victim)); split != "" && !pf.evict {
		t.Errorf("%s, seed %d: healthy nodes split: %s", pf.name, seed, split)
	}
	return out
}

// offerLoad submits a message of 200 bytes at every node every 5 ms for
// d, a quarter of them Safe, and runs the cluster meanwhile.
func offerLoad(c *Cluster, d time.Duration) {
	for end := c.Now().Add(d); c.Now().Before(end); {
		for i := 0; i < c.Size(); i++ {
			svc := localring.Agreed
			if c.rng.IntN(4) == 0 {
				svc = localring.Safe
			}
			_ = c.Submit(i, svc, 200)
		}
		c.RunFor(5 * time.Millisecond)
	}
}

// splitHealthy reports a regular configuration that a healthy node (not
// one of the victims) installed, from the trace's event from on, without
// another healthy node ("" if none): the ring split nodes that all reach
// each other.
func splitHealthy(c *Cluster, from int, victims ...string) string {
	for _, e := range c.Trace()[from:] {
		if e.Ev != evs.EvInstall || slices.Contains(victims, e.Node) || e.Conf == nil || e.Conf.Kind != evs.KindRegular {
			continue
		}
		for i := 0; i < c.Size(); i++ {
			if id := string(c.NodeID(i)); !slices.Contains(victims, id) && !slices.Contains(e.Conf.Members, id) {
				return fmt.Sprintf("%s installed %s %v, without %s", e.Node, e.Conf.ID, e.Conf.Members, id)
			}
		}
	}
	return ""
}

// checkAfterHeal has every node send an Agreed and a Safe message once
// the fault healed, lets the ring go quiet and returns what the EVS
// checker finds in the whole run: the properties of a quiescent run, and
// every live node in one configuration at the end.
func checkAfterHeal(c *Cluster) []evs.Violation {
	for i := 0; i < c.Size(); i++ {
		_ = c.Submit(i, localring.Agreed, 100)
		_ = c.Submit(i, localring.Safe, 100)
	}
	c.RunFor(500 * time.Millisecond)
	c.RunUntil(c.Now().Add(5*time.Second), c.Quiet)
	c.RunFor(500 * time.Millisecond)
	vs := evs.Check(c.Trace(), evs.Options{Failed: c.Failed(), Quiescent: true})
	return append(vs, evs.CheckConverged(c.Trace(), c.Live())...)
}

// lostForHealthy reports a message a healthy node (not one of the
// victims) sent that another healthy node did not deliver ("" if none).
func lostForHealthy(c *Cluster, victims ...string) string {
	delivered := map[string]map[string]bool{}
	var sent []evs.Event
	for _, e := range c.Trace() {
		if slices.Contains(victims, e.Node) {
			continue
		}
		switch e.Ev {
		case evs.EvSend:
			sent = append(sent, e)
		case evs.EvDeliver:
			if delivered[e.Node] == nil {
				delivered[e.Node] = map[string]bool{}
			}
			delivered[e.Node][e.Msg] = true
		}
	}
	for i := 0; i < c.Size(); i++ {
		id := string(c.NodeID(i))
		if slices.Contains(victims, id) {
			continue
		}
		for _, s := range sent {
			if !delivered[id][s.Msg] {
				return fmt.Sprintf("%s never delivered %s, sent by %s", id, s.Msg, s.Node)
			}
		}
	}
	return ""
}

var (
	partialSeeds = flag.Int("partial-seeds", 0, "seeds per case of TestPersistentPartialFaults (0: 3, 1 with -short)")
	partialFirst = flag.Int("partial-first", 1, "the first seed of TestPersistentPartialFaults")
)

// TestPersistentPartialFaults is issue 10's liveness defect: one node's
// multicasts are dropped (or it receives none, or a link keeps losing
// packets) while its tokens pass, for longer than any timeout. The healthy
// nodes must deliver again within 2 s (issue 10's target) and lose nothing;
// a victim that cannot take part is taken out with an event naming it and
// the cause, and taken back once the fault heals; retransmissions stay
// bounded meanwhile.
func TestPersistentPartialFaults(t *testing.T) {
	t.Parallel()
	const faultFor = 4 * time.Second
	for _, pf := range partialFaults {
		t.Run(strings.ReplaceAll(pf.name, " ", "_"), func(t *testing.T) {
			var gaps []time.Duration
			seeds := 3
			if testing.Short() {
				seeds = 1
			}
			if *partialSeeds > 0 {
				seeds = *partialSeeds
			}
			first := uint64(*partialFirst)
			for seed := first; seed < first+uint64(seeds); seed++ {
				gaps = append(gaps, checkPartialFault(t, seed, pf, faultFor))
			}
			slices.Sort(gaps)
			t.Logf("longest delivery gap over %d seeds: %v", len(gaps), gaps[len(gaps)-1])
		})
	}
}

// checkPartialFault runs pf at seed (runPartialFault) and checks the
// bounds TestPersistentPartialFaults states; it returns the longest
// delivery gap at the healthy nodes.
func checkPartialFault(t *testing.T, seed uint64, pf partialFault, faultFor time.Duration) time.Duration {
	t.Helper()
	out := runPartialFault(t, seed, pf, faultFor)
	rate := float64(out.retransmits) / faultFor.Seconds()
	t.Logf("seed %d: longest delivery gap at the healthy nodes %v; evicted %v after %v (%s); %.0f retransmissions/s during the fault; one ring again %v after the heal",
		seed, out.maxGap.Round(time.Millisecond), out.evicted, out.evictedAfter.Round(time.Millisecond), out.evictReason, rate, out.readmittedIn.Round(time.Millisecond))
	if out.maxGap > 2*time.Second {
		t.Errorf("seed %d: the healthy nodes delivered nothing for %v, want at most 2s", seed, out.maxGap.Round(time.Millisecond))
	}
	if pf.evict && !out.evicted {
		t.Errorf("seed %d: no eviction event names the victim", seed)
	}
	if !pf.evict && out.evicted {
		t.Errorf("seed %d: the victim was evicted for a fault the ring can work around: %s", seed, out.evictReason)
	}
	if limit := 2000.0 * float64(pf.nodes); rate > limit {
		t.Errorf("seed %d: %.0f retransmissions/s during the fault, want at most %.0f", seed, rate, limit)
	}
	return out.maxGap
}

// TestLossyNodeSplitSeeds replays the seeds of TestPersistentPartialFaults'
// "lossy links into one node" (30% loss on every link into n4 of five)
// at which the healthy nodes came apart: seeds 10, 145, 183, 232, 236,
// 270, 284, 305, 314 and 324 of 1-400. The round that n4's token loss
// started agreed on all five, but n4 heard none of the joins of the
// representative n1, which stopped sending them once it sent its commit
// token; n4 kept the token, which onCommit takes only from a
// representative heard in the round, until its consensus timeout, then
// gave up on n1 and n2 (not heard); n3 and n5 took its fail set, n1 and
// n2 gave up on those who gave up on them, and the healthy nodes formed
// two rings, a message sent in one never delivered in the other. Now the
// representative resends its join with its commit token
// (retransmitToken).
func TestLossyNodeSplitSeeds(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("ten runs of four seconds under load")
	}
	pf := partialFaults[slices.IndexFunc(partialFaults, func(pf partialFault) bool { return pf.name == "lossy links into one node" })]
	for _, seed := range []uint64{10, 145, 183, 232, 236, 270, 284, 305, 314, 324} {
		checkPartialFault(t, seed, pf, 4*time.Second)
	}
}

// TestLossyNodeAccuserSeeds replays the seeds of
// TestPersistentPartialFaults' "lossy links into one node" (30% loss on
// every link into n4 of five) at which a healthy node did not deliver a
// healthy node's message on 2e4ce7e, in a sweep of seeds 401-2619 (none
// of 1-400): 469, 482, 855, 1300, 1606, 1991, 2058, 2088 and 2279; in
// all but 1606 and 2058 a healthy node installed a ring without another.
// In 469, the round that n4's token loss started agreed on all five; n1,
// n2 and n3 took the commit token and went quiet, and n4, which none of
// the copies of the token that n3 sent reached, heard neither n3 nor n5
// before its consensus timeout and gave up on them; n5 gave up on n4 in
// turn, then (its own consensus timeout a few microseconds later) on
// everyone else; n1, n2 and n3, gathering again at their token timeout,
// took in n4's or n5's fail set, whichever came first, and n1, n2 and n4
// formed one ring, n3 and n5 another. Now every member whose commit
// token is not back resends its join with the token (retransmitToken),
// so the lossy node hears the members that went quiet, and a node does
// not take in a join's fail set that names a member it has just heard
// (suspects): the node that failed a healthy one is failed instead.
// runPartialFault checks that no healthy node installs a ring without
// another. Seed 179 of "deaf member" split the healthy nodes with a
// first version of that rule, which had a member give up on the sender
// of a held fail set at its consensus timeout even when it gave up on
// the members named too (consensusTimeout).
func TestLossyNodeAccuserSeeds(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("ten runs of four seconds under load")
	}
	byName := func(name string) partialFault {
		return partialFaults[slices.IndexFunc(partialFaults, func(pf partialFault) bool { return pf.name == name })]
	}
	for _, seed := range []uint64{469, 482, 855, 1300, 1606, 1991, 2058, 2088, 2279} {
		checkPartialFault(t, seed, byName("lossy links into one node"), 4*time.Second)
	}
	checkPartialFault(t, 179, byName("deaf member"), 4*time.Second)
}

// transientSeeds overrides the seeds per case of
// TestNoEvictionUnderTransientLoss.
var transientSeeds = flag.Int("transient-seeds", 0, "seeds per case of TestNoEvictionUnderTransientLoss (0: each case's own count)")

// TestNoEvictionUnderTransientLoss checks the other side of the detectors:
// heavy but transient loss, late packets and loss bursts, for seconds at
// full load, must cost retransmissions (and, where bursts take tokens and
// joins with them, membership rounds), never an eviction. One seed proves
// little: with loss bursts, a node that failed to agree in two rounds in a
// row was quarantined in 25 of seeds 1-60 (117 of 1-300) when two rounds
// were enough, though every node received and was received all along; so
// each case runs over many seeds, the loss bursts most.
func TestNoEvictionUnderTransientLoss(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		f            Faults
		seeds, short int
	}{
		{"30% multicast loss", Faults{McastLoss: 0.3}, 2, 1},
		{"20% loss of everything", Faults{Loss: 0.2}, 5, 1},
		{"late packets", Faults{Reorder: 0.3, ReorderDelay: 20 * time.Millisecond}, 2, 1},
		{"loss bursts", Faults{McastLoss: 0.05, BurstLoss: 0.5, BurstPackets: 10}, 50, 15},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			n := tc.seeds
			if testing.Short() {
				n = tc.short
			}
			if *transientSeeds > 0 {
				n = *transientSeeds
			}
			var (
				mu                                  sync.Mutex
				evictedSeeds                        []uint64
				delivered, retransmits, tokenLosses int
			)
			eachSeed(1, n, func(seed uint64) {
				out := runTransientLoss(t, seed, tc.f)
				mu.Lock()
				defer mu.Unlock()
				delivered += out.delivered
				retransmits += int(out.stats.Retransmits)
				tokenLosses += int(out.stats.TokenLosses)
				if len(out.evicted) > 0 {
					evictedSeeds = append(evictedSeeds, seed)
					t.Errorf("seed %d: %d evictions under transient faults, the first: %s", seed, len(out.evicted), out.evicted[0])
				}
				if out.stats.Retransmits == 0 || out.delivered < 1000 {
					t.Errorf("seed %d: the faults did not bite or nothing was delivered: %d retransmissions, %d deliveries", seed, out.stats.Retransmits, out.delivered)
				}
			})
			slices.Sort(evictedSeeds)
			t.Logf("%d seeds: %d deliveries, %d retransmissions, %d token losses; evictions in %d seeds %v",
				n, delivered, retransmits, tokenLosses, len(evictedSeeds), evictedSeeds)
		})
	}
}

// transientOutcome is what one run under transient faults measured.
type transientOutcome struct {
	evicted   []string // every eviction event, with the node that reported it
	delivered int
	stats     localring.Stats // summed over the nodes: Retransmits, StallHolds, TokenLosses
}

// runTransientLoss forms a ring of five, switches the faults f on and
// offers load at every node for 3 s.
func runTransientLoss(t *testing.T, seed uint64, f Faults) transientOutcome {
	c := NewCluster(seed, 5)
	c.StartAll()
	if !c.RunUntil(c.Now().Add(5*time.Second), c.Converged) {
		t.Errorf("seed %d: no ring at start: %s", seed, c.describe())
		return transientOutcome{delivered: -1}
	}
	var out transientOutcome
	c.OnEvent = func(node localring.NodeID, inc uint64, e localring.Event) {
		switch e.Kind {
		case localring.EventEvict:
			out.evicted = append(out.evicted, fmt.Sprintf("%v %s: %s", c.Elapsed().Round(time.Millisecond), node, e.Reason))
		case localring.EventDeliver:
			out.delivered++
		}
	}
	nf := c.Faults()
	nf.Loss, nf.McastLoss, nf.Reorder, nf.ReorderDelay = f.Loss, f.McastLoss, f.Reorder, f.ReorderDelay
	nf.BurstLoss, nf.BurstPackets = f.BurstLoss, f.BurstPackets
	c.SetFaults(nf)
	for end := c.Now().Add(3 * time.Second); c.Now().Before(end); {
		for i := 0; i < c.Size(); i++ {
			_ = c.Submit(i, localring.Agreed, 1000)
		}
		c.RunFor(2 * time.Millisecond)
	}
	for i := 0; i < c.Size(); i++ {
		s := c.Node(i).Stats()
		out.stats.Retransmits += s.Retransmits
		out.stats.StallHolds += s.StallHolds
		out.stats.TokenLosses += s.TokenLosses
	}
	return out
}

// TestPersistentFaultSeeds replays seeds whose persistent fault once kept
// the liveness phase from converging: 2207, a node that receives nothing
// pulled the others into gather rounds it could not finish (now it is
// quarantined: disagreed); 2370, a representative whose multicasts never
// arrive pulled nodes into rings by its commit token (now a node accepts a
// commit token only from a representative whose join it heard); 426, 888
// and 936, a node that receives nothing pulled the others into a round at
// every merge interval by its merge-detect messages, and never answered
// (now a merge-detect counts as a join heard, and the node is quarantined
// after two such rounds); 9, two healthy nodes that quarantined each
// other's joins renewed it for good (now a renewal without their joins
// heard ignores only merge-detects); 1404, the run ended in the middle of
// a round that a deaf node's merge-detect started (now a run with a
// persistent fault ends only once the others' ring has not changed for a
// second).
func TestPersistentFaultSeeds(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{2207, 2370, 426, 888, 936, 9, 1404} {
		r := Run(seed, RunOptions{})
		if r.Mix.Persistent == "" {
			t.Fatalf("seed %d has no persistent fault any more: pick another", seed)
		}
		report(t, r)
	}
}

// TestDeafOutsiderQuarantined: a node that receives no multicasts and is
// not in the others' ring (it restarted deaf) never gets into a ring with
// traffic, where the stall detector would take it out; its joins, then its
// merge-detect messages arrive and pull the others into rounds it never
// answers. The others must ignore it within the bound stall.go states (the
// round its start began and two that its merge-detects began, each within
// a consensus timeout and a merge interval) and then keep their ring
// unchanged until the quarantine runs out.
func TestDeafOutsiderQuarantined(t *testing.T) {
	t.Parallel()
	var worst time.Duration
	for seed := uint64(1); seed <= 10; seed++ {
		c := NewCluster(seed, 4)
		c.Log = partialLog
		c.StartAll()
		if !c.RunUntil(c.Now().Add(5*time.Second), c.Converged) {
			t.Fatalf("seed %d: no ring at start: %s", seed, c.describe())
		}
		const victim = 3
		c.Crash(victim)
		c.RunFor(time.Second)
		c.DeafMulticast(victim, 1)
		c.Start(victim)
		t0 := c.Now()
		vid := c.NodeID(victim)
		quarantined := time.Duration(-1)
		var installs []time.Duration
		c.OnEvent = func(node localring.NodeID, inc uint64, e localring.Event) {
			if node == vid {
				return
			}
			switch e.Kind {
			case localring.EventEvict:
				if e.Evicted.ID == vid && quarantined < 0 {
					quarantined = c.Now().Sub(t0)
				}
			case localring.EventInstall:
				installs = append(installs, c.Now().Sub(t0))
			}
		}
		c.RunFor(3 * time.Second)
		cfg := c.Config
		bound := 3 * (cfg.ConsensusTimeout + cfg.MergeTimeout)
		if quarantined < 0 || quarantined > bound {
			t.Errorf("seed %d: the others ignored the deaf node %v after it started, want within %v", seed, quarantined, bound)
		}
		for _, at := range installs {
			if at > quarantined+100*time.Millisecond && at < quarantined+cfg.EvictQuarantine {
				t.Errorf("seed %d: the others installed a ring %v after the deaf node started, while they ignored it (from %v for %v)", seed, at, quarantined, cfg.EvictQuarantine)
				break
			}
		}
		worst = max(worst, quarantined)
	}
	t.Logf("the deaf node was ignored at most %v after it started", worst)
}
