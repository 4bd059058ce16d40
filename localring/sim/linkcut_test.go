package sim

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring"
)

// The bounds TestLinkCutBothWays checks while the link between two of
// five nodes is cut: from linkCutSettle after the cut on, every ring an
// observer (a node that hears both ends) installs holds the three
// observers and one end of the cut link; and the observers install at
// most linkCutInstalls regular configurations over the fault's 4 s:
// about five rounds until the observers quarantine the cut end they
// failed, then, at each of its two quarantines' ends (1 s, then 2 s), one
// round per observer whose quarantine runs out on its own (they start at
// each observer's judgment, up to a round apart), each installing the
// same members again (seeds 1-450: at most 13, seed 40; 14 at seed 40
// since, on main 8ef9015 as with the healed-cut rule below). Once the
// link heals, the five form one ring within linkCutHealed: an observer
// lets the quarantined end back in as soon as the two ends' joins show
// that they hear each other and the quarantined end's that it hears the
// observer (localring liftHealedCuts), instead of waiting out its
// quarantine, by then 2 s or 4 s. Seeds 1-50 and 137: 39 ms to 2.78 s
// after the heal, 15 runs over 1 s (the cut end ignored an observer's
// joins in turn, and that quarantine ran out first); without the rule
// 3.96-4.76 s in 44 of those 51 runs, seeds 1-3 and 137 among them.
const (
	linkCutSettle   = 2 * time.Second
	linkCutInstalls = 14
	linkCutHealed   = 3 * time.Second
)

// linkCutRegressions are seeds that once failed, run besides the range
// the flags choose: 137, the observers' quarantines of n3 running out at
// different times (a node lets a member back in while the others still
// fail it: onProbation in localring).
var linkCutRegressions = []uint64{137}

// linkCutOutcome is what one run of runLinkCut measured.
type linkCutOutcome struct {
	maxGap   time.Duration // longest time an observer delivered nothing, from the cut on
	installs int           // distinct regular configurations the observers installed during the fault
	settled  string        // the observers' ring at the end of the fault, "" if they were not in one
	healedIn time.Duration // from the heal to one ring of all five
	problems []string      // the checks the run failed
}

// runLinkCut forms a ring of five, offers load at every node, cuts the
// link between n2 and n3 in both directions for faultFor (the others hear
// both), heals it, and checks that the three observers never come apart,
// that they settle in one ring with one end of the cut link, that they lose
// nothing, and that the five form one ring again after the heal, EVS
// holding throughout.
func runLinkCut(seed uint64, faultFor time.Duration) linkCutOutcome {
	const a, b = 1, 2 // the slots of n2 and n3
	c := NewCluster(seed, 5)
	c.Log = partialLog
	c.StartAll()
	var out linkCutOutcome
	fail := func(format string, args ...any) { out.problems = append(out.problems, fmt.Sprintf(format, args...)) }
	if !c.RunUntil(c.Now().Add(5*time.Second), c.Converged) {
		fail("no ring at start: %s", c.describe())
		return out
	}
	ends := []string{string(c.NodeID(a)), string(c.NodeID(b))}
	var t0 time.Time
	last := map[localring.NodeID]time.Time{}
	rings := map[string]bool{}
	lastRing := map[localring.NodeID]*localring.Configuration{}
	c.OnEvent = func(node localring.NodeID, inc uint64, e localring.Event) {
		if slices.Contains(ends, string(node)) || t0.IsZero() {
			return
		}
		switch e.Kind {
		case localring.EventDeliver:
			out.maxGap = max(out.maxGap, c.Now().Sub(last[node]))
			last[node] = c.Now()
		case localring.EventInstall:
			if e.Conf.Kind != localring.Regular {
				return
			}
			rings[e.Conf.ID] = true
			lastRing[node] = e.Conf
			ids := e.Conf.MemberIDs()
			with := 0
			for _, end := range ends {
				if slices.Contains(ids, end) {
					with++
				}
			}
			if at := c.Now().Sub(t0); at >= linkCutSettle && with == 0 {
				fail("%v after the cut, %s installed %s %v, without either end of the cut link", at.Round(time.Millisecond), node, e.Conf.ID, ids)
			}
		}
	}
	offerLoad(c, 200*time.Millisecond)

	t0 = c.Now()
	for i := 0; i < c.Size(); i++ {
		last[c.NodeID(i)] = t0
	}
	faultFrom := len(c.Trace())
	c.Block(a, b)
	c.Block(b, a)
	c.logf("link %s-%s cut both ways until healed", ends[0], ends[1])
	offerLoad(c, faultFor)
	for id, at := range last {
		if !slices.Contains(ends, string(id)) {
			out.maxGap = max(out.maxGap, c.Now().Sub(at))
		}
	}
	out.installs = len(rings)
	out.settled = observersRing(c, ends, lastRing)
	if out.settled == "" {
		fail("the rings the observers installed last in the fault are not one ring with an end of the cut link: %s", c.describe())
	}
	if split := splitHealthy(c, faultFrom, ends...); split != "" {
		fail("the observers split: %s", split)
	}
	t0 = time.Time{}

	c.Heal()
	healed := c.Now()
	if !c.RunUntil(c.Now().Add(20*time.Second), c.Converged) {
		fail("no ring of all nodes 20s after the link healed: %s", c.describe())
	}
	out.healedIn = c.Now().Sub(healed)
	for _, v := range checkAfterHeal(c) {
		fail("%s", v)
	}
	if lost := lostForHealthy(c, ends...); lost != "" {
		fail("%s", lost)
	}
	return out
}

// observersRing returns the regular configuration that every node but the
// ends installed last (last), if it is one and holds exactly one end (""
// if not).
func observersRing(c *Cluster, ends []string, last map[localring.NodeID]*localring.Configuration) string {
	var conf *localring.Configuration
	for i := 0; i < c.Size(); i++ {
		id := c.NodeID(i)
		if slices.Contains(ends, string(id)) {
			continue
		}
		cf := last[id]
		if cf == nil || conf != nil && cf.ID != conf.ID {
			return ""
		}
		conf = cf
	}
	ids := conf.MemberIDs()
	if slices.Contains(ids, ends[0]) == slices.Contains(ids, ends[1]) {
		return ""
	}
	return fmt.Sprintf("%s %v", conf.ID, ids)
}

// TestLinkCutBothWays: the link between n2 and n3 of five nodes is cut in
// both directions (every other link works: n1, n4 and n5, the observers,
// hear both). n2 and n3 are neighbours on any ring that holds both, so a
// ring can keep only one of them. Each gives up on the other at its
// consensus timeout, and the observers must take in the same one of those
// two fail sets: the observers never install a ring without each other,
// from linkCutSettle after the cut on every ring they install holds one
// end of the link, and the last they install in the fault is one ring
// with one end; they deliver again within 2 s, lose nothing, and install
// at most linkCutInstalls rings over the 4 s of the fault; once the link
// heals, the five form one ring within linkCutHealed. The seeds are
// -partial-seeds from -partial-first, as TestPersistentPartialFaults', and
// linkCutRegressions.
func TestLinkCutBothWays(t *testing.T) {
	t.Parallel()
	const faultFor = 4 * time.Second
	seeds := 3
	if testing.Short() {
		seeds = 1
	}
	if *partialSeeds > 0 {
		seeds = *partialSeeds
	}
	var failed []uint64
	var worstGap time.Duration
	worstInstalls := 0
	first := uint64(*partialFirst)
	var run []uint64
	for seed := first; seed < first+uint64(seeds); seed++ {
		run = append(run, seed)
	}
	for _, seed := range linkCutRegressions {
		if !slices.Contains(run, seed) {
			run = append(run, seed)
		}
	}
	for _, seed := range run {
		out := runLinkCut(seed, faultFor)
		t.Logf("seed %d: longest delivery gap at the observers %v; %d rings installed by them during the fault; at its end %s; one ring of five %v after the heal",
			seed, out.maxGap.Round(time.Millisecond), out.installs, out.settled, out.healedIn.Round(time.Millisecond))
		if out.maxGap > 2*time.Second {
			out.problems = append(out.problems, fmt.Sprintf("the observers delivered nothing for %v, want at most 2s", out.maxGap.Round(time.Millisecond)))
		}
		if out.healedIn > linkCutHealed {
			out.problems = append(out.problems, fmt.Sprintf("one ring of all five came %v after the link healed, want at most %v", out.healedIn.Round(time.Millisecond), linkCutHealed))
		}
		if out.installs > linkCutInstalls {
			out.problems = append(out.problems, fmt.Sprintf("the observers installed %d rings during the fault, want at most %d", out.installs, linkCutInstalls))
		}
		for _, p := range out.problems {
			t.Errorf("seed %d: %s", seed, p)
		}
		if len(out.problems) > 0 {
			failed = append(failed, seed)
		}
		worstGap, worstInstalls = max(worstGap, out.maxGap), max(worstInstalls, out.installs)
	}
	t.Logf("%d seeds (%d from %d, then %v): %d failed %v; longest delivery gap %v, most rings installed by the observers %d",
		len(run), seeds, first, linkCutRegressions, len(failed), failed, worstGap.Round(time.Millisecond), worstInstalls)
}
