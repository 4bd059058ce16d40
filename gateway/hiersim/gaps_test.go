package hiersim

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// gapSeeds returns the seeds a test of the narrower failover gaps runs:
// 1..n, or -hiersim.seeds from -hiersim.seed; with -short or the race
// detector, short of them.
func gapSeeds(n, short int) (uint64, uint64) {
	switch {
	case *seeds > 0:
		return *first, uint64(*seeds)
	case testing.Short() || raceEnabled:
		return 1, uint64(short)
	}
	return 1, uint64(n)
}

// checkedRun runs seed with o and fails the test on anything report
// finds.
func checkedRun(t *testing.T, seed uint64, o Options) *Result {
	t.Helper()
	r, err := Run(seed, o)
	if err != nil {
		t.Fatal(err)
	}
	report(t, o, r)
	return r
}

// victimSum sums, with f, the bridge counters of the victim site's nodes.
func victimSum(r *Result, f func(id string) uint64) uint64 {
	var n uint64
	for id := range r.Bridges {
		if strings.HasPrefix(id, r.Takeover.Victim+"-") {
			n += f(id)
		}
	}
	return n
}

// isolated reports whether run r (FaultGatewayCrash with Options.isolate)
// found a node that is no gateway to cut off at the victim site, and
// logs it when not: the run is checked, not counted (sin's two nodes are
// both gateways). It fails the test if no standby took over.
func isolated(t *testing.T, r *Result) bool {
	t.Helper()
	if r.Takeover == nil || r.Takeover.Term == 0 {
		t.Fatalf("no standby took over: %v", r.Takeover)
	}
	if !r.Isolated {
		t.Logf("victim %s has no node that is no gateway: checked, not counted", r.Takeover.Victim)
	}
	return r.Isolated
}

// TestAgainAroundDoubt kills a site's active gateway under load
// (FaultGatewayCrash) and cuts a node of the site that is no gateway off
// from the rest of its local ring at the kill (Options.isolate), for 1 s
// or for 3 s: the Ups it sends meanwhile are delivered in its ring alone,
// and it announces them again (Again) at the merge, to the new gateway
// term. After 1 s (the term begins about 0.43 s after the kill and learns
// what its predecessor got ordered from the catch-up answer about 1.5 s
// after it) the Agains come while the term's doubt lasts: they are in
// doubt too, and go up once the answer resolved them. After 3 s they come
// after the doubt ended, and go up at once. Every check of the gateway
// faults; the victim's new gateway must have taken Agains in the case the
// run is for (bridge Stats.Agains, AgainsInDoubt) and applied a catch-up
// answer (Stats.CatchUps), over the seeds whose victim has a node that is
// no gateway (ams, fra: sin's two nodes are both gateways). Seeds 1-6
// (-hiersim.seeds for more; seeds 1 and 2 with -short or the race
// detector).
func TestAgainAroundDoubt(t *testing.T) {
	parallel(t)
	from, n := gapSeeds(6, 2)
	for _, d := range []time.Duration{time.Second, 3 * time.Second} {
		var runs, covered int
		for seed := from; seed < from+n; seed++ {
			t.Run(fmt.Sprintf("%v/%d", d, seed), func(t *testing.T) {
				o := Options{Topology: topologyFile, Fault: FaultGatewayCrash, Log: openLog(t)}
				o.isolate.d = d
				r := checkedRun(t, seed, o)
				if !isolated(t, r) {
					return
				}
				runs++
				st := r.Bridges
				agains := victimSum(r, func(id string) uint64 { return st[id].Agains })
				inDoubt := victimSum(r, func(id string) uint64 { return st[id].AgainsInDoubt })
				catchUps := victimSum(r, func(id string) uint64 { return st[id].CatchUps })
				t.Logf("victim %s: the new gateway took %d Agains, %d of them in doubt; %d catch-ups", r.Takeover.Victim, agains, inDoubt, catchUps)
				switch {
				case catchUps == 0:
				case d == time.Second && inDoubt > 0, d > time.Second && agains > inDoubt:
					covered++
				}
			})
		}
		t.Logf("isolated %v: %d runs, %d reached the case", d, runs, covered)
		if runs > 0 && covered == 0 {
			t.Errorf("isolated %v: no run's new gateway took an Again %s with a catch-up answer: the runs do not cover the case", d, map[bool]string{true: "in doubt", false: "after its doubt"}[d == time.Second])
		}
	}
}

// TestDiesBetweenFedConfigurations kills a site's active gateway under
// load (FaultGatewayCrash), or cuts a site off from every other
// (FaultCut), and then another site's active gateway between its
// federation member's transitional configuration and the regular one
// after it (Options.transKill): its bridge holds the messages of the
// transitional configuration, numbered, for a ring that never settles at
// it, and its site's new term must learn what its predecessor's member
// got ordered. Every check of the gateway faults; every run must have
// killed a gateway so.
//
// After a cut, the component of the killed gateway's member (the sites
// not cut off) delivered some of its site's Ups in its transitional
// configuration; the new term's catch-up answer may come from the site
// that was cut off (the lowest id at base), whose log has none of them.
// Taking that answer for the domain's word, the term submitted them
// again: 34 of seeds 1-100 broke EVS (seed 5: ams cut off, sin-2 killed;
// 6: sin-1 delivered sin-2/1/104 at 69649, fra-1 at 34823, a place of its
// transitional configuration; 1.3 and 4: fra's nodes delivered sin-1/1/25
// in that configuration while sin-1 was told it sent it in r:131112:ams).
// Now such an answer leaves them in doubt (bridge fedState.split) and the
// site delivers them in its own transitional configuration; the cut runs
// must count that (Stats.InDoubtSplit) at the killed gateway's site.
// Seeds 1-6 (-hiersim.seeds for more; seed 5 with -short or the race
// detector).
func TestDiesBetweenFedConfigurations(t *testing.T) {
	parallel(t)
	from, n := gapSeeds(6, 1)
	if (testing.Short() || raceEnabled) && *seeds == 0 {
		from = 5
	}
	diesBetween(t, FaultGatewayCrash, from, n)
	if split := diesBetween(t, FaultCut, from, n); split == 0 {
		t.Error("no new term after a cut left its Ups in doubt on an answer from another component (Stats.InDoubtSplit): the cut runs do not cover the case")
	}
}

// diesBetween runs seeds from..from+n-1 with fault and Options.transKill,
// and returns the answers that left Ups in doubt at the killed gateways'
// sites (bridge Stats.InDoubtSplit).
func diesBetween(t *testing.T, fault Fault, from, n uint64) (split uint64) {
	t.Helper()
	for seed := from; seed < from+n; seed++ {
		t.Run(fmt.Sprintf("%s/%d", fault, seed), func(t *testing.T) {
			o := Options{Topology: topologyFile, Fault: fault, transKill: true, Log: openLog(t)}
			r := checkedRun(t, seed, o)
			if r.TransKilled == "" {
				t.Fatalf("no gateway killed between its federation member's transitional and regular configurations: the run does not cover the case")
			}
			site, _, _ := strings.Cut(r.TransKilled, "-")
			var catchUps, gaps, inDoubt, splits uint64
			for id, st := range r.Bridges {
				if strings.HasPrefix(id, site+"-") {
					catchUps, gaps, inDoubt, splits = catchUps+st.CatchUps, gaps+st.Gaps, inDoubt+st.InDoubt, splits+st.InDoubtSplit
				}
			}
			split += splits
			t.Logf("%s killed with %d messages of the transitional configuration in its bridge; its site: %d catch-ups, %d refused, %d left in doubt by an answer, %d Ups in doubt delivered", r.TransKilled, r.TransDelivered, catchUps, gaps, splits, inDoubt)
		})
	}
	return split
}

// TestSplitAsGatewayDies kills a site's active gateway under load and
// cuts another site off from every other at the kill, for 5 s
// (Options.cutOther): the domain splits as the gateway dies, and the new
// gateway term's first federation ring holds the third site but not the
// one cut off (bridge, "Catch-up, and the bound": behind it, the term
// takes its answer for a refusal while it has Ups in doubt, since the
// site cut off may have delivered some of them alone, Stats.InDoubtMissing;
// at its base, it delivers the Ups in doubt alone). Every check of the
// gateway faults; every run must have handed its new term's bridge a
// first ring of two sites, and some run must have taken an answer for a
// refusal so. Seeds 1-6 (-hiersim.seeds for more; seed 1 with -short or
// the race detector).
func TestSplitAsGatewayDies(t *testing.T) {
	parallel(t)
	from, n := gapSeeds(6, 1)
	var missing uint64
	for seed := from; seed < from+n; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			o := Options{Topology: topologyFile, Fault: FaultGatewayCrash, cutOther: true, Log: openLog(t)}
			r := checkedRun(t, seed, o)
			if r.Takeover == nil || r.Takeover.Term == 0 {
				t.Fatalf("no standby took over: %v", r.Takeover)
			}
			if len(r.TermFirstRing) != 2 || !slices.Contains(r.TermFirstRing, r.Takeover.Victim) {
				t.Fatalf("the new term's first federation ring is %v, want the victim %s and one other site: the run does not cover the case", r.TermFirstRing, r.Takeover.Victim)
			}
			st := r.Bridges
			m := victimSum(r, func(id string) uint64 { return st[id].InDoubtMissing })
			missing += m
			t.Logf("victim %s, first ring %v: %d catch-ups, %d refused (%d answers taken for refusals with a site missing), %d Ups in doubt delivered", r.Takeover.Victim, r.TermFirstRing,
				victimSum(r, func(id string) uint64 { return st[id].CatchUps }), victimSum(r, func(id string) uint64 { return st[id].Gaps }), m,
				victimSum(r, func(id string) uint64 { return st[id].InDoubt }))
		})
	}
	if n > 0 && missing == 0 {
		t.Error("no new term took an answer for a refusal with the site cut off missing from its ring (bridge Stats.InDoubtMissing): the runs do not cover the case")
	}
}

// TestHandoverThenCut hands a site's active gateway role over to its
// next gateway under load (Options.handover, as `atoll admin handover`):
// the old gateway drains its federation member for 500 ms and stops it,
// and at its release the new gateway starts a term, whose Ups pending at
// its start are in doubt as at a failover (bridge Site.Release: the
// drained member's last Ups may have been delivered by the other sites in
// their transitional configuration, after it left). Without a cut the
// new member joins the others, and the catch-up answer ends the doubt.
// With one (the site cut off from every other site at the release, for
// 30 s, longer than gateway.SoloGrace) the site goes on alone after the
// grace and delivers the Ups in doubt in its own transitional
// configuration, without a domain position; every check of the gateway
// faults, and every run must have applied the release at every node of
// the site; the cut runs must have ended a grace alone and delivered Ups
// in doubt. Seeds 1-6 (-hiersim.seeds for more; seed 1 with -short or
// the race detector).
func TestHandoverThenCut(t *testing.T) {
	parallel(t)
	from, n := gapSeeds(6, 1)
	for _, cut := range []bool{false, true} {
		var inDoubt uint64
		for seed := from; seed < from+n; seed++ {
			t.Run(fmt.Sprintf("cut=%v/%d", cut, seed), func(t *testing.T) {
				o := Options{Topology: topologyFile, Log: openLog(t)}
				o.handover.on, o.handover.cut = true, cut
				if cut {
					o.Outage, o.Settle = 30*time.Second, 30*time.Second
				}
				r := checkedRun(t, seed, o)
				if r.Handover == "" {
					t.Fatal("no handover released at every node of the site: the run does not cover the case")
				}
				site, _, _ := strings.Cut(r.Handover, "-")
				var catchUps, gaps, doubt uint64
				for id, st := range r.Bridges {
					if strings.HasPrefix(id, site+"-") {
						catchUps, gaps, doubt = catchUps+st.CatchUps, gaps+st.Gaps, doubt+st.InDoubt
					}
				}
				inDoubt += doubt
				t.Logf("handover to %s: %d catch-ups, %d refused, %d Ups delivered in doubt; %d graces ended alone", r.Handover, catchUps, gaps, doubt, r.SoloEnded)
				if cut && r.SoloEnded == 0 {
					t.Errorf("no grace ended with the site alone: the cut did not outlast it")
				}
			})
		}
		if cut && n > 0 && inDoubt == 0 {
			t.Error("no run delivered Ups in doubt after the handover and the cut: the runs do not cover the case")
		}
	}
}

// TestSplitUnseen is TestSplitAsGatewayDies with the third site's
// gateways deaf to federation multicasts for the last 300 ms before the
// kill (Options.deafThird): the victim's gateway's last Ups reach the
// site cut off at the kill and not the third, and nothing can bring them
// there after (the sender dead, the other holder cut off). The site cut
// off delivers them alone, in its transitional configuration; the
// victim's new term, whose first federation ring has the third site,
// must not submit them again on the third site's answer (they would be
// ordered at two places). Every check of the gateway faults; some run
// must have reached the case (Result.SplitAlone: such an Up delivered by
// the site cut off in its transitional configuration, and by the third
// site in no configuration it shared with it). Seeds 1-6
// (-hiersim.seeds for more; seed 2 with -short or the race detector:
// seed 1 does not reach the case).
func TestSplitUnseen(t *testing.T) {
	parallel(t)
	from, n := gapSeeds(6, 1)
	if (testing.Short() || raceEnabled) && *seeds == 0 {
		from = 2
	}
	var runs, reached int
	for seed := from; seed < from+n; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			o := Options{Topology: topologyFile, Fault: FaultGatewayCrash, cutOther: true, deafThird: 300 * time.Millisecond, Log: openLog(t)}
			r := checkedRun(t, seed, o)
			if r.Takeover == nil || r.Takeover.Term == 0 {
				t.Fatalf("no standby took over: %v", r.Takeover)
			}
			runs++
			if r.SplitAlone > 0 {
				reached++
			}
			st := r.Bridges
			t.Logf("victim %s, first ring %v: %d of its Ups delivered by the site cut off alone; %d catch-ups, %d refused, %d answers taken for refusals with a site missing, %d Ups in doubt delivered", r.Takeover.Victim, r.TermFirstRing, r.SplitAlone,
				victimSum(r, func(id string) uint64 { return st[id].CatchUps }), victimSum(r, func(id string) uint64 { return st[id].Gaps }),
				victimSum(r, func(id string) uint64 { return st[id].InDoubtMissing }), victimSum(r, func(id string) uint64 { return st[id].InDoubt }))
		})
	}
	t.Logf("%d runs, %d reached the case", runs, reached)
	if runs > 0 && reached == 0 {
		t.Error("no run had an Up of the victim site delivered by the site cut off alone and not by the third: the runs do not cover the case")
	}
}

// TestAgainUnseen kills a site's active gateway under load once it got
// an Up that its standbys never received (Options.hide: they are deaf to
// the local ring from the Up's send to the kill), and cuts the Up's
// sender, a node that is no gateway, off from the rest of its local ring
// at the kill for 3 s (Options.isolate): the new gateway term learns of
// the Up only from its sender's Again at the heal, after its doubt ended.
// Killed as the dead gateway delivered the Up on its local ring
// (ordered=false), its federation member may not have submitted it, and
// the Again brings it up; killed once its member delivered it
// (ordered=true), the domain ordered it, the new term's catch-up answer
// brings it down, and the Again must not bring it up again (bridge,
// "Catch-up, and the bound": a term learns the fate of every Up a
// predecessor could have submitted). The federation ring must order it
// from one member's copy (Result.HiddenCopies: a copy the new term
// submitted again after its predecessor's got ordered is dropped as a
// duplicate at every site, which no trace shows). Every check of the
// gateway faults;
// every run must have hidden the Up (Result.Hidden: the dead gateway
// delivered it, no standby did) at a site with a node that is no gateway
// (ams, fra), and have ended its new term's doubt before the heal.
// Seeds 1-6 (-hiersim.seeds for more; seed 1 with -short or the race
// detector).
func TestAgainUnseen(t *testing.T) {
	parallel(t)
	from, n := gapSeeds(6, 1)
	for _, ordered := range []bool{false, true} {
		var runs, reached int
		for seed := from; seed < from+n; seed++ {
			t.Run(fmt.Sprintf("ordered=%v/%d", ordered, seed), func(t *testing.T) {
				o := Options{Topology: topologyFile, Fault: FaultGatewayCrash, Log: openLog(t)}
				o.isolate.d = 3 * time.Second
				o.hide.on, o.hide.ordered = true, ordered
				r := checkedRun(t, seed, o)
				if !isolated(t, r) {
					return
				}
				runs++
				st := r.Bridges
				caught, ok := r.Takeover.CaughtUp[r.Takeover.Victim]
				t.Logf("victim %s: Up %s; caught up +%v; the new gateway took %d Agains, %d in doubt; %d catch-ups", r.Takeover.Victim, r.Hidden, ms(caught),
					victimSum(r, func(id string) uint64 { return st[id].Agains }), victimSum(r, func(id string) uint64 { return st[id].AgainsInDoubt }),
					victimSum(r, func(id string) uint64 { return st[id].CatchUps }))
				want := map[bool]string{false: "local", true: "ordered"}[ordered]
				if r.Hidden == want && ok && caught < 3*time.Second {
					reached++
				}
				if r.HiddenCopies != 1 {
					t.Errorf("the federation ring ordered the hidden Up from %d members' copies, want 1: a new term submitted it again after its predecessor's member got it ordered (or nobody did)", r.HiddenCopies)
				}
			})
		}
		t.Logf("ordered=%v: %d runs, %d reached the case", ordered, runs, reached)
		if runs > 0 && reached == 0 {
			t.Errorf("ordered=%v: no run hid an Up from the standbys until its Again after the doubt: the runs do not cover the case", ordered)
		}
	}
}

// TestAgainUnseenEvicted is TestAgainUnseen, its Up ordered, at seeds
// where the standbys' deafness outlasts the local ring's patience: the
// deaf standby is evicted from its site's ring (about 0.5 s after its
// deafness began, before the kill) and, in a ring of its own, goes on as
// a gateway of its part of the site. Its term fences the active
// gateway's member and joins the other sites; the rest of the site's
// ring then starts a term of its own (a third one with the failover's,
// Result.Terms), which fences it, and catches up over the federation
// ring the deaf standby's term was in. Both parts leave the regular
// configuration they were in alone, into that ring's regular
// configuration: the rest's bridge named its transitional configuration
// of the site after its own term's first ring, the deaf standby's after
// the ring it went into, and the site's nodes installed two
// transitional configurations of the site out of one regular
// configuration into the same next one (EVS 2.4, site level, at seeds
// 32, 44, 52, 72 and 97 of 1-100: "fra-3/1, a member of
// site:fra:t:131096:ams/65552:ams, installed
// site:fra:t:196640:ams/65552:ams after r:65544:ams instead and then
// r:131096:ams"; bridge Site.caughtUp names it after the ring it goes
// into since). Every check of the gateway faults, and three gateway
// terms. Seeds 32 and 44 (32 with -short or the race detector).
func TestAgainUnseenEvicted(t *testing.T) {
	parallel(t)
	seeds := []uint64{32, 44}
	if testing.Short() || raceEnabled {
		seeds = seeds[:1]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			o := Options{Topology: topologyFile, Fault: FaultGatewayCrash, Log: openLog(t)}
			o.isolate.d = 3 * time.Second
			o.hide.on, o.hide.ordered = true, true
			r := checkedRun(t, seed, o)
			if r.Terms < 3 {
				t.Errorf("victim %s: %d gateway terms after the rings formed, want 3 (the evicted deaf standby's, the rest of its site's, the failover's): the run does not cover the case", r.Takeover.Victim, r.Terms)
			}
		})
	}
}

// TestAgainUnseenInDoubt is TestAgainUnseen, its Up ordered (the dead
// gateway's member got it ordered, its standbys never received it, and
// its sender is cut off from its site for 3 s at the kill), with the
// site cut off from every other site at the kill for 30 s, longer than
// gateway.SoloGrace, as TestCutAsGatewayDies: the new term gets the Up
// only from its sender's Again, during its doubt, after Ups its
// predecessor got and submitted after it, and the site then goes on
// alone and delivers its Ups in doubt in its own transitional
// configuration. They must come in the order the other sites delivered
// them in, the predecessor's: where it first delivered each (bridge
// doubtOrder, from the Seens). Every check of the gateway faults; some
// run must have delivered Ups in doubt in another order than the new
// gateway's pending one (bridge Stats.InDoubtMoved). In pending order
// (the bridge before), seeds 4, 16 and 20 of 1-40 broke EVS 6 and 9
// (seed 4: ams-2 delivered ams-2/1/25 before ams-3/1/19, fra-1 the
// reverse); since, none of them. Seed 32 broke EVS 2.4 at fra, before
// and after, on another path: the deaf standby fra-2 is evicted from its
// local ring before the kill and goes on as a gateway of its own, and
// fra's nodes installed two transitional configurations of the site out
// of one regular configuration into the same next one (the rest of the
// site's bridge named its own after its new term's first ring; it passes
// since, as TestAgainUnseenEvicted). Seeds 1-20
// (-hiersim.seeds for more; seed 5 with -short or the race detector:
// seed 4 moves none on main since 2026-12-05's bridge and ring changes).
func TestAgainUnseenInDoubt(t *testing.T) {
	parallel(t)
	from, n := gapSeeds(20, 0)
	if n == 0 {
		from, n = 5, 1
	}
	var runs, moved, inDoubt uint64
	for seed := from; seed < from+n; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			o := Options{Log: openLog(t)}
			o.isolate.d = 3 * time.Second
			o.hide.on, o.hide.ordered = true, true
			r := cutAsDies(t, seed, 0, 30*time.Second, o)
			if !isolated(t, r) {
				return
			}
			runs++
			st := r.Bridges
			m := victimSum(r, func(id string) uint64 { return st[id].InDoubtMoved })
			d := victimSum(r, func(id string) uint64 { return st[id].InDoubt })
			moved += m
			inDoubt += d
			t.Logf("victim %s: Up %s; %d Ups delivered in doubt, %d of them moved from pending order; the new gateway took %d Agains in doubt", r.Takeover.Victim, r.Hidden, d, m,
				victimSum(r, func(id string) uint64 { return st[id].AgainsInDoubt }))
		})
	}
	t.Logf("%d runs: %d Ups delivered in doubt, %d moved from pending order", runs, inDoubt, moved)
	if runs > 0 && moved == 0 {
		t.Error("no run delivered Ups in doubt in another order than the new gateway's pending one: the runs do not cover the case")
	}
}

// TestAgainUnseenTakerDies is TestAgainUnseenInDoubt on a topology with
// three gateways at ams and fra (testdata/three-gateways.yaml), whose
// standby that took over dies in its doubt (Options.killTaker, 300 ms
// into its term: the site is cut off, its member in no ring with another
// site), and a third gateway takes over. The last gateway named before
// its term is the one that died, which never had the hidden Up and
// submitted nothing: the Ups in doubt must come in the order of the
// gateway before it, which submitted them (bridge Site.predecessor).
// Taking the dead standby's order (the bridge before), seed 143 broke
// EVS 6 and 9 (fra-1 delivered fra-4/1/14 before fra-2/1/18, fra's nodes
// in doubt the reverse), the one of seeds 1-150 (87 runs with a node
// that is no gateway at the victim site) to break on it; since, none.
// Seed 96 broke EVS 6 on another path (TestTakerDiesHole). Every
// check of the gateway faults; some run must have taken the earlier
// gateway's order (bridge Stats.InDoubtEarlierPred: 77 of the 87 runs).
// Seeds 143 and 1-20 (-hiersim.seeds for a range instead; seed 143 alone
// with -short or the race detector).
func TestAgainUnseenTakerDies(t *testing.T) {
	parallel(t)
	list := []uint64{143}
	from, n := gapSeeds(20, 0)
	if *seeds > 0 {
		list = nil
	}
	for s := from; s < from+n; s++ {
		list = append(list, s)
	}
	var runs, earlier, moved uint64
	for _, seed := range list {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := checkedRun(t, seed, takerDiesOptions(t))
			if !isolated(t, r) {
				return
			}
			runs++
			st := r.Bridges
			e := victimSum(r, func(id string) uint64 { return st[id].InDoubtEarlierPred })
			m := victimSum(r, func(id string) uint64 { return st[id].InDoubtMoved })
			earlier += e
			moved += m
			t.Logf("victim %s: Up %s; %d terms; %d Ups delivered in doubt, %d moved from pending order, %d in an earlier gateway's order", r.Takeover.Victim, r.Hidden, r.Terms,
				victimSum(r, func(id string) uint64 { return st[id].InDoubt }), m, e)
		})
	}
	t.Logf("%d runs: %d took an earlier gateway's order, %d Ups moved from pending order", runs, earlier, moved)
	if runs > 0 && earlier == 0 {
		t.Error("no run took an earlier gateway's order than the dead standby's: the runs do not cover the case")
	}
}

// takerDiesOptions are TestAgainUnseenTakerDies's options.
func takerDiesOptions(t *testing.T) Options {
	o := Options{Log: openLog(t)}
	o.isolate.d = 3 * time.Second
	o.hide.on, o.hide.ordered = true, true
	o.killTaker = 300 * time.Millisecond
	o = cutAsDiesOptions(0, 30*time.Second, o)
	o.Topology = "testdata/three-gateways.yaml"
	return o
}

// TestTakerDiesHole runs TestAgainUnseenTakerDies's seed 96 (victim ams,
// its Up not ordered, six gateway terms): every check must pass. The
// hide's deaf standbys are evicted from ams's ring before the kill and go
// on as a part of the site of their own (ams-2, then ams-3, gateways of
// it, their members fenced by ams-1's); killTaker kills ams-2, and
// ams-3's term begins (ring 16) while ams-1, the only gateway whose
// member got anything ordered, is still active in the other part (ams-1
// and ams-4). At the merge (ring 32, ams-3's term still in doubt) ams-4's
// Again brings ams-4/1/18, which ams-1 got ordered, and its Seen names
// ams-1 at ring 24, after ams-3's term began. With ams-2 for the
// predecessor (named in a Seen at ring 8; it never had ams-4/1/18 and
// never settled a ring), ams-3/1/61 went first and 18 last, and every
// other site's node broke EVS 6: "fra-1/1 delivered ams-4/1/18 in
// r:327708:ams without ams-3/1/61, which precedes it in the agreed
// order: a hole in a regular configuration" (ams-3/1/59 with the bridge
// before the Relay, bb52b7a). The gateway of the other part named after
// the term began is taken instead (bridge Site.predecessor). The seed
// passes without Options.killTaker.
func TestTakerDiesHole(t *testing.T) {
	parallel(t)
	checkedRun(t, 96, takerDiesOptions(t))
}
