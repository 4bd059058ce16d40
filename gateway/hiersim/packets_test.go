package hiersim

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring/sim"
)

// netFaults are the hierarchy faults TestPacketFaults runs on lossy
// networks: those whose sweep of seeds 1-100 all passed with
// PacketsNoLocalLoss. Left out of CI, with the seeds that failed (see
// "What fails today on lossy networks"): the gateway crash and the stray
// gateway.
var netFaults = []Fault{FaultNone, FaultGatewayPause, FaultCut, FaultPartialCut, FaultWANDelay, FaultLocalCut}

// TestPacketFaults runs the hierarchy without a fault of its own, with a
// gateway pause, a cut, a partial cut, changed WAN delays and a gateway
// cut off from its local ring (netFaults) on networks that misbehave as
// the ring simulator's do (Options.Packets): the federation ring gets a
// packet fault mix drawn from the seed (random and burst loss, duplicates,
// reordering, corruption, stale replays), each site's local ring one
// without loss (PacketsNoLocalLoss), on from the start of the load to its
// end, so that the fault strikes on lossy, duplicating, reordering links.
// Under every check of TestFaults (and its effects), on as many seeds (a
// contiguous range from -hiersim.seed); and every ring's network must have
// injected what its mix allows (checkNetworks, netSums.check: with the
// mixes' injection a no-op, every subtest fails). What fails today is in
// "What fails today on lossy networks" below.
func TestPacketFaults(t *testing.T) {
	parallel(t)
	for _, f := range netFaults {
		t.Run(faultName(f), func(t *testing.T) {
			runNetSeeds(t, Options{Fault: f, Packets: PacketsNoLocalLoss}, seedCount())
		})
	}
}

// TestPersistentFaults is TestPacketFaults with persistent partial faults
// besides the mixes (Options.Persistent), on from the start of the load
// to the end of the run: a lossy link between two nodes of one site's
// local ring and one from a site's gateways to another site's. The
// hierarchy must end in rings that deliver: every check of TestFaults
// holds, and the persistent faults must have dropped packets (with their
// injection a no-op, every subtest fails). On a third of the seeds, and
// without the local cut (its seed 46: see "What fails today on lossy
// networks").
func TestPersistentFaults(t *testing.T) {
	parallel(t)
	for _, f := range netFaults {
		if f == FaultLocalCut {
			continue
		}
		t.Run(faultName(f), func(t *testing.T) {
			runNetSeeds(t, Options{Fault: f, Packets: PacketsNoLocalLoss, Persistent: true}, max(1, seedCount()/3))
		})
	}
}

// TestPersistentVictim is TestPersistentFaults without a fault of its
// own, whose site's persistent fault takes a node that is no gateway out
// of its site's ring for good (Options.persistentVictim: its multicasts
// never arrive, or it receives none), on as many seeds as TestFaults
// (about 0.3 s a seed). Alone in a ring without a gateway of the domain
// for gateway.PartGrace, the node leaves the domain's configuration into
// one of its part (bridge.Site.NoGateway: a
// transitional configuration where it delivers its own pending Ups, told
// sent in the one it left, then the regular one of its local ring's
// members, at the site and the node level), and the others never order
// its Ups in a later configuration (bridge pendingUp.leftIn). Under
// every check of TestFaults, EVS's own over the node's traces included;
// the checks of connected members leave it out (hier.disconnected), and
// every seed must have drawn such a node (Result.Disconnected). Before,
// every seed failed: the node stayed in the domain's configuration to the
// end (EVS 2.4, site level), and at seed 2 the others delivered its Up
// ams-3/1/2 that its View never told it sent (node-level 1.1).
func TestPersistentVictim(t *testing.T) {
	parallel(t)
	var drawn atomic.Int64
	base := Options{Packets: PacketsNoLocalLoss, Persistent: true, persistentVictim: true}
	n := seedCount()
	runSeedsEach(t, base, n, nil, func(r *Result) {
		if r.Disconnected != "" {
			drawn.Add(1)
		}
	})
	if got := drawn.Load(); got != int64(n) {
		t.Errorf("%d of %d seeds ended with a node out of its site's ring for good: the persistent victim did not take effect", got, n)
	}
}

// The gateway pause's seeds 11 and 13 with the persistent victim and
// packets=no-local-loss: sin-2, sin's active gateway, numbered a
// federation ring that no other site settled and was paused; sin-1 took
// over and got sin-2's pending Ups ordered with ams and fra. Back, sin-2
// was the active gateway again, its history won over sin-1's, and its
// catch-up, from that ring, was refused: it delivered those Ups in doubt
// in its own transitional configuration, told sent in that ring, while
// every other node had them in r:131104:ams (EVS 1.3). Now the refusal
// names the Ups in doubt the answerer's log holds ordered (bridge
// catchUp.done), and sin-2 takes those ordered in another configuration
// than the one it leaves for done (bridge Site.doneElsewhere,
// Stats.DoneElsewhere): some node of each run did. Seed 43 (of 1-50)
// does the same; in all three, sin-2's own Ups among them are told gone
// (bridge Entry.Gone), unsent.
func TestPersistentVictimPauseSeeds(t *testing.T) {
	parallel(t)
	for _, seed := range []uint64{11, 13, 43} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := checkedRun(t, seed, Options{Topology: topologyFile, Fault: FaultGatewayPause, Packets: PacketsNoLocalLoss, Persistent: true, persistentVictim: true})
			var n, told, elsewhere uint64
			for _, st := range r.Bridges {
				n += st.DoneElsewhere
				told += st.GoneTold
				elsewhere += st.GoneElsewhere
			}
			if n == 0 {
				t.Error("no refused site took an Up in doubt for done elsewhere (bridge Stats.DoneElsewhere)")
			}
			// sin-2's own Ups among them (sin-2/1/32 to 35 at seed 11,
			// 51 to 56 at 13, 22 and 31 to 35 at 43), ordered in a
			// configuration sin-2 was never in, and discarded by every
			// View: told unsent, to be sent again (bridge Entry.Gone).
			// Before, its View told nothing of them.
			var views uint64
			for _, st := range r.Views {
				views += st.GoneTold
			}
			if told == 0 || elsewhere != 0 || views != told {
				t.Errorf("sends told gone: %d by bridges (%d elsewhere), %d by Views; want some, none elsewhere, all told on", told, elsewhere, views)
			}
		})
	}
}

// The stray gateway's seed 94 with packets=all: sin-1 and sin-2, two
// parts of sin, held the same positions in the same configuration but
// had applied different marks (sin-1's term delivered two in
// r:131104:ams's regular configuration and let out 88 messages held
// behind Safe ones in r:65544:ams; sin-2's catch-up dropped them, after
// the others' transitional configuration, and delivered the 88 in its own
// transitional configuration). At the two local rings' merge, sin-2
// active, sin-1 applied sin-2's Downs from its position on, that
// transitional configuration among them (EVS 4 and 9 at the site level).
// sin-1 must be apart and restart in sin-2's history: sin-1's Have names
// how far its marks let out (bridge Site.marksApart), which sin-2's log
// at its position does not (see "Two parts of a site that each caught
// up" below).
func TestMarksApartSeed(t *testing.T) {
	parallel(t)
	r := checkedRun(t, 94, Options{Topology: topologyFile, Fault: FaultStrayGateway, Packets: PacketsAll})
	if st := r.Bridges["sin-1"]; st.Restarted == 0 {
		t.Errorf("sin-1 never restarted (bridge Stats %+v): the seed does not test a member apart by its marks", st)
	}
}

// What fails today on lossy networks (left out of CI): each family with
// its seeds (sweeps of seeds 1-100, 1-50 with persistent faults) and
// what breaks; each seed replays with
//
//	go test ./gateway/hiersim -count=1 -v -run '^TestReplay$' -hiersim.seed=SEED \
//	    -hiersim.replay='fault=FAULT packets=PACKETS [persistent=true]' -hiersim.log=/tmp/hiersim.log
//
// (fault= left out for FaultNone).
//
// The local rings' losses (packets=all: every ring its whole mix), 24 of
// 799 runs of FaultNone and Faults (the local cut's seed 88 skipped then,
// a known bug of its own). A site's local ring that loses packets splits
// again and again, its nodes each alone, and each part with a gateway
// makes it the active one: the site's gateways fence each other's
// federation members many times a second (20 terms in 7 s at FaultNone's
// seed 2). Then two nodes of a site deliver its Ups in different orders
// (EVS 6 and 9: partial-cut 20 until bridge pendingUp.behind;
// gateway-local-cut 89 until bridge Site.heldBehindDoubt, below). At
// partial-cut 20 fra-1 and fra-2, each alone in its local ring and each
// fra's active gateway, left the domain's configuration r:65544 one after
// the other (24.99 s, 25.46 s) in transitional configurations of their
// own and delivered there the site's Ups in doubt (bridge Site.inDoubt:
// 82 at fra-1, 92 at fra-2) in doubtOrder: fra-1 had fra-2/1/29 41st and
// fra-1/1/231 79th (23563@852057, 23563@852095), fra-2 fra-1/1/231 41st
// and fra-2/1/29 42nd, and fra-3 later followed fra-1 (EVS 6 over
// r:65544's messages). Both took the same predecessor, fra-1's term
// named at local ring 16; what differed were its places: fra-1 had
// fra-2/1/29 and 78 Ups more itself in ring 60, where fra-2 saw it have
// them too but then leave (a place left), and fra-2 took over that a
// later place from its own Again of each in ring 92, where fra-1 was,
// which fra-1 then left as well: a place left for a place left, the
// later one. Of two places left the earlier is the node's first, in
// whichever order they came (bridge pendingUp.behind,
// TestFirstsBehindLeft): the seed passes, in TestTwoPartsDoubt. A message
// in another configuration than its sender's (EVS 1.3: cut 39,
// partial-cut 28 until bridge Site.leftBeside, stray-gateway 18), two
// nodes of a site deliver the same messages in different configurations
// (EVS 4: stray-gateway 94 until bridge Site.marksApart; cut 39,
// stray-gateway 18 and 94 are diagnosed below, "Two parts of a site that
// each caught up"), a View delivers a
// message its sender's View never told it sent (node-level 1.1:
// gateway-crash 21, 74, 85; sin's local ring split, the gateway of the
// newer part fenced the older part's, which did not resume, and the crash
// took the newer one: the older part's node, alone, never installed
// another local configuration, and stayed in the domain's configuration
// with no gateway to the end; they pass since its local ring forms again
// above the fencer's after gateway.OutrankedGrace, TestOutrankedSeeds),
// or packetSplit's check fails (none 2, 70;
// gateway-crash 18, 54, 56, 59, 90; gateway-pause 54, 56, 59; partial-cut
// 54; gateway-local-cut 90, 94; wan-delay 52, 80). With the bridge change
// on branch fedsplit-b (below), all of those but gateway-local-cut 90
// passed it (a held position whose answerer, ams, came into the ring
// through no transitional configuration: its Sync names no log start,
// syncMsg.from, and the ring cannot know its log holds the position;
// checked on main 5f05475: r:458780:ams settled with sin's Sync at
// 42011@196628 in r:196628:ams, behind base, ams its answerer, and ended
// before sin had the answer; in r:524320:ams ams's member was new (ams#3,
// t:524320:ams/0:ams) and its Sync named base 47124@458780 and no log
// start, sin's its held position, fra and sin came through
// t:524320:ams/458780:ams; Site.continuationUnblocked returns "" at any
// held position (fedState.holdOf) before it looks at the answerer's log
// start, so every site left r:65544:ams through a transitional
// configuration of its own at 47125@524320, ams and sin with Ups in
// doubt, and r:524320:ams changed the domain's configuration; it passes
// since bridge Site.answerForAnswerer: fra, which came through
// t:524320:ams/458780:ams with sin, its Sync in r:458780:ams naming what
// ams's did, answers sin for ams at r:524320:ams's installation, sin's
// Sync waits for fra's and names no held position, and r:524320:ams
// continues r:458780:ams).
// Swept again on main ea4deb5 (seeds 1-100 of FaultNone and the seven
// faults above, 800 runs, the local cut's 88 included; 269f0e4's binary
// failed the 24 above on the same runs): 16 fail, cut 39; gateway-crash
// 18, 21, 56, 59, 74, 85; gateway-local-cut 89, 90; gateway-pause 56, 59;
// partial-cut 20, 28; stray-gateway 18, 94 and 99. Stray-gateway 99 was
// new with the persistent victim's rule (it passed at e92e960): fra-3,
// no gateway, alone in its local ring for gateway.PartGrace, left
// r:589864:ams for its part at 41.5 s (NoGateway) and never delivered
// Safe messages sin-1/1/81 and later that ams-1 delivered in
// r:589864:ams (EVS 7). fra-3 had installed r:589864:ams (site level) and
// then stayed out of fra's ring, which lost packets, while every node's
// View was in a round (25.5 s to 48.3 s): no node-level configuration
// named it, so fra's gateway acked without it. An Ack now also waits for
// every node of the site that is no gateway and may have installed the
// site-level configuration (bridge Site.inConf; TestSafeWaitsForConfMember):
// the site is blocked, and the messages go out in the transitional
// configuration after the ring formed again, which fra-3 never installs.
// Stray-gateway 99 is in TestRegressions. The same sweep with that
// change: the other 15 fail as before (the same seeds), none new.
// With bridge Site.heldBehindDoubt (an Up held behind an earlier Up of
// its origin in doubt takes, for its gateway's first place, the place
// where that one's Down in doubt came round the local ring), swept on
// ea4deb5 without Site.inConf, the same 800 runs fail 15: ea4deb5's 16
// but gateway-local-cut 89, which passes (ams-1 delivered ams-2/1/20
// before ams-3/1/44 in r:131092:ams, sin-1 the other way: the case of
// stray-gateway 26 below; TestHeldBehindDoubt).
// Swept with bridge Site.awaitAnswer and gateway.OutrankedGrace on branch
// crash (on 2ae4169: without Site.inConf and Site.heldBehindDoubt; the
// same 800 runs): 10 fail, cut 39; gateway-crash 59; gateway-local-cut
// 89, 90; gateway-pause 59; partial-cut 20, 28; stray-gateway 18, 94 and
// 99. The gateway crash's 18 and 56 and the gateway pause's 56 pass since
// Site.awaitAnswer (with it alone 13 failed: these 10 and the gateway
// crash's 21, 74 and 85), 21, 74 and 85 since the outranked grace, which
// took effect 14 times over the 800 runs (nodes of sin, in the gateway
// crash, the local cut, the gateway pause and the stray gateway); no run
// that passed without it failed.
// Swept on main 776a317, with them all (Site.inConf,
// Site.heldBehindDoubt, Site.awaitAnswer and the outranked grace), the
// same 800 runs: 8 fail, cut 39; gateway-crash 59; gateway-local-cut 90;
// gateway-pause 59; partial-cut 20, 28; stray-gateway 18 and 94.
// With bridge Site.answerForAnswerer (on 5f05475, the same 800 runs): 5
// fail, cut 39; partial-cut 20, 28; stray-gateway 18 and 94. The gateway
// crash's and the gateway pause's 59 and the local cut's 90 pass (a site
// answers for an answerer whose member left before its answer went
// round: packetSplit, below); none new, and packets=no-local-loss's 800
// runs and the regional starvation's seeds 1-300 fail as on main (none;
// 113, 135, 161, 163, 192, 200, 251, 299).
//
// Two parts of a site that each caught up (diagnosed on main 5f05475,
// bridge state traced at every apply; no fix landed). Stray-gateway 94
// (EVS 4 and 9 at the site level; no message lost: each of the 88 is
// delivered by both nodes, in two configurations): sin-2, sin's active
// gateway, is cut off from every federation member at 21.7 s, and sin's
// local ring splits (sin-1 and sin-2 each alone). sin-1's term goes on for
// the site: its member sin#2 is in r:131096:ams and r:131104:ams, both
// continuing the domain's configuration r:65544:ams. At 32.5 s sin-2's
// links heal, its new member sin#3 fences sin#2 (sin-1 does not resume;
// the two nodes are still in two local rings) and joins r:196656:ams,
// which ams and fra enter through t:196656:ams/131104:ams [ams fra] at
// 69652@131104. Before it was fenced, sin#2 had delivered in r:131104's
// regular configuration the Acks that ams and fra deliver in that
// transitional one: sin-1 applied marks 73749@131104 (Through
// 64533@131104) and 73750@131104 (65590@131104) and delivered 88 messages
// held behind Safe ones in r:65544:ams (the first fra-2/1/53 at
// 64535@131104). sin-2's Sync named 24591@65552 in r:65552:ams; ams's
// answer (395 entries to base 79896@131104) has the two marks after
// t:196656:ams/131104:ams, and Site.caughtUp drops a mark of the others'
// transitional configuration unless the next regular configuration
// continues (TestCaughtUpMarkInTrans): sin-2 held the 88 to its own
// site:sin:t:196656:ams/65544:ams (left at 79897@196656) and delivered
// them there. At 35.57 s the local ring r:20:sin-1 joins them, sin-2
// active: sin-1's Have names its position 75800@131104, which sin-2's log
// holds in the same configuration, so Site.follows takes sin-1 for sin-2's
// history (a Have names a position and a configuration, not the marks
// applied) and sin-1 applies sin-2's Downs from 76821@131104 on,
// site:sin:t:196656:ams/65544:ams and r:196656:ams among them. What is
// wrong: two histories of one site that hold the same positions with
// different marks applied count as one. Neither part could have known at
// its decision (sin#2's delivery of the Acks in the regular configuration
// is known only to sin-1). An experiment that found a member apart whose
// last applied mark the active gateway's log does not hold (sortStrays;
// the mark read from the other bridge, no wire change) found sin-1 apart,
// but sin-1 still applied sin-2's re-injected Downs after its position,
// was never restarted (every later ring continued the domain's
// configuration), and 176 messages were lost: the rule was in
// sortStrays alone, after the phase's reinject had sent sin-2's Downs
// from sin-1's position, which sin-1 applied. Branch stray94-marks (not
// landed; 475c2ba, on main 6c9dbe4) had a Have name the last mark its
// sender applied (the last EntrySafe in its log at or before its
// position; a wire field after the epoch), and every step of the Have
// phase that takes a member's position for the active gateway's history
// (the answerer's check of the gateway's Have, reinject, sortStrays,
// answererApart) asked whether that log's last mark there is the same: a
// Have with no mark, or one before the log's start where the log holds
// none up to the position, passed. Seed 94 passed with it (sin-1 apart at
// the merge, applying nothing of sin-2's history; the next ring,
// r:196664:ams, changed the domain's configuration and sin-1 restarted
// at 87165@196664 through site:sin:t:196664:ams/65544:ams), as did
// bridge TestHaveNamesMarks (skipped here; it fails unskipped), and
// of packets=all's other 799 runs only main's failures failed (cut 39,
// stray-gateway 18), of packets=no-local-loss's 800 none. But the regional starvation's
// seed 106 (-hiersim.replay='topology=testdata/demo.yaml
// domain=fed/regional:a+b fault=starvation load=30s outage=15s
// starve.pause.min=20ms starve.pause.max=300ms'), which main passes, lost
// m532@a-3 (sent at 32.5 s) at every node: in local ring 32 a-1, active,
// found a member at its own position 1052704@131192 in r:131192:a apart,
// its last mark 1036296@65580 where a-1's log had 1043467@65592 (a-3, by
// its own log's mark in later rings, which still began at 2@65544 in
// ring 132: it never restarted), and in rings 92 to 132 a-3, the
// answerer, found a-1's Have, active, apart from its log the same way.
// Two histories that differ in marks may also arise where no held
// message was let out differently, and a member found apart waits for a
// restart that may not come. Seed 190, which main passes too, failed as
// well (EVS 1.3: a-1 and a-2 delivered a-3/1/918, 934, 951 and more,
// sent in r:2163092:a, in site:a:t:2031984:a/590004:a~ab29b995aaf5ceb6;
// not diagnosed); 113, 135, 161, 163, 192, 200 and 299 failed as on
// main. What might do, untested: put apart only a member whose marks
// let out other messages than the log's (a Have naming what it delivered
// behind its last mark, or the mark's Through), and a restart the site
// asks for (as heldStray does) when nothing else brings one. Landed: the
// first, a Have naming the highest Through of the marks its sender
// applied since its last regular configuration that continues none, and
// a member apart only where a Safe message of the log lies between the
// log's Through at its position and the member's (bridge
// Site.marksApart, TestMarksApartLetOut). A Have names none (zero, not
// sent) where its sender applied none, or where its position is one it
// injected and has not applied yet, and passes: a first version took
// such a Have for one whose marks let out nothing, and at the regional
// starvation's seed 12 a-3's Have named 1041450@1114376, which it had
// injected as its site's gateway and not applied (it had applied up to
// 1031202@655584); a-1, active at that position, put a-3 apart (EVS 6
// and 9 in r:1376564:a), and 169 and 239 failed with it too (not
// diagnosed). 94, 12, 106, 169, 190 and 239 pass.
//
// Stray-gateway 18 and cut 39 are one cause: a part of a site whose
// catch-up answer it takes for a refusal on its own (Site.caughtUp,
// Stats.InDoubtMissing: a site of its configuration missing from the ring,
// Ups in doubt pending) leaves its configuration alone before the ring's
// regular configuration R and delivers its Ups in doubt there; the
// answerer counts it answered, and its log's entry of R names no site in
// doubt (Site.noteRefusedDoubt runs only on the answerer's own refusals).
// Another part of the site, catching up later over R from that log, goes
// into R through a transitional configuration of its own without those Ups
// (Site.followDoubt needs R to name them), resolves its doubt and has them
// ordered again. At 18: ams-1 (the stray) is cut off at 21.7 s; ams-2's
// term, in r:131100:ams [ams fra] (sin missing), answered from 14352@65552
// with 24 Ups in doubt, leaves r:65544:ams at 23565@131100 through
// site:ams:t:131100:ams/65544:ams~c3293cae08e755eb, delivering ams-1/1/58
// and 59 there. ams-1, back, fences ams#2 at 35.5 s with ams#3 and stays
// the active gateway; in r:196688:ams its answer from 16394@65552 (98 Ups
// in doubt) begins in fra's t:131100:ams/65552:ams [fra] (15364@65552) and
// runs through r:131100:ams (no Doubt) and r:131140:ams: it leaves
// r:65544:ams at the same 23565@131100 through
// site:ams:t:131100:ams/65544:ams (no digest: EVS 2.4, two transitional
// configurations of ams out of r:65544:ams into r:131100:ams), resolves,
// and ams-1/1/58 and 59 are ordered at 61503@196688 and on (EVS 1.3, 4:
// ams-2 and ams-3, at the shared position 54333@131140, follow ams-1's
// history and drop them as duplicates). At 39 the same twice within fra,
// whose ring splits again and again: fra-1's term (fra#5, r:393256:ams,
// sin missing) leaves r:65544:ams at 16391@393256 with 25 Ups in doubt
// (~07d5ec9d57d8ebf6); fra-2's (fra#6, r:458800:ams, answered from
// 6149@65552 over r:393256:ams) at 28682@458800 with 41
// (~870ee86d0c3f7dc0, fra-1/1/29 and fra-2/1/78 among them); fra-1's next
// term, answered from 27656@393256 over r:458800:ams, leaves r:393256:ams
// at that same 28682@458800 through site:fra:t:458800:ams/393256:ams,
// resolves, and has fra-1/1/29 and fra-2/1/78 ordered at 38926@655416 and
// 38934@655416 in r:655416:ams (fra-2 had delivered both in its
// ~870ee86d0c3f7dc0 configuration; fra-1/1/29's sender was told
// r:655416:ams, fra-2/1/78's r:65544:ams, and ams delivers it in
// site:ams:t:1048664:ams/655416:ams). Following the first part cannot fix
// 18 (the two parts delivered different messages in r:65544:ams before, so
// one transitional configuration breaks EVS 4). Tried on a branch since
// lost: every member predicting such a refusal from the Syncs (no wire
// change; it matched the asking site at 8 of 9 such refusals), the
// answerer naming it in R's entry (DoubtSite.Refused), and a later
// catch-up of the site from the same configuration over R refused (the
// site leaves alone at the ring it is in). 18 then lost no message (640
// of 1,026 before) but failed further on: ams-2 and ams-3, behind in
// ams-1's local ring, left r:131140:ams through a transitional
// configuration of their own and disagreed on ams-3/1/109 (EVS 1.3, 4, 6
// and 9: the part behind must be restarted in the gateway's history,
// which that branch did not do); 39 still failed (fra-1's Ups sent in
// r:393256:ams, which fra-2 never installed, became fra-2's Ups in doubt
// when their local rings merged). Not landed.
// The refusal alone is what breaks both (an experiment on main ac74cb5,
// not landed): with Site.caughtUp taking such an answer as any other,
// both seeds pass (at 18 ams-2's term takes fra's answer and delivers no
// Up in doubt, 24 on main; at 39 fra-1's delivers none, 25 on main, and
// fra-2, 41 on main, has no catch-up at all; bridge Stats.InDoubt), and
// of seeds 1-100 of the cut and the stray gateway with packets=all only
// stray-gateway 94 fails (as on main; FaultNone's 1-79 pass too). Yet
// the rule cannot go: without it TestSplitUnseen fails at 9 of seeds 1-10
// (EVS 1.3, 6 and 9, node-level 1.1: at seed 8 ams delivers in its own
// transitional configuration sin's Ups sent in a later ring, at 9 the
// dead gateway's Ups at two orders). The two cases look alike to the
// asking site and to every member of the ring (at 18 fra, the answerer,
// sin, the site missing, and ams#1, the predecessor's member, each left
// r:65552:ams alone): only the site missing knows whether it delivered
// any of the Ups in doubt, and it is not in the ring, so no answer can
// carry it. Asking again means staying out of R, where the others count
// the site in (its member is, and it is owed an answer), for as long as
// the site missing stays away, which may be for good. Taking the answer
// for a refusal only when an Up in doubt is one the answer does not bring
// (an experiment) changed nothing at either seed: each such term had Ups
// in doubt that its answer did not bring.
// The refusal known to every member (branch refalone, on main 648c49f;
// not landed, its patch in that helper's report): the Sync says it
// (syncMsg.alone: the doubt flag's byte 2, set with Ups in doubt and
// fedState.missing carried or Site.missingFrom at the Sync), the asking
// site takes its answer for a refusal exactly when its Sync said so, and
// every member that delivers the answer to a site whose Sync said so notes
// the ring's regular configuration R as one that site went into alone
// (in memory, as Site.caughtUpAt, instead of it); lookup refuses a later
// catch-up of that site whose range holds R. Both seeds still fail, but
// further on. At 18 fra, which answered ams-2's term in r:131100:ams,
// refuses ams-1's term (ams#3, r:196688:ams, from 16394@65552): ams-1
// leaves r:65544:ams alone at 54334@196688 with its Ups in doubt
// (~7d1038c58337b597); no message is lost (640 of 1,026 on 648c49f, with
// EVS 2.4: ams-1's ~22ad1e7250c38373 and ams-2's ~c3293cae08e755eb, both
// out of r:65544:ams into r:131100:ams). What fails is the lost branch's
// next step: ams-2 and ams-3, in ams-1's local ring since 35.6 s at
// 54333@131140 (r:131140:ams, the other history), restart at
// r:196688:ams's Down (Site.restart), each through
// site:ams:t:196688:ams/131140:ams with its history's Ups in doubt
// (Site.historyDoubts); ams-2's hold ams-3/1/109, ams-3's do not (its
// sender was told r:196688:ams, where ams-1 delivers it): EVS 1.3, 4, 6
// and 9 on that message alone. Site.markHistoryDoubt marks at each node
// from its own rings (apartRings, activeSince), and the two members
// restarted at one Down did not mark alike (not diagnosed further; the
// stray family, cf. TestStrayUpInActiveRing). At 39 ams#1 answers fra-1's
// term (r:393256:ams), which goes in alone, then refuses fra-2's (fra#6,
// r:458800:ams, from 6149@65552; its own Sync said alone too) and
// fra-1's next (r:655416:ams, from 27656@393256, over r:458800:ams): ams
// no longer delivers fra-2/1/78-80 in site:ams:t:1048664:ams/655416:ams
// (EVS 1.3 there, and 4, 6 and 9, gone). What is left is the other cause
// named above, in both directions: fra-2's part delivers out of
// r:65544:ams (~870ee86d0c3f7dc0) fra-1/1/29-35, 47, 59-62 and 82, which
// fra-1 sent while the two were in one local ring (r:44:fra-1, 22.59 s to
// 22.96 s) and was told r:393256:ams (r:655416:ams on main), and fra-1's
// part delivers in its own site:fra:t:655416:ams/393256:ams~54b4d5c910495a79
// fra-2/1/78-80, which fra-2 sent in r:65544:ams. A part's Ups in doubt
// may be Ups that the other part's term submits in a configuration this
// part never installs: whichever part delivers them in its own
// transitional configuration breaks EVS 1.3, and no flag of the asking
// site's Sync can tell. TestSplitUnseen (seeds 1-10) and the bridge tests
// pass with the rule; noting every refusal of a site in doubt too (not
// only those its Sync announced) broke bridge TestRefusedDoubtElsewhere
// and TestInDoubtTransNamed. The rule is also coarser than needed: in a
// bridge case (a3 cut off before a2's term refused so, answered by c over
// a2's configuration later) main has a3 leave where a2 did, with the same
// Ups (they delivered the same before it), and the rule refuses a3 there
// too; at 18 ams-1 had delivered more in r:65544:ams than ams-2 and could
// not follow. Swept with it: packets=all, cut and stray-gateway seeds 1-100,
// fail cut 39, stray-gateway 18 and 94 (as on main); the regional
// starvation's seeds 1-300 fail 113, 135, 161, 163, 192, 200 and 299 (as
// on main); the other faults and packets=no-local-loss were not swept.
//
// packets=no-local-loss, 3 of 799 runs: gateway-crash 18 and stray-gateway
// 71 on packetSplit's check (a held position, below; both pass since
// bridge Site.awaitAnswer: of seeds 1-100 of FaultNone and the seven
// faults, with gateway.OutrankedGrace too, only stray-gateway 26 fails);
// stray-gateway 26
// (EVS 6 and 9: fra-1 delivered fra-3/1/17 before fra-2/1/84 in
// r:131124:fra, sin-1 the other way: fra-2 submitted its own Ups before
// fra-3's, which waited behind an Up of fra-3 in doubt; bridge doc, "Two
// parts of a site and the order of its Ups in doubt"), which passes since
// bridge Site.heldBehindDoubt (TestHeldBehindDoubt; swept with it, seeds
// 1-100 of FaultNone and the seven faults, 800 runs, fail gateway-crash
// 18 and stray-gateway 71 alone). stray-gateway 60
// (the merged site's new term delivered the other part's Ups in doubt in
// the order of their Agains) passes since the other part's gateway orders
// them (the same section); gateway-local-cut 2, 9, 42, 53 and 94 failed
// packetSplit's check, and pass (below). On main 776a317 the same 800
// runs (seeds 1-100 of FaultNone and the seven faults) all pass.
//
// packets=no-local-loss persistent=true, 1 of 550 runs (seeds 1-100 of the
// WAN delay, the gateway crash and the local cut, 1-50 of FaultNone, the
// gateway pause, the cut, the partial cut and the stray gateway, with
// branch fedsplit-b's bridge change too): gateway-local-cut 46 (EVS 6 and
// 9: sin-1 delivered ams-2/1/16 before sin-1/1/20 in the domain's first
// configuration, fra's nodes after). wan-delay 7 failed EVS 4 (local ring
// and domain) as the run ended 0.9 s after fra's local ring formed again,
// r:16 at 45.754 s, its lossy link fra-1->fra-2 losing 29 %: fra-1/1/474,
// fra-1's announcement of that ring (domconf), was delivered at every site
// by 46.652 s, and its Down fra-1/1/475 had not reached fra-2 yet. It was
// not ordered late (sent 0.9 s before, not at 26 s as this comment said);
// the run now ends where its rings have gone unchanged a while
// (TestPersistentEndsSteady). With the lossy federation link the WAN
// delay's evidence (effects.checkOutage: the token rotation changed by a
// tenth) did not show at seed 2 (342 ms before, 351 ms during), but did at
// enough of TestPersistentFaults' seeds.
//
// persistent-victim=true (a node that is no gateway whose multicasts never
// arrive, or that receives none, for good) with packets=no-local-loss is
// TestPersistentVictim. Before bridge.Site.NoGateway every seed that drew
// such a node failed: the node, alone in a ring without a gateway, never
// installed a domain configuration after the one it was in (EVS 2.4 at
// the bridge level: the others' transitional configuration names it),
// and at seed 2 the others delivered its Up ams-3/1/2, sent while it
// received nothing and ordered by ams-1 in r:65544:ams's transitional
// configuration, which its View never told it sent (node-level 1.1).
// Now seeds 1-60 of packets=no-local-loss pass, 1-30 of packets=all, and
// 1-10 of each of the gateway pause, the cut and the partial cut with
// no-local-loss (seeds 1-60 of TestPersistentVictim pass again with
// bridge Site.inConf; the others were not run again). The gateway
// pause's seeds 11 and 13 failed, as they did without the fix: EVS 1.3
// at the bridge level on Ups of sin-2 (sin's gateway, not the victim)
// ordered in r:131104:ams after their sender was told r:65560:ams. At
// seed 11 sin-2, sin's active gateway, numbered the federation ring
// r:65560's regular configuration (19470@65560 in its stream) and was
// paused 0.2 s after its member installed the ring; ams and fra never
// settled it (their streams go from r:65552:ams through its transitional
// configuration to r:131104:ams), so r:65560:ams is a configuration of
// sin-2's history alone. sin-1, alone in sin's ring, took over, left
// r:65552:ams into r:131104:ams through its site's own transitional
// configuration, and got the Ups pending at both ordered there:
// sin-2/1/32-35 (24591@131104 on) and sin-1/1/17-25. Back at 26.7 s,
// sin-2 applied r:65560:ams from its own injections, and at r:16:sin-1
// (sin-1 and sin-2) it was the active gateway: its history won, sin-1's
// log did not hold its position, and sin-1 was restarted (bridge Stats:
// sin-2 Strays 1, Restarts 1; sin-1 Aparts 1, Restarted 1). In r:327728
// its Sync named 19470@65560 in r:65560:ams, which ams's log does not
// hold: refused (ams-1 Diverged 1, sin-2 Gaps 1), so sin-2 left
// r:65560:ams through site:sin:t:327728:ams/65560:ams and delivered its
// 14 Ups in doubt there, told sent in r:65560:ams (the checker's 20
// reports of 1.3 named sin-2/1/32-35, its 6 of EVS 9 sin-2/1/33 and
// sin-1/1/18, in one order at sin-2 and the other at six nodes). Seed 13
// the same way (sin-2/1/51 and after, refused at r:196656). They pass
// since a refusal names the Ups in doubt the
// answerer's log holds ordered, and the refused site takes those sent in
// another configuration than the one it leaves for done instead of
// delivering them in doubt (bridge catchUp.done, Site.doneElsewhere; the
// bridge package comment, "Catch-up, and the bound", says why this and
// not the domain's history winning over the returning gateway's):
// sin-2 drops 13 at seed 11 (Stats.DoneElsewhere) and delivers
// sin-2/1/85 alone in doubt, 14 at seed 13 and none in doubt
// (TestPersistentVictimPauseSeeds; bridge TestRefusedDoneElsewhere).
// Swept with it (main 5f05475 and the change): seeds 1-20 of the gateway
// pause, the cut and the partial cut with persistent-victim=true and
// no-local-loss, and seeds 1-60 of TestPersistentVictim, all pass;
// seeds 1-100 of FaultNone and the seven faults with packets=all fail
// exactly as on main (cut 39; gateway-crash 59; gateway-local-cut 90;
// gateway-pause 59; partial-cut 20, 28; stray-gateway 18, 94).
// With packets=no-local-loss none of those 800 runs fails, as on main;
// the regional starvation's seeds 1-300 fail 113, 135, 161, 163, 192,
// 200 and 299, main's but 251, which passes (starvelong_test.go). Known
// gap, not seen in those
// runs: a node that received nothing for a while before its ring took it
// out tells its Ups sent in the last configuration it applied, where the
// others may have gone on into another before its ring took it out
// (pendingUp.leftIn dates the leave from the local ring's change); with
// NoGateway at once instead of after gateway.PartGrace, packets=all
// seed 29 showed it (fra-3/1/10 sent in r:65544:ams, delivered in
// t:65568:ams/65560:ams).
//
// packetSplit: report's "domain configurations installed at a failover" on
// lossy networks (every regular federation configuration after the rings
// formed had every site, no catch-up was refused, and the domain changed
// its configuration all the same). Two ways were seen. A federation ring
// that one member installed while the others' recovery lost its token to
// the mix's losses (every site named in it, the others never got to it)
// leaves each site in a transitional configuration of its own at the next
// ring, which they join from different rings (gateway-local-cut seed 2:
// ams alone installed r:131096, fra#2 and sin lost its token in recovery;
// r:196640 had ams from r:131096, sin from r:65552 and fra#3 new; 9, 42,
// 53 and 94 the same way): a partition of the federation ring itself,
// which the domain follows, and the check takes it for one
// (Result.FedApart; see report). Or the ring a failover formed, which
// every member installed, lost its token just after it settled, before the
// catch-up answer reached the new gateway's site, and the next one, every
// site's Sync at base, did not continue the configuration because that
// site's named a held position (gateway-crash seed 18: r:131092 settled at
// ams at 24.4 s, at fra, its answerer, and sin only as it ended at 28.0 s;
// fra's answer went round r:131100 before fra's Sync there, but ams had
// sent its own at once, naming its held position; stray-gateway 71 the
// same way). Now a site that carries its wait into a ring with its
// answerer sends its Sync only once the answerer's is delivered (bridge
// Site.awaitAnswer, TestAnswerBeforeSync, TestAnswerBeforeSyncSeeds):
// both seeds pass, and the gateway crash's 56 and the gateway pause's 56
// with packets=all. Gateway-crash and gateway-pause 59 with packets=all
// failed that way until bridge Site.answerForAnswerer: the answerer of
// the failover ring r:131096, ams#1, was fenced by ams's other part
// (ams's local ring split again and again, ams#1 to ams#5 in 0.2 s)
// before r:131096 settled at it: sin's Sync had not reached it, so it
// never answered fra, behind. ams#5 came into r:393248 behind too (ams#1
// forgot, fenced, the federation's transitional messages it held, and
// nothing of them was injected: its Sync named 26632@65552, fra's held
// position), so the fencer's log held no answer; sin, at base,
// answered fra's held position only once r:393248 settled, and the held
// position kept the ring from continuing the domain's configuration. Now
// sin, which came out of r:131096 through the federation's transitional
// configuration with fra, its Sync there naming what ams#1's did,
// answers fra for ams at r:393248's installation, before its Sync, and
// fra's Sync waits for sin's instead of ams's (TestAnswerForAnswererSeeds;
// bridge TestAnswerForAnswerer). Branch fedsplit-b had the ring continue where the answerer's
// log holds the held position (bridge Site.heldAnswered,
// TestHeldAnswerContinues): 18 and 71 and the gateway crash's seeds 1-100
// passed, but the regional starvation's seed 98 (of 1-300) then failed EVS
// 1.3 between two parts of site a (a-2's Up 960, delivered by the others
// in r:852288:a, told sent in r:721188:a and delivered in doubt in a-2's
// own transitional configuration), a schedule the change brought about:
// not landed, and lost. With Site.awaitAnswer (and gateway.OutrankedGrace,
// on 2ae4169), seed 98 passes, and seeds
// 1-200 fail as on main (113, 135, 161, 163, 192, 200).

func faultName(f Fault) string {
	if f == FaultNone {
		return "none"
	}
	return string(f)
}

// runNetSeeds runs n seeds of base as runSeedsWith does and checks, seed
// by seed, that every ring's network injected what its mix and its
// persistent fault allow, and over the seeds, per ring kind, that every
// packet fault some mix allowed happened (netSums).
func runNetSeeds(t *testing.T, base Options, n int) {
	var sums netSums
	runSeedsEach(t, base, n, nil, func(r *Result) {
		for _, bad := range checkNetworks(r) {
			t.Errorf("seed %d (%s): %s", r.Seed, replayArgs(base), bad)
		}
		sums.add(r)
	})
	t.Log(&sums)
	for _, bad := range sums.check() {
		t.Error(bad)
	}
}

// randomFaults sums the packet faults a mix draws (not the persistent
// faults' losses, nor blocked links).
func randomFaults(in sim.Injected) int {
	return in.LostUnicast + in.LostMulticast + in.BurstLost + in.Duplicated + in.Reordered + in.Corrupted + in.Replayed
}

// checkNetworks says what is wrong with a run's Result.Networks: no ring
// (the options asked for none); a ring whose mix allows loss, duplicates
// or reordering (at rates of 1 % or more: sim.PickMix) and whose network
// injected none of its packet faults; a ring whose mix allows none and
// whose network injected some; persistent faults that dropped no packet
// (the federation ring's lossy link carries the token every rotation); a
// packet dropped by a persistent fault on a ring without one. Corruption
// and stale replays, of 0.1 % to 2 % of the packets, may miss a ring's
// few hundred packets: netSums.check has them over the seeds, as the
// local rings' lossy links, which may join two nodes that send little.
func checkNetworks(r *Result) []string {
	if len(r.Networks) == 0 {
		return []string{"no network reported (Result.Networks)"}
	}
	var bad []string
	persistent, dropped := false, 0
	for _, n := range r.Networks {
		f, got := n.Faults, randomFaults(n.Injected)
		switch {
		case f.Loss+f.McastLoss+f.TokenLoss+f.Duplicate+f.Reorder > 0 && got == 0:
			bad = append(bad, fmt.Sprintf("%s: its mix injected nothing", n))
		case !n.Packets() && got > 0:
			bad = append(bad, fmt.Sprintf("%s: %d packet faults without a mix", n, got))
		}
		if n.Persistent == "" && n.Injected.PersistentLost > 0 {
			bad = append(bad, fmt.Sprintf("%s: %d packets dropped by no persistent fault", n, n.Injected.PersistentLost))
		}
		persistent = persistent || n.Persistent != ""
		dropped += n.Injected.PersistentLost
	}
	if persistent && dropped == 0 {
		bad = append(bad, "the persistent faults dropped nothing")
	}
	return bad
}

// netKind is one kind of packet fault: whether a mix allows it, and what
// the network counted of it.
type netKind struct {
	name    string
	allowed func(f sim.Faults) bool
	count   func(in sim.Injected) int
}

var netKinds = []netKind{
	{"random loss", func(f sim.Faults) bool { return f.Loss+f.McastLoss+f.TokenLoss > 0 }, func(in sim.Injected) int { return in.LostUnicast + in.LostMulticast }},
	{"burst loss", func(f sim.Faults) bool { return f.BurstLoss > 0 }, func(in sim.Injected) int { return in.BurstLost }},
	{"duplicates", func(f sim.Faults) bool { return f.Duplicate > 0 }, func(in sim.Injected) int { return in.Duplicated }},
	{"reordering", func(f sim.Faults) bool { return f.Reorder > 0 }, func(in sim.Injected) int { return in.Reordered }},
	{"corruption", func(f sim.Faults) bool { return f.CorruptBytes > 0 }, func(in sim.Injected) int { return in.Corrupted }},
	{"stale replays", func(f sim.Faults) bool { return f.StaleReplay > 0 }, func(in sim.Injected) int { return in.Replayed }},
}

// netSums sums the networks of a test's seeds by ring kind (local [0],
// federation [1]): the rings whose mix allowed each kind of packet fault,
// and what the networks injected of it.
type netSums struct {
	mu             sync.Mutex
	seeds          int
	rings          [2]int
	allowed, got   [2][]int // by netKinds
	disconnected   int
	persistentOn   [2]int
	mixlessRings   [2]int
	persistentLost [2]int
}

func (s *netSums) add(r *Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seeds++
	if r.Disconnected != "" {
		s.disconnected++
	}
	for _, n := range r.Networks {
		k := 0
		if n.Fed {
			k = 1
		}
		if s.allowed[k] == nil {
			s.allowed[k], s.got[k] = make([]int, len(netKinds)), make([]int, len(netKinds))
		}
		s.rings[k]++
		if !n.Packets() {
			s.mixlessRings[k]++
		}
		if n.Persistent != "" {
			s.persistentOn[k]++
		}
		s.persistentLost[k] += n.Injected.PersistentLost
		for i, nk := range netKinds {
			if nk.allowed(n.Faults) {
				s.allowed[k][i]++
			}
			s.got[k][i] += nk.count(n.Injected)
		}
	}
}

func (s *netSums) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d seeds, %d of them with a node taken out of its site's ring for good by a persistent fault", s.seeds, s.disconnected)
	for k, kind := range []string{"local rings", "federation ring"} {
		fmt.Fprintf(&b, "; %s: %d rings (%d without packet faults, %d with a persistent fault, which dropped %d packets):", kind, s.rings[k], s.mixlessRings[k], s.persistentOn[k], s.persistentLost[k])
		for i, nk := range netKinds {
			if s.got[k] == nil {
				break
			}
			fmt.Fprintf(&b, " %s %d (allowed in %d rings)", nk.name, s.got[k][i], s.allowed[k][i])
		}
	}
	return b.String()
}

// check says which kind of packet fault some ring's mix allowed and no
// ring of its kind injected.
func (s *netSums) check() []string {
	var bad []string
	for k, kind := range []string{"local rings", "federation ring"} {
		for i, nk := range netKinds {
			if s.allowed[k] != nil && s.allowed[k][i] > 0 && s.got[k][i] == 0 {
				bad = append(bad, fmt.Sprintf("%s: %d rings' mixes allowed %s and none injected any", kind, s.allowed[k][i], nk.name))
			}
		}
		if s.persistentOn[k] > 0 && s.persistentLost[k] == 0 {
			bad = append(bad, fmt.Sprintf("%s: %d rings had a persistent fault and none dropped a packet", kind, s.persistentOn[k]))
		}
	}
	return bad
}

// A run with persistent faults ends where its rings and the domain's
// configurations have gone unchanged a while (Options.Persistent,
// steadyFor), as the ring simulator's runs with one do. The WAN delay's
// seed 7 ended, at Settle, 0.9 s after fra's local ring formed again (its
// lossy link fra-1->fra-2 losing 29 % had lost the token), as the Down of
// fra-1's announcement of that ring went round: fra-2 had not delivered
// it yet (EVS 4, local ring and domain). It runs on 2.2 s now, and
// passes. Bounded: a run whose rings never go unchanged that long within
// steadyWithin reports so, a liveness failure (here with a bound too
// short to reach).
func TestPersistentEndsSteady(t *testing.T) {
	parallel(t)
	o := Options{Topology: topologyFile, Fault: FaultWANDelay, Packets: PacketsNoLocalLoss, Persistent: true}
	r, err := Run(7, o)
	if err != nil {
		t.Fatal(err)
	}
	report(t, o, r)
	if r.Steady == 0 || r.Unsteady != "" {
		t.Errorf("the run went on %v past Settle (want some), unsteady %q", r.Steady, r.Unsteady)
	}
	o.steadyWithin = time.Millisecond
	r, err = Run(7, o)
	if err != nil {
		t.Fatal(err)
	}
	if bad := findings(o, r); !slices.ContainsFunc(bad, func(s string) bool { return strings.HasPrefix(s, "liveness:") }) {
		t.Errorf("with 1 ms to go steady in, the run's findings %q say nothing of liveness", bad)
	}
}

// The gateway crash's seed 18 and the stray gateway's seed 71 with
// packets=no-local-loss: the ring a failover formed lost its token just
// after it settled, before the catch-up answer reached the new gateway's
// site, and its answerer's member delivered the answer in the next ring,
// where every site's Sync named base. The site's Sync there, sent at once,
// named its held position, and the ring did not continue the domain's
// configuration ("domain configurations installed at a failover"). Now
// it waits for the answerer's Sync (bridge Site.awaitAnswer), which comes
// after the answer: some node of each run built its Sync anew
// (Stats.Unheld).
func TestAnswerBeforeSyncSeeds(t *testing.T) {
	parallel(t)
	for _, c := range []struct {
		fault Fault
		seed  uint64
	}{{FaultGatewayCrash, 18}, {FaultStrayGateway, 71}} {
		t.Run(fmt.Sprintf("%s/%d", c.fault, c.seed), func(t *testing.T) {
			r := checkedRun(t, c.seed, Options{Topology: topologyFile, Fault: c.fault, Packets: PacketsNoLocalLoss})
			var n uint64
			for _, st := range r.Bridges {
				n += st.Unheld
			}
			if n == 0 {
				t.Error("no site's Sync waited for an answer that came first (bridge Stats.Unheld)")
			}
			// The stray, fra-1 alone of fra's three nodes, fenced by
			// fra-2's newer part, does not take the role back
			// (gateway.Outranks): it did one grace after each fence,
			// and the run no longer had the answer come first.
			if r.Outranked != 0 {
				t.Errorf("%d local rings formed again by a fenced gateway, want none (gateway.Outranks)", r.Outranked)
			}
		})
	}
}

// The gateway crash's and the gateway pause's seed 59 with packets=all:
// the answerer of the ring r:131096 the failover formed, ams#1, was fenced
// by its own site's next term (ams's local ring split again and again,
// ams#1 to ams#5 in 0.2 s) before that ring settled at it, so it never
// answered fra, behind; ams#5 came into r:393248 behind too (ams#1's
// member forgot the federation's transitional messages it held), and
// sin, at base, answered fra's held position there only once the ring
// settled, which the held position kept from continuing the domain's
// configuration ("domain configurations installed at a failover"). Now
// sin, which came through the federation's transitional configuration
// out of r:131096 with fra and whose Sync there named what ams#1's did,
// answers fra for ams at r:393248's installation, before its Sync, and
// fra's Sync waits for sin's (bridge Site.answerForAnswerer,
// TestAnswerForAnswerer). The local cut's seed 90 the same way, fra
// answering sin for ams ("What fails today on lossy networks").
func TestAnswerForAnswererSeeds(t *testing.T) {
	parallel(t)
	for _, c := range []struct {
		fault Fault
		seed  uint64
	}{{FaultGatewayCrash, 59}, {FaultGatewayPause, 59}, {FaultLocalCut, 90}} {
		t.Run(fmt.Sprintf("%s/%d", c.fault, c.seed), func(t *testing.T) {
			r := checkedRun(t, c.seed, Options{Topology: topologyFile, Fault: c.fault, Packets: PacketsAll})
			var n, unheld uint64
			for _, st := range r.Bridges {
				n += st.ForAnswerer
				unheld += st.Unheld
			}
			if n == 0 || unheld == 0 {
				t.Errorf("%d sites answered for another site's answerer (bridge Stats.ForAnswerer), %d Syncs built anew after the answer (Stats.Unheld): want some of each", n, unheld)
			}
		})
	}
}

// The gateway crash's seeds 21, 74 and 85 with packets=all: sin's local
// ring split, the gateway of the newer part fenced the older part's
// (resumeFenced: it does not resume), and the crash took the newer one.
// The older part's node, alone, never installed another local
// configuration: it stayed in the domain's configuration to the end, with
// no gateway, and the others delivered its Ups that its View never told
// it sent (node-level EVS 1.1). Now its local ring forms again above the
// fencer's after gateway.OutrankedGrace (Result.Outranked), and it takes
// the role back with an incarnation above the fencer's.
func TestOutrankedSeeds(t *testing.T) {
	parallel(t)
	for _, seed := range []uint64{21, 74, 85} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := checkedRun(t, seed, Options{Topology: topologyFile, Fault: FaultGatewayCrash, Packets: PacketsAll})
			if r.Outranked == 0 {
				t.Error("no fenced gateway had its local ring form again (Result.Outranked)")
			}
		})
	}
}
