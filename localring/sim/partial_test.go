package sim

import (
	"fmt"
	"io"
	"slices"
	"strings"
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
		t.Fatalf("%s: no ring at start: %s", pf.name, c.describe())
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
				out.evicted, out.evictReason = true, e.Reason
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
	load := func(d time.Duration) {
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
	load(200 * time.Millisecond)

	t0 = c.Now()
	for i := 0; i < c.Size(); i++ {
		last[c.NodeID(i)] = t0
	}
	before := retransmits()
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
		t.Errorf("%s: no ring of all nodes 20s after the fault healed: %s", pf.name, c.describe())
	}
	for i := 0; i < c.Size(); i++ {
		_ = c.Submit(i, localring.Agreed, 100)
		_ = c.Submit(i, localring.Safe, 100)
	}
	c.RunFor(500 * time.Millisecond)
	c.RunUntil(c.Now().Add(5*time.Second), c.Quiet)
	c.RunFor(500 * time.Millisecond)
	vs := evs.Check(c.Trace(), evs.Options{Failed: c.Failed(), Quiescent: true})
	vs = append(vs, evs.CheckConverged(c.Trace(), c.Live())...)
	for _, v := range vs {
		t.Errorf("%s: %s", pf.name, v)
	}
	if lost := lostForHealthy(c, string(victim)); lost != "" {
		t.Errorf("%s: %s", pf.name, lost)
	}
	return out
}

// lostForHealthy reports a message a healthy node sent that another healthy
// node did not deliver ("" if none).
func lostForHealthy(c *Cluster, victim string) string {
	delivered := map[string]map[string]bool{}
	var sent []evs.Event
	for _, e := range c.Trace() {
		if e.Node == victim {
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
		if id == victim {
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

// TestPersistentPartialFaults is issue 10's liveness defect: one node's
// multicasts are dropped (or it receives none, or a link keeps losing
// packets) while its tokens pass, for longer than any timeout. The healthy
// nodes must deliver again within 2 s (issue 10's target) and lose nothing;
// a victim that cannot take part is taken out with an event naming it and
// the cause, and taken back once the fault heals; retransmissions stay
// bounded meanwhile.
func TestPersistentPartialFaults(t *testing.T) {
	const faultFor = 4 * time.Second
	for _, pf := range partialFaults {
		t.Run(strings.ReplaceAll(pf.name, " ", "_"), func(t *testing.T) {
			var gaps []time.Duration
			seeds := 3
			if testing.Short() {
				seeds = 1
			}
			for seed := uint64(1); seed <= uint64(seeds); seed++ {
				out := runPartialFault(t, seed, pf, faultFor)
				gaps = append(gaps, out.maxGap)
				rate := float64(out.retransmits) / faultFor.Seconds()
				t.Logf("seed %d: longest delivery gap at the healthy nodes %v; evicted %v (%s); %.0f retransmissions/s during the fault; one ring again %v after the heal",
					seed, out.maxGap.Round(time.Millisecond), out.evicted, out.evictReason, rate, out.readmittedIn.Round(time.Millisecond))
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
			}
			slices.Sort(gaps)
			t.Logf("longest delivery gap over %d seeds: %v", len(gaps), gaps[len(gaps)-1])
		})
	}
}

// TestNoEvictionUnderTransientLoss checks the other side of the detector:
// heavy but transient loss, late packets and loss bursts, for seconds at
// full load, must cost retransmissions, never an eviction.
func TestNoEvictionUnderTransientLoss(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    Faults
	}{
		{"30% multicast loss", Faults{McastLoss: 0.3}},
		{"20% loss of everything", Faults{Loss: 0.2}},
		{"late packets", Faults{Reorder: 0.3, ReorderDelay: 20 * time.Millisecond}},
		{"loss bursts", Faults{McastLoss: 0.05, BurstLoss: 0.5, BurstPackets: 10}},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			c := NewCluster(7, 5)
			c.StartAll()
			if !c.RunUntil(c.Now().Add(5*time.Second), c.Converged) {
				t.Fatalf("no ring at start: %s", c.describe())
			}
			var evicted []string
			delivered := 0
			c.OnEvent = func(node localring.NodeID, inc uint64, e localring.Event) {
				switch e.Kind {
				case localring.EventEvict:
					evicted = append(evicted, fmt.Sprintf("%s: %s", node, e.Reason))
				case localring.EventDeliver:
					delivered++
				}
			}
			f := c.Faults()
			f.Loss, f.McastLoss, f.Reorder, f.ReorderDelay = tc.f.Loss, tc.f.McastLoss, tc.f.Reorder, tc.f.ReorderDelay
			f.BurstLoss, f.BurstPackets = tc.f.BurstLoss, tc.f.BurstPackets
			c.SetFaults(f)
			for end := c.Now().Add(3 * time.Second); c.Now().Before(end); {
				for i := 0; i < c.Size(); i++ {
					_ = c.Submit(i, localring.Agreed, 1000)
				}
				c.RunFor(2 * time.Millisecond)
			}
			var st localring.Stats
			for i := 0; i < c.Size(); i++ {
				s := c.Node(i).Stats()
				st.Retransmits += s.Retransmits
				st.StallHolds += s.StallHolds
				st.TokenLosses += s.TokenLosses
			}
			t.Logf("%d deliveries, %d retransmissions, %d stall holds, %d token losses", delivered, st.Retransmits, st.StallHolds, st.TokenLosses)
			if len(evicted) > 0 {
				t.Errorf("%d evictions under transient faults, the first: %s", len(evicted), evicted[0])
			}
			if st.Retransmits == 0 || delivered < 1000 {
				t.Errorf("the faults did not bite or nothing was delivered: %d retransmissions, %d deliveries", st.Retransmits, delivered)
			}
		})
	}
}

// TestPersistentFaultSeeds replays seeds whose persistent fault once kept
// the liveness phase from converging: 2207, a node that receives nothing
// pulled the others into gather rounds it could not finish (now it is
// quarantined after two); 2370, a representative whose multicasts never
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
	for _, seed := range []uint64{2207, 2370, 426, 888, 936, 9, 1404} {
		r := Run(seed, RunOptions{})
		if r.Mix.Persistent == "" {
			t.Fatalf("seed %d has no persistent fault any more: pick another", seed)
		}
		report(t, r)
	}
}
