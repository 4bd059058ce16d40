//go:build knowngaps

// Known gap, kept as a reproduction that FAILS on purpose; it is built
// only with -tags knowngaps, so `go test ./...` and CI do not run it:
//
//	go test -tags knowngaps ./gateway/hiersim -run 'TestStarvationLong' -v
//
// TestStarvation's starvation with pauses up to 300 ms, past the local
// rings' token timeout (200 ms): the sites' rings split and merge again
// and again, and each part's gateway begins a term (a federation member
// of a new incarnation every few hundred ms, fencing the last). Under
// that churn the domain breaks extended virtual synchrony, bridge and
// node level. Measured over seeds 1-100 (TestStarvation's run, 15 s of
// starvation under load, pauses 20-300 ms; runs with Result.Failed):
// every node starving, 28 runs failed in the demo's regional domain, 23
// in three-sites' and 8 in the demo's global domain; one site's nodes
// starving, 9 in the regional domain and 1 in three-sites' (and
// three-sites seed 5 passes every check but settles 11.55 s after the
// end, over the bound). What they broke (the regional and three-sites
// cases at seeds 1-40, 21 failed runs, at 76b5543): EVS 1.3 (delivery
// configuration, bridge and node level), 4 (failure atomicity: a site
// did not deliver in a federation configuration what another delivered
// before both moved on), 9 (hierarchy order), 2.4 (transitional shape),
// 7 (safe delivery), 1.1 at node level (a message delivered that its
// running sender never recorded as sent), client messages lost,
// delivered nowhere (three-sites seed 23: m864@ams-3, an Up sent in a
// part of its split site whose gateway term ended before its member
// formed a ring), and Views left apart at the end (NodeUnsettled). Every
// node stopping together (global-process's fault in the regional
// domain) failed at seed 66 only of 1-100, at 76b5543. With pauses up to
// 150 ms (TestStarvation) none of 500 runs failed. They are the
// protocol's, not the harness's: over seeds 1-100 of all five cases at
// cb1154a no node's local events, federation events or bridge output ran
// while it was paused. Fixed: each of the 13 three-sites runs of seeds
// 1-100 that lost messages (at cb1154a) had a site deliver an Up in
// doubt (gateway/bridge, "Ups in doubt") past an earlier pending Up of
// the same sender that was not in doubt, which Site.donePending then
// took for done: delivered nowhere (seed 11), or, ordered by the
// federation later, dropped at its own site as a duplicate while the
// others delivered it (seed 39). The Up in doubt takes the earlier ones
// along since c312365 (Site.takeAlong): three-sites, runs failed 18 and
// 7, runs that lost messages 12 and 1 (at 1af447b, and with the fix;
// the other cases unchanged). In the regional domain (seed 71) a
// gateway submitted a later Up of a sender whose earlier one it had just
// injected in doubt; the Down never came round (the gateway paused), and
// the next gateway's catch-up from site b brought the later Up, which
// took the earlier one for done: delivered nowhere. A later Up waits
// for the one in doubt since 4cf29b8 (Site.afterDoubt): regional, runs
// failed 16 and 14, runs that lost messages 6 and 4 (at 9dbb2cd, and
// with the fix; seed 91 lost 1,400 messages before, none with it, and
// still breaks 1.3, 6 and 9; the other cases unchanged). Still lost
// at 4cf29b8: three-sites seed 31 (372 deliveries, with EVS 4 and 7:
// ams and fra each applied a catch-up answer that left its term in
// doubt (split), and delivered its Ups in doubt, 129 and 31, in the
// federation's transitional configuration t:1900632:ams/458784:ams,
// which both installed; bridge doc.go, "A Seen or a Relay in parts",
// the known gap of a split answer), regional seeds 16, 28 and 62 (with a member
// behind the log (Stats.LocalGaps): a member of another history, which
// the active gateway took apart (Stats.Strays at the same node, as many
// or more) and restarted, a partition and a merge of it, which report
// no longer counts as a failure (badStats; regional seed 83 failed on
// that count alone); and 1.3 at 16 and 28): the Up the member sent in the configuration before its
// restart went up at once, came down first, and every node took its
// earlier Ups (whose Agains they had dropped as strays) for done, then
// dropped the restart's Agains of them (seed 16: a-3/1/897, 930 and
// 976, taken for done by a-3/1/1008; bridge TestStrayPendingThenLater,
// knowngaps), and 40: a-2/1/693, which
// a-2's own term had submitted in its ring, delivered nowhere. The
// active gateway a-1 and a-3 took a-2 for a member apart and dropped its
// Agains of 625-693 as strays (Site.strayAgain: its restart announces
// again what its history did not order); a-1 submitted a-2/1/694, sent
// in the configuration ("goes up as any"); a-2 never restarted (it
// applied a-1's next regular configuration as an ordinary Down), and
// 694's Down took 693 for done there. A later Up of a member apart goes
// up while its earlier ones are withheld: the hole afterDoubt closes
// for Ups in doubt, open here; not fixed. Runs failed at
// 4cf29b8 (seeds 1-100): every node starving, 14 in the regional domain,
// 6 in three-sites' and 9 in the demo's global domain; one site's nodes
// starving, 3 and 2; every node stopping together, 1 (seed 66). The
// commonest failure left is EVS 4 with 9 at bridge level (5 of three-sites' 6, 8
// of the global domain's 9): at three-sites seed 6, fra's nodes
// delivered 27 Ups of ams in the regular configuration r:65544:ams, and
// sin's nodes delivered them in the transitional configuration after it
// (fed:t:1114160:ams/458776:ams>r:1245240:ams, rings that did not settle
// between), and both went on to r:1245240:ams. Not from the messages
// of that transitional configuration (none at either site): at
// r:458776:ams, which continued the domain's configuration, fra-1 held
// 36 messages back for Safe delivery and sin-1 56 (sin-1 applied the
// federation's transitional entry before it, fra-1 none), and at the
// transitional configuration they held 37 and 64, which they let out
// there: the Ups fra delivered in the regular configuration under a
// mark, sin still held (bridge, "Failover without a configuration change" and
// "Safe delivery across sites"). The mark (161797@65552, Through
// 149512@65552; instrumented at 350beb6) was one of the federation's
// transitional configuration: sin-1 applied it in its transitional
// section and dropped it where r:458776:ams continued (Site.continued
// re-delivered the messages alone), fra-1, caught up over it, applied it
// in the regular configuration. Fixed since the bridge applies such a mark
// at every site or at none (TestContinuedMarkInTrans): seeds 1-100, every
// node starving, three-sites 6 runs failed at 3afad82 and 1 with the fix
// (31), the demo's global domain 9 at 350beb6 (8 with EVS 4 and 9) and 1
// with it (49: EVS 6 and 9).
// In the regional domain at seed 3 (at 0fc5db2) both parts of a split
// site installed one transitional configuration (Site.leave, named after
// the next ring) with different Ups in doubt (EVS 4, 7, and 14 messages
// taken for lost); since its id names the Ups in doubt (Site.doubtID)
// that run breaks 2.4 alone, as seeds 10, 29 and 69 of the regional case
// do at 83dba36 (and 38, among others): two parts of a site going from
// one regular configuration into the same next one through two
// transitional configurations (gateway/bridge, "Catch-up, and the
// bound"); not fixed. At 83dba36, seeds 1-100, the regional and
// three-sites cases failed 14 and 6 runs, the same runs with the same
// violations with Site.doubtID and without. Node-level 1.1 in the
// regional domain (domconf: a send told outside any View configuration
// that others deliver) had two causes. A node that its site had
// announced out of the domain's configuration, in its transitional
// configuration of itself alone, opened a round of its own where the
// others completed theirs with it, and was told that its messages were
// not sent while they delivered them: fixed at 9dbb2cd (domconf
// TestOutFollowsRound). Seeds 1-100, runs failed at 1af447b and with
// the fix (at 1af447b, and the same at 9dbb2cd): one site starving 9
// (8 with node-level 1.1) and 3; every node starving 31 (13 with
// node-level 1.1, 22 with any node-level violation) and 16 (5 and 6,
// all but seeds 27 and 43 with bridge-level violations too); three-sites
// 18 and 17 (at 1af447b only). The other is a change of the domain's
// configuration at a federation configuration that continues it, which
// site a has before the bridge's transitional entry and site b after it
// (domconf, "Known gaps"; TestChangeAfterTransitional, knowngaps): one
// site starving, seeds 3 and 49 (a change that removes nodes: node-level
// 1.3 and 1.1); every node starving, seeds 43 (removes: 1.3) and 27 (one
// that adds a node: 1.1); and in three-sites' domain with one site
// starving, seed 15 (adds; its other failure of 1-100, seed 61, is not
// node-level). All but 27 were a mark of the federation's transitional
// configuration that a site caught up over, which the bridge now applies
// at every site or at none (bridge TestCaughtUpMarkInTrans,
// TestContinuedMarkInTrans): seeds 1-100 at 3afad82 and with the fix,
// one site starving 3 runs failed (3 and 49 node-level, 39 EVS 4 and 9)
// and none; every node starving 14 (node-level at 27, 28, 43, 57, 66) and
// 12 (27, 28, 66); three-sites' seed 15 (one site starving) and seed 6
// (every node, the EVS 4 with 9 above) pass. Seed 27 is the sites going
// on apart with the mark in the regular configuration at one of them
// (domconf, "Known gaps"). The failing seeds move with every change of the protocol's
// timing (at bb52b7a the counts above were 34, 25, 7, 11 and 0). When a
// fix lands, widen TestStarvation and drop this test.
package hiersim

import (
	"testing"
	"time"
)

// TestStarvationLong runs TestStarvation's cases with pauses up to
// 300 ms at seeds 1-10, where each case has failing seeds (at 4cf29b8:
// regional 10, EVS 2.4; three-sites 6, EVS 4 and 9; regional with one
// site starving 3, node-level 1.3; three-sites 6 and regional-one 3 pass
// since the bridge applies a mark of the federation's transitional
// configuration at every site or at none, and regional-one has no failing
// seed of 1-100 left), and its global-process fault in the regional
// domain at seed 66 (EVS 2.4: site a's nodes installing two transitional
// configurations).
func TestStarvationLong(t *testing.T) {
	for _, c := range []struct {
		name, topology, domain string
		site, together         bool
		seeds                  []uint64
	}{
		{"regional", demoTopology, "fed/regional:a+b", false, false, nil},
		{"three-sites", topologyFile, "", false, false, nil},
		{"regional-one", demoTopology, "fed/regional:a+b", true, false, nil},
		{"regional-process", demoTopology, "fed/regional:a+b", false, true, []uint64{66}},
	} {
		t.Run(c.name, func(t *testing.T) {
			seeds := c.seeds
			if seeds == nil {
				seeds = []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
			}
			for _, seed := range seeds {
				o := starveOptions(c.topology, c.domain, 300*time.Millisecond, c.site)
				o.starve.together = c.together
				r := checkedRun(t, seed, o)
				if bound := starveSettle(t, o); r.StallSettled > bound || len(r.StallApart) > 0 {
					t.Errorf("seed %d: the last configuration came %v after the starvation (at most %v); nodes not in a regular configuration of every site at the end: %v",
						seed, r.StallSettled, bound, r.StallApart)
				}
			}
		})
	}
}
