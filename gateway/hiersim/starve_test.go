package hiersim

import (
	"fmt"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/federation"
	"github.com/atoll-gcs/atoll/topology"
)

// starveFor is how long TestStarvation's nodes starve, starveLoad the
// load around it (a third before it, the rest after: 10 s, 15 s, 5 s).
const (
	starveFor  = 15 * time.Second
	starveLoad = 30 * time.Second
)

// TestStarvation starves every node of the hierarchy, or one site's, for
// 15 s under load (FaultStarvation): each node, on its own (or every node
// together: global-process, below), runs for
// 20-300 ms and stops for 20-150 ms, again and again, as the agents of a
// process on a core it shares with busy loops do, a goroutine waiting up
// to 150 ms for the CPU (atoll demo under taskset with a loaded core; its
// stall probe prints waits from 150 ms on). Every run must pass every
// check (nothing lost or duplicated, the traces, node-level ones
// included, EVS; report), deliver during the starvation, and be back to
// one configuration of every site, node level included, within
// starveSettle of its end: five token timeouts of the domain's federation
// ring. What comes after the end is the node-level layer's (domconf)
// chain, not the rings' churn: the local rings are back within a token
// timeout of theirs, then the federation ring forms again up to three
// times in a row (asked by a bridge whose Safe messages wait for a node
// out of its site's ring, then by a View for a site's changed nodes, then
// for its round once every site announced), each a membership round of
// the federation ring and the stream's way down to every node. Measured
// at seeds 1-100 (virtual time from the starvation's end to the last
// configuration installed anywhere, Result.StallSettled): every node
// starving, 0-0.82 s in the demo's regional domain (median 0, five token
// timeouts 1.01 s) and 0-7.27 s in three-sites' (seed 74; median 0, 90th
// percentile 4.13 s; five token timeouts 8.64 s); one site's nodes alone
// starving (the seed's draw), 0-7.79 s. No member was taken out for
// failing to receive (Result.Starved: no eviction, so no quarantine) in
// any of those runs. The demo's own process stalled whole again and
// again (global-process: every node stopping together for 20-300 ms,
// past the local rings' token timeout, running 20-300 ms between, in the
// demo's global domain): 0-6.13 s, 3 members taken out over the 100
// runs. One site's nodes stopping on their own past the local rings'
// token timeout (up to 300 ms; regional-one-long, three-sites-one-long)
// passed at every seed of 1-100 at 2e73870; every node doing so breaks
// no property at any seed of 1-100 since 974deab, and every run settles
// within the bound since a cut quarantine ends once its link carries
// again (localring liftHealedCuts): regional-long here, the four cases
// at seeds 1-100 in TestStarvationLong (-tags long). The seeds that broke
// a property there are TestStarvationFixed's.
// A third of seedCount's seeds.
func TestStarvation(t *testing.T) {
	parallel(t)
	for _, c := range []struct {
		name, topology, domain string
		site, together         bool
		pause                  time.Duration
	}{
		{"regional", demoTopology, "fed/regional:a+b", false, false, 150 * time.Millisecond},
		{"three-sites", topologyFile, "", false, false, 150 * time.Millisecond},
		{"three-sites-one", topologyFile, "", true, false, 150 * time.Millisecond},
		{"global-process", demoTopology, "fed/global:a+b+c", false, true, 300 * time.Millisecond},
		{"regional-one-long", demoTopology, "fed/regional:a+b", true, false, 300 * time.Millisecond},
		{"three-sites-one-long", topologyFile, "", true, false, 300 * time.Millisecond},
		{"regional-long", demoTopology, "fed/regional:a+b", false, false, 300 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			parallel(t)
			var confs int
			for seed := *first; seed < *first+uint64(max(1, seedCount()/3)); seed++ {
				o := starveOptions(c.topology, c.domain, c.pause, c.site)
				o.starve.together = c.together
				r := checkedRun(t, seed, o)
				s := r.Starved
				confs += s.LocalConfs
				if s.Pauses == 0 || s.Delivered == 0 {
					t.Errorf("seed %d: %d pauses, %d deliveries during the starvation, want some of each", seed, s.Pauses, s.Delivered)
				}
				if bound := starveSettle(t, o); r.StallSettled > bound || len(r.StallApart) > 0 {
					t.Errorf("seed %d: the last configuration came %v after the starvation (at most %v: five token timeouts of the federation ring; rings %v, bridges %v, Views %v); nodes not in a regular configuration of every site at the end: %v",
						seed, r.StallSettled, bound, s.Rings, s.Domain, s.Views, r.StallApart)
				}
				if seed == *first {
					t.Logf("seed %d: %d sent; starvation: %+v; settled %v after it", seed, r.Sent, s, r.StallSettled)
				}
			}
			if confs == 0 {
				t.Errorf("no local ring installed a configuration during any run's starvation: it starved nothing")
			}
		})
	}
}

// starveOptions are the options of a run of FaultStarvation in domain
// of topo, its nodes stopping for 20 ms to pause (at the victim site
// only, with site).
func starveOptions(topo, domain string, pause time.Duration, site bool) Options {
	o := Options{Topology: topo, Domain: domain, Fault: FaultStarvation, Outage: starveFor, Load: starveLoad}
	o.starve.pause = span{20 * time.Millisecond, pause}
	o.starve.site = site
	return o
}

// starveSettle is how soon after the end of a starvation of o a run must
// be back to one configuration of every site: five token timeouts of the
// domain's federation ring (TestStarvation says why).
func starveSettle(t *testing.T, o Options) time.Duration {
	t.Helper()
	f, err := topology.Load(o.Topology)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Plan().FederationDomains() {
		if o.Domain == "" || d.Name == o.Domain {
			return 5 * federation.RingConfig(f, d).TokenTimeout
		}
	}
	t.Fatalf("%s has no federation domain %q", o.Topology, o.Domain)
	return 0
}

// TestStarvationFixed replays, with every node starving for pauses up to
// 300 ms, the seeds of TestStarvationLong (-tags long) that failed before
// a fix.
func TestStarvationFixed(t *testing.T) {
	parallel(t)
	for _, c := range []struct {
		name, topology, domain string
		together               bool
		seed                   uint64
	}{
		// ams and fra each kept their gateway term in doubt after a split
		// answer, through rings that continued the domain's
		// configuration, and delivered their Ups in doubt (129 and 31) in
		// the federation's transitional configuration, which both
		// installed: EVS 4 and 7, 372 deliveries lost (bridge
		// Site.ownTrans, TestInDoubtOwnTrans).
		{"three-sites", topologyFile, "", false, 31},
		// a-1, the gateway, delivered its Ups in doubt and paused as it
		// injected them; the next ring continued the domain's
		// configuration, ended the term's doubt, and a-1 submitted them
		// again: b delivered them after a (EVS 1.3; bridge
		// pendingUp.downInDoubt, TestInDoubtNotSubmittedAfter).
		{"regional", demoTopology, "fed/regional:a+b", false, 91},
		// Site a split in two parts that left one regular configuration
		// into the same next one, one through the federation's
		// transitional configuration with a alone in it, the other
		// through the site's own, catching up over the next one from b:
		// two ids for one configuration (EVS 2.4 at the site level;
		// bridge Site.aloneTransID, TestAloneTransNamed).
		{"regional", demoTopology, "fed/regional:a+b", false, 10},
		{"regional", demoTopology, "fed/regional:a+b", false, 69},
		{"regional-process", demoTopology, "fed/regional:a+b", true, 66},
		// The same, where a-3's part delivered b's messages in that
		// transitional configuration with a alone, and the part that
		// caught up over b's delivered them in the regular configuration
		// before it (EVS 4 and 9: b-2/1/875 in r:1048904:a at a-1 and
		// a-2, in site:a:t:1048928:a/1048904:a at a-3). Bridge
		// DomainConf.Beside, TestAloneTransMessages.
		{"regional", demoTopology, "fed/regional:a+b", false, 29},
		// A member apart (another history of its site) sent a later Up
		// that went up before its earlier ones, which every node then
		// took for done (40 and 62 lost 5 and 70 deliveries); with those
		// waiting, its restart announced again Ups its own history had
		// got ordered at the other site (83: a-2/1/774 at two places),
		// and two members restarting together delivered different Ups in
		// doubt (62). Bridge "Members of another history",
		// TestStrayPendingThenLater, TestStrayHistoryDoubt.
		{"regional", demoTopology, "fed/regional:a+b", false, 40},
		{"regional", demoTopology, "fed/regional:a+b", false, 62},
		{"regional", demoTopology, "fed/regional:a+b", false, 83},
		// A change of a's nodes opened a round at the entry of a ring
		// formed again that the bridge held behind a Safe message, and
		// the next such entry completed it; b had both after its
		// transitional entry, where its nodes had left their regular
		// configuration with their sends told there: b delivered what a's
		// senders were told was not sent, or sent in the configuration the
		// round installed (node-level EVS 1.1 and 1.3). A node that leaves
		// at a transitional entry with such an entry after it stages what
		// it emits, and opens the round there too (domconf View.stage,
		// TestChangeAfterTransitional, TestChangeAfterTransitionalCompletes).
		{"regional", demoTopology, "fed/regional:a+b", false, 27},
		// a-2's new term took for its predecessor a term of a-3 named to
		// it only in a Seen (a ring of a-1 and a-3), which had submitted
		// nothing, while a term of a-2's own had got the Ups ordered:
		// a-3's first places put its own two Ups first (EVS 6 and 9).
		// Each node's Terms says which of its terms submitted (bridge
		// Site.quietTerm, TestInDoubtOrderQuietOther).
		{"global", demoTopology, "fed/global:a+b+c", false, 49},
		// Site a split in two parts, each with a gateway term: a-3's got
		// a-3's Ups ordered in a ring with b, whose own term had
		// delivered Ups in doubt before; b refused a-1's part the
		// catch-up over those, and a-1's term delivered a-3's Ups in
		// doubt in a's own transitional configuration after the regular
		// configuration before (EVS 1.3; bridge: an answer goes without
		// the answerer's Ups in doubt where the asking site caught up in
		// the configurations between, Site.caughtUpAt,
		// TestAnswerOverInDoubt). Regional 66 (a-1's part had
		// r:1179792:a, which the other part never installed, and got
		// a-1/1/1917 ordered there; the other delivered it in doubt in
		// site:a:t:1245344:a/...: EVS 1.3, node-level 1.1) had b refuse
		// the same way (Stats.InDoubtRefused) and passes with it.
		{"regional", demoTopology, "fed/regional:a+b", false, 16},
		{"regional", demoTopology, "fed/regional:a+b", false, 66},
		// Starving, a-1 and a-2 seemed not to hear each other to a-3,
		// which quarantined a-2 for 1 s as the end of a cut link; after
		// the starvation the three heard each other, and site a's ring
		// re-formed as [a-1 a-2] and [a-3] every 55 ms for 700 ms, a-3
		// failing a-2 and a-1 keeping it: settled 1.132 s after the
		// starvation, past the bound (no property broken). a-3 lets a-2
		// back in once a-1's and a-2's joins show them hearing each other
		// and a-2 hearing a-3 (localring liftHealedCuts; sim
		// TestLinkCutBothWays).
		{"regional", demoTopology, "fed/regional:a+b", false, 38},
	} {
		t.Run(fmt.Sprint(c.name, "-", c.seed), func(t *testing.T) {
			parallel(t)
			o := starveOptions(c.topology, c.domain, 300*time.Millisecond, false)
			o.starve.together = c.together
			r := checkedRun(t, c.seed, o)
			if bound := starveSettle(t, o); r.StallSettled > bound || len(r.StallApart) > 0 {
				t.Errorf("the last configuration came %v after the starvation (at most %v); nodes not in a regular configuration of every site at the end: %v",
					r.StallSettled, bound, r.StallApart)
			}
		})
	}
}
