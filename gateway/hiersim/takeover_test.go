package hiersim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTakeoverTimeline kills the active gateway of a site under load (the
// seed picks the site and the moment) and takes the failover apart: the
// site's local ring forms without it, the standby becomes the active
// gateway, the federation ring of every site forms, the Sync phase (and
// the victim site's catch-up) ends, and each site delivers again. It logs
// each seed's timeline and the spread over the seeds, and fails unless
// every site of every seed delivers again, and goes without deliveries no
// longer than twice the federation token timeout from the kill on (issue
// 9's target), and unless the victim's gateway catches up within two
// token rotations of the last other site's new configuration: the
// answerer sends its answer at its next token visit after the ring
// settled there, and the answer (Agreed, with no Up before it) reaches
// the victim a one-way delay later. A Safe answer, or one held back
// behind Ups, needs two rotations more than it is sent. And it fails
// when the federation ring formed again at a View's ask (the victim
// site's announcement without the dead gateway: domconf Ready.Reform)
// before a site applied the failover ring's configuration: that site
// then waits for the whole membership round of the ring formed again
// (gateway.ReformAsk). Besides the sweep's seeds from seed 1 it runs
// those of takeoverSeeds.
func TestTakeoverTimeline(t *testing.T) {
	parallel(t)
	steps := map[string][]time.Duration{}
	off := layerOff(t, FaultGatewayCrash)
	log := openLog(t)
	var list []uint64
	for seed := *first; seed < *first+uint64(seedCount()); seed++ {
		list = append(list, seed)
	}
	for _, seed := range slices.Sorted(maps.Keys(takeoverSeeds)) {
		if *first == 1 && !slices.Contains(list, seed) { // not in a replay of another seed
			t.Logf("seed %d failed once: %s", seed, takeoverSeeds[seed])
			list = append(list, seed)
		}
	}
	for _, seed := range list {
		var synced time.Duration // the last other site's new configuration
		r := checkedRun(t, seed, Options{Topology: topologyFile, Fault: FaultGatewayCrash, BridgeOnly: off, Log: log})
		tk := r.Takeover
		if tk == nil {
			t.Fatalf("seed %d: the gateway crash left no timeline", seed)
		}
		t.Logf("seed %d: %v", seed, tk)
		add := func(step string, d time.Duration) { steps[step] = append(steps[step], d) }
		add("local ring without the gateway", tk.LocalRing)
		add("standby active", tk.Term)
		for s := range tk.Gap {
			role := "survivor"
			if s == tk.Victim {
				role = "victim"
				add("victim's gateway caught up", tk.CaughtUp[s])
			}
			add(role+" federation ring", tk.FedRing[s])
			add(role+" new configuration", tk.Synced[s])
			add(role+" delivering again", tk.Delivered[s])
			add(role+" gap from the kill", tk.Gap[s])
			add(role+" idle at the kill", tk.Idle[s])
			if s != tk.Victim {
				synced = max(synced, tk.Synced[s])
			}
			limit := 2 * tk.TokenTimeout
			if tk.Term == 0 || tk.FedRing[s] == 0 || tk.Delivered[s] == 0 {
				t.Errorf("seed %d: the takeover did not complete at %s: %v", seed, s, tk)
			} else if tk.Gap[s] > limit {
				t.Errorf("seed %d: %s went %v without a delivery from the kill on, want at most 2× the token timeout, %v: %v", seed, s, tk.Gap[s], limit, tk)
			}
			if tk.Reform != 0 && (tk.Synced[s] == 0 || tk.Synced[s] > tk.Reform) {
				t.Errorf("seed %d: the federation ring formed again at a View's ask at +%v, before %s applied the failover ring's configuration (+%v), which could then wait for the ring formed again (the join coming before the token that lets it deliver the mark its entry waits behind): %v", seed, ms(tk.Reform), s, ms(tk.Synced[s]), tk)
			}
		}
		if d := tk.CaughtUp[tk.Victim] - synced; tk.Rotation == 0 || d > 2*tk.Rotation {
			t.Errorf("seed %d: %s's gateway caught up %v after the last other site's new configuration, want at most two token rotations, 2×%v: %v", seed, tk.Victim, d, tk.Rotation, tk)
		}
		add("victim caught up after others", tk.CaughtUp[tk.Victim]-synced)
	}
	names := make([]string, 0, len(steps))
	for s := range steps {
		names = append(names, s)
	}
	slices.Sort(names)
	for _, s := range names {
		d := steps[s]
		slices.Sort(d)
		t.Logf("%-32s min %-8v median %-8v max %v", s, ms(d[0]), ms(d[len(d)/2]), ms(d[len(d)-1]))
	}
}

// takeoverSeeds are seeds of TestTakeoverTimeline that failed once,
// replayed on every run.
var takeoverSeeds = map[uint64]string{
	194: "at 1e280e9 sin went 3.74 s without a delivery (the bound is 3.45 s): the gateways' Ups and Acks queued while the federation ring had lost its token went out first in the failover's ring, Safe, and the Syncs behind them waited two rotations (0.65 s); the ring then formed again at ams's request before sin delivered the mark",
	660: "fra went 3.27 s without a delivery at 248f67a (its new configuration 0.63 s after ams's, 10 ms away): sin's View asked for the ring to form again as sin applied the failover ring's entry, and sin's gateway formed it at once; the join reached fra 4 ms before the token that would have let fra deliver the Safe Ack of the mark its entry waited behind, and fra applied the entry only when the ring formed again had installed (so did 444, 490, 568, 779, 782 and 994 of seeds 1-1000, 3.03-3.26 s)",
	444: "sin went 3.46 s without a delivery at 1e280e9 (3.70 s at 9605850), as seed 194; and 3.46 s with the members dropping their queued Ups and Acks at the new ring but the drivers submitting, after the installation, those the bridge asked for at the old ring's last deliveries (bridge.RingBound)",
}

// TestCrashThenStall kills a site's active gateway under load and then
// pauses the standby that took over for half a second (SIGSTOP, or a
// process starved of CPU), right at its term's start (even seeds) or
// 700 ms into it (odd seeds): its local ring goes on without it, its
// site's ring splits and merges, and no message may be lost or
// delivered twice, with every check of the gateway faults. A sender
// whose Up went out in a configuration of its site's ring without the
// active gateway sends it again (Again) at the merge, after an Up it
// queued during the merge's membership round: the gateway put that Up
// first, and the domain then took the earlier one for delivered and
// dropped it as a duplicate, lost at every node (seeds 2, 5, 6, 7, 23,
// 26 and 29 of 1-30 at bfecf85; bridge TestAgainBeforeLaterUp).
func TestCrashThenStall(t *testing.T) {
	parallel(t)
	off := layerOff(t, FaultGatewayCrash)
	var worst time.Duration
	for seed := *first; seed < *first+uint64(seedCount()); seed++ {
		o := Options{Topology: topologyFile, Fault: FaultGatewayCrash, BridgeOnly: off}
		o.stall.after, o.stall.d = time.Duration(seed%2)*700*time.Millisecond, 500*time.Millisecond
		r := checkedRun(t, seed, o)
		if r.Takeover == nil || r.Takeover.Term == 0 {
			t.Fatalf("seed %d: no standby took over: %v", seed, r.Takeover)
		}
		for _, g := range r.Takeover.Gap {
			worst = max(worst, g)
		}
	}
	t.Logf("longest time a site went without a delivery from the kill on: %v", worst)
}

// TestCrashThenLongStall is TestCrashThenStall with the standby paused
// for 1 s and 2 s from its term's start, sin's gateway killed. sin has
// two nodes, so the pause leaves it with no running node until the
// standby resumes, longer than the federation's token timeout: the
// federation ring forms without sin, and the standby's member, resumed,
// first forms a ring of sin alone. The simulator handed that ring to the
// bridge, which the agent does not (gateway.Grace: a new gateway term's
// rings of its site alone stay out of the bridge until it joins another
// site, for at most gateway.SoloGrace, 21.6 s here). The new term, which
// cannot know what its predecessor's member got ordered in the ring
// before, submitted every pending Up again in it, while ams and fra
// delivered those its predecessor's member had got ordered in their
// transitional configuration. 12 of the 39 seeds of 1-100 whose victim
// is sin broke, at 1 s and at 2 s (3, 11, 17, 36, 41, 46, 48, 56, 58,
// 66, 67, 85: the test's seeds until 2026-12-05), none of the 61 others: orphans of the killed
// gateway's node at different domain positions at different sites (EVS
// 6), and at all but 3 the standby's own messages, told sent in sin's
// ring alone, delivered at the others in their transitional
// configuration after the one before (EVS 1.3; at node level 1.1, never
// recorded as sent). Holding the ring back as the agent does, sin goes
// through a partition and a merge at the first ring with the others:
// their catch-up answer brings what they delivered, sin's orphans
// included, before sin leaves its configuration. Only a run that kept a
// ring of sin alone out of the bridge (Result.SoloHeld) covers that; which
// seeds do moves with the rings' timing, so the test kills sin's gateway
// at every seed (Options.victim) and searches the seeds from 1 on for 6
// such runs at each pause (reachSeeds; 1 at 1 s with -short or the race
// detector).
func TestCrashThenLongStall(t *testing.T) {
	parallel(t)
	want, stalls := 6, []time.Duration{time.Second, 2 * time.Second}
	if testing.Short() || raceEnabled {
		want, stalls = 1, stalls[:1]
	}
	for _, d := range stalls {
		o := Options{Topology: topologyFile, Fault: FaultGatewayCrash, victim: "sin"}
		o.stall.after, o.stall.d = 0, d
		reachSeeds(t, d.String(), want, 40, o, func(t *testing.T, r *Result) bool {
			if r.Takeover == nil || r.Takeover.Victim != "sin" {
				t.Fatalf("the gateway crash was not at sin: %v", r.Takeover)
			}
			return r.SoloHeld > 0
		})
	}
}

// reachSeeds runs o at seeds from 1 on, each in a subtest named
// name/seed, until want runs have reached the case the test is for
// (reached), and checks those runs with every check of the gateway
// faults (report); it fails the test if fewer than want of the first
// limit seeds reach the case. A run that does not is not the test's:
// neither counted nor checked (the CI sweep, TestFaults, checks the
// faults at their defaults). A list of seeds chosen to reach a case
// goes stale whenever a change moves the rings' timing (the idle hold
// that waits for every member's Safe deliveries, 2026-12-05, left 6 of
// TestCrashThenLongStall's 24 listed runs and 6 of
// TestRefusedBesideCaughtUp's 10 short of their case); the search finds
// the case wherever the timing puts it.
func reachSeeds(t *testing.T, name string, want int, limit uint64, o Options, reached func(t *testing.T, r *Result) bool) {
	t.Helper()
	var seeds []uint64
	for seed := uint64(1); seed <= limit && len(seeds) < want; seed++ {
		t.Run(fmt.Sprintf("%s/%d", name, seed), func(t *testing.T) {
			r, err := Run(seed, o)
			if err != nil {
				t.Fatal(err)
			}
			if !reached(t, r) {
				t.Logf("seed %d does not reach the case: not the test's", seed)
				return
			}
			report(t, o, r)
			seeds = append(seeds, seed)
		})
	}
	if len(seeds) < want {
		t.Errorf("%s: %d of seeds 1-%d reach the case the test is for (%v), want %d: the test does not cover what it is for", name, len(seeds), limit, seeds, want)
		return
	}
	t.Logf("%s: seeds %v reach the case", name, seeds)
}

// cutAsDies runs seed with a site's active gateway killed under load and
// the site cut off from every other site after (0 or 200 ms after the
// kill) for outage, then healed (Options.cutAsDies), with o's other
// fields, under every check of the gateway faults (report).
func cutAsDies(t *testing.T, seed uint64, after, outage time.Duration, o Options) *Result {
	t.Helper()
	r := checkedRun(t, seed, cutAsDiesOptions(after, outage, o))
	if r.Takeover == nil || r.Takeover.Term == 0 {
		t.Fatalf("seed %d: no standby took over: %v", seed, r.Takeover)
	}
	return r
}

// cutAsDiesOptions are cutAsDies's options: o with a site's active
// gateway killed and the site cut off after for outage.
func cutAsDiesOptions(after, outage time.Duration, o Options) Options {
	o.Topology, o.Fault, o.Outage, o.Settle = topologyFile, FaultGatewayCrash, outage, 30*time.Second
	o.cutAsDies.on, o.cutAsDies.after = true, after
	return o
}

// TestCutAsGatewayDiesWithinGrace kills a site's active gateway under
// load and cuts the site off from every other site at once (or 200 ms
// later) for 10 s, less than gateway.SoloGrace (21.6 s here): the
// standby's federation member forms a ring of its site alone, which its
// bridge must not take (Result.SoloHeld; gateway.Grace, as the agent), and
// the heal brings the others' ring before the grace ends
// (Result.SoloEnded 0), whose catch-up answer tells the new term what its
// predecessor's member got ordered. Every check of the gateway faults.
// With the grace off (the held ring handed to the bridge at once), each
// of these runs broke EVS as TestCutAsGatewayDies did before the bridge
// delivered the Ups in doubt in the site's transitional configuration.
func TestCutAsGatewayDiesWithinGrace(t *testing.T) {
	parallel(t)
	seeds, afters := []uint64{1, 2, 3, 4, 5, 6}, []time.Duration{0, 200 * time.Millisecond}
	if testing.Short() || raceEnabled {
		seeds, afters = seeds[:3], afters[:1]
	}
	for _, after := range afters {
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("%v/%d", after, seed), func(t *testing.T) {
				r := cutAsDies(t, seed, after, 10*time.Second, Options{})
				if r.SoloHeld == 0 || r.SoloEnded != 0 {
					t.Errorf("rings of the site alone kept out of the bridge %d, graces ended alone %d: want some kept out and none ended within a 10 s cut", r.SoloHeld, r.SoloEnded)
				}
			})
		}
	}
}

// TestCutAsGatewayDies is TestCutAsGatewayDiesWithinGrace with the site
// cut off for 30 s, longer than gateway.SoloGrace (21.6 s here, from the
// start of the standby's federation member), at seeds 1-12 (victims ams
// 1, 4, 5, 7; fra 2, 6, 9; sin 3, 8, 10, 11, 12; -hiersim.seeds=N runs N
// seeds from -hiersim.seed instead, 1 with -short or the race
// detector), cut 0 and 200 ms after the kill. The standby's ring of its
// site alone is held for the grace, then handed to the bridge
// (Result.SoloEnded): the site goes on alone, and its new term, which
// cannot learn what its predecessor's member got ordered in the last
// ring of every site, leaves the domain's configuration there with the
// Ups pending when it began in doubt: it delivers them in its own
// transitional configuration, without a domain position, and submits
// none of them (bridge Entry.InDoubt; Stats.InDoubt counts them, and the
// runs must have some). Every check of the gateway faults. Before, the
// term submitted them again and its ring of the site alone ordered them
// at other places than the others had delivered those its predecessor's
// member got ordered: 97 of seeds 1-100 broke EVS (6: the victim site's
// Ups at two domain positions; 1.3: its live nodes' Ups told sent in its
// ring alone and delivered by the other sites in their transitional
// configuration; seed 3, sin: sin-2/1/68 at 30727@65552 at ams and fra,
// at 29704@131092 at sin), and so did all 24 runs here.
func TestCutAsGatewayDies(t *testing.T) {
	parallel(t)
	from, n := uint64(1), uint64(12)
	switch {
	case *seeds > 0:
		from, n = *first, uint64(*seeds)
	case testing.Short() || raceEnabled:
		n = 1
	}
	var inDoubt, runs uint64
	for _, after := range []time.Duration{0, 200 * time.Millisecond} {
		for seed := from; seed < from+n; seed++ {
			t.Run(fmt.Sprintf("%v/%d", after, seed), func(t *testing.T) {
				r := cutAsDies(t, seed, after, 30*time.Second, Options{})
				if r.SoloEnded == 0 {
					t.Errorf("no grace ended with the site alone: the test does not cover the gap")
				}
				runs++
				for _, st := range r.Bridges {
					inDoubt += st.InDoubt
				}
			})
		}
	}
	t.Logf("%d runs: %d Ups delivered in doubt by the victims' new gateways", runs, inDoubt)
	if runs > 0 && inDoubt == 0 {
		t.Error("no new gateway delivered an Up in doubt: the runs do not cover the gap")
	}
}

// refusal sums what a run's bridges counted of a refused or lost
// catch-up: at the victim site (its new gateway's), the catch-ups
// refused (bridge Stats.Gaps: refusals and lost answers taken as one)
// and the Ups delivered in doubt (Stats.InDoubt); at the other sites,
// the refusals they answered beyond their log (BeyondLog) and for
// another cause (Diverged, ElidedRefused, InDoubtRefused): only those
// reach the victim site (no site answers itself), so that a refusal
// counted there while the others answered none is a lost answer's.
type refusal struct{ gaps, inDoubt, beyondLog, otherRefusals uint64 }

func refusalOf(r *Result) refusal {
	var c refusal
	for id, st := range r.Bridges {
		if strings.HasPrefix(id, r.Takeover.Victim+"-") {
			c.gaps += st.Gaps
			c.inDoubt += st.InDoubt
			continue
		}
		c.beyondLog += st.BeyondLog
		c.otherRefusals += st.Diverged + st.ElidedRefused + st.InDoubtRefused
	}
	return c
}

// refusedRun runs seed as TestCutAsGatewayDiesWithinGrace does (a site's
// active gateway killed under load, the site cut off from every other
// site after for 10 s, less than gateway.SoloGrace), with o's other
// fields, under every check of the gateway faults, and returns what its
// bridges counted of a refused or lost catch-up.
func refusedRun(t *testing.T, seed uint64, after time.Duration, o Options) refusal {
	t.Helper()
	r := cutAsDies(t, seed, after, 10*time.Second, o)
	c := refusalOf(r)
	t.Logf("victim %s: %d catch-ups refused, %d Ups delivered in doubt; the others refused %d beyond their log, %d for another cause; %d graces ended alone",
		r.Takeover.Victim, c.gaps, c.inDoubt, c.beyondLog, c.otherRefusals, r.SoloEnded)
	return c
}

// refusedSeeds returns the first seed and how many the refused-catch-up
// tests run: n, or -hiersim.seeds from -hiersim.seed, 1 with -short or
// the race detector.
func refusedSeeds(n uint64) (uint64, uint64) {
	switch {
	case *seeds > 0:
		return *first, uint64(*seeds)
	case testing.Short() || raceEnabled:
		return 1, 1
	}
	return 1, n
}

// TestCutAsGatewayDiesRefused is TestCutAsGatewayDiesWithinGrace with
// every bridge's log cut to refusedLog entries (Options.logEntries): the
// other sites order more than that while the victim site is cut off, so
// that the new term's first ring with them, after the heal and within
// the grace, cannot catch it up: its catch-up is refused (beyond the
// answerer's log: bridge Stats.Gaps at the victim site, BeyondLog at the
// others) and the site goes through a partition and a merge with the Ups
// pending when the term began still in doubt: it delivers them in its
// own transitional configuration without a domain position
// (Stats.InDoubt) and submits none of them. Some run must have both a
// refusal beyond the log and Ups in doubt at the victim site. Every
// check of the gateway faults (a refusal beyond the log is no error
// here), seeds 1-6 (refusedSeeds), cut 0 and 200 ms after the kill.
// Before the bridge kept such Ups in doubt, each of these runs broke EVS
// (6: an Up of the victim site at two domain positions, its killed
// gateway's; 1.3: the site's live nodes' Ups told sent in its ring
// alone).
func TestCutAsGatewayDiesRefused(t *testing.T) {
	parallel(t)
	from, n := refusedSeeds(6)
	var runs, covered, gaps, inDoubt uint64
	for _, after := range []time.Duration{0, 200 * time.Millisecond} {
		for seed := from; seed < from+n; seed++ {
			t.Run(fmt.Sprintf("%v/%d", after, seed), func(t *testing.T) {
				c := refusedRun(t, seed, after, Options{logEntries: refusedLog})
				runs++
				gaps, inDoubt = gaps+c.gaps, inDoubt+c.inDoubt
				if c.gaps > 0 && c.beyondLog > 0 && c.inDoubt > 0 {
					covered++
				}
			})
		}
	}
	t.Logf("%d runs: %d with a catch-up refused beyond the log and Ups in doubt at the victim site; %d catch-ups refused, %d Ups delivered in doubt there in all", runs, covered, gaps, inDoubt)
	if runs > 0 && covered == 0 {
		t.Error("no run refused the victim's catch-up beyond the log and delivered Ups in doubt: the runs do not cover the refused path")
	}
}

// refusedLog is TestCutAsGatewayDiesRefused's Config.LogEntries: less
// than the other sites order while the victim site is cut off (about 100
// messages in the 3.3 s of load left).
const refusedLog = 32

// TestCutAsGatewayDiesAnswerLost is TestCutAsGatewayDiesWithinGrace
// with a second cut (Options.recut): 350 or 400 ms after the new
// gateway's federation member first installed a ring of every site, the
// victim site is cut off again for 5 s. The new term's catch-up answer
// is then lost with that ring (its Sync phase ended, the answer not
// delivered yet), and its next ring is of its site alone, handed to the
// bridge at once (its member joined the others: no grace): no other
// member holds the ring's base, and the site takes the lost answer as a
// refusal (bridge settle, caughtUp with gap set) and delivers the Ups
// still in doubt in its own transitional configuration. Some run must
// have a catch-up refused at the victim site, Ups in doubt there, and no
// refusal answered by another site (the refusal was the lost answer's;
// the victim site itself may refuse the others' catch-ups at the merge
// after the second cut).
// Every check of the gateway faults, seeds 1-6 (refusedSeeds). Each of
// these runs took that path (and at 250-550 ms, 53 of 84 runs of seeds
// 1-12: at all 12 at 350 and 400 ms); before the bridge kept such Ups in
// doubt, they broke EVS as TestCutAsGatewayDiesRefused's did.
func TestCutAsGatewayDiesAnswerLost(t *testing.T) {
	parallel(t)
	from, n := refusedSeeds(6)
	var runs, covered, gaps, inDoubt uint64
	for _, after := range []time.Duration{350 * time.Millisecond, 400 * time.Millisecond} {
		for seed := from; seed < from+n; seed++ {
			t.Run(fmt.Sprintf("%v/%d", after, seed), func(t *testing.T) {
				var o Options
				o.recut.after, o.recut.d = after, 5*time.Second
				c := refusedRun(t, seed, 0, o)
				runs++
				gaps, inDoubt = gaps+c.gaps, inDoubt+c.inDoubt
				if c.gaps > 0 && c.inDoubt > 0 && c.beyondLog+c.otherRefusals == 0 {
					covered++
				}
			})
		}
	}
	t.Logf("%d runs: %d with a lost catch-up answer taken as a refusal and Ups in doubt at the victim site; %d catch-ups refused, %d Ups delivered in doubt there in all", runs, covered, gaps, inDoubt)
	if runs > 0 && covered == 0 {
		t.Error("no run took a lost catch-up answer for a refusal and delivered Ups in doubt: the runs do not cover the lost-answer path")
	}
}

// TestRefusedBesideCaughtUp kills the active gateways of two sites
// (FaultTwoGatewayCrashes) with every bridge's log at refusedLog entries:
// one new term's catch-up is refused beyond the third site's log, the
// other's is answered. The answered term must take the Ups its answer
// shows ordered for done and submit again only the others: a copy the
// domain ordered anew would be dropped by the sites that delivered the
// original, but delivered by the refused site, which missed the original
// (a refusal skips it). Before, the answered term submitted every Up
// pending at its site again (bridge TestInDoubtAnswered's "the answer's
// Downs are not applied at the gateway yet"), and 10 seeds of 1-40 (4,
// 5, 17, 19, 20, 24, 32, 34, 35, 40: the test's seeds until 2026-12-05)
// broke EVS with 19-63 violations each (14 of 40 with 1932da3's newTerm
// marking nothing): 6, an Up at two domain positions, and 1.3, its live
// senders' Ups delivered in a later configuration than the one they were
// sent in.
// Seed 4: ams refused (beyond fra's log), sin answered; fra-1 delivered
// sin-2/1/64 at 30725@65552 (23.219 s), ams-2 at 40977@131092 (24.859 s).
// At bridge.DefaultLogEntries the CI sweep refuses no catch-up there. Only
// a run that refuses a catch-up covers the case; the test searches the
// seeds from 1 on for 10 such runs (reachSeeds; 1 with -short or the race
// detector). The runs on the way that refuse none are checked too (report):
// no domain configuration at the failover. Some installed one with every
// federation configuration whole and every catch-up answered (seeds 8,
// 25, 33, 37, 54 of 1-80 at 9411587; 31 after the idle hold's change):
// the answerer's Sync named as its log start one entry later than its log
// held when it answered, and a new gateway at the entry before was
// answered in a ring that did not continue the domain's configuration
// (bridge Site.logFrom, TestFailoverContinues's "log 5").
func TestRefusedBesideCaughtUp(t *testing.T) {
	parallel(t)
	want := 10
	if testing.Short() || raceEnabled {
		want = 1
	}
	o := Options{Topology: topologyFile, Fault: FaultTwoGatewayCrashes, logEntries: refusedLog}
	reachSeeds(t, "refused", want, 80, o, func(t *testing.T, r *Result) bool {
		var gaps uint64
		for _, st := range r.Bridges {
			gaps += st.Gaps
		}
		if gaps == 0 {
			report(t, o, r)
		}
		return gaps > 0
	})
}
