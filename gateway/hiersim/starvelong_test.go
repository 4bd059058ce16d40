//go:build long

// The long starvation run, not in CI (400 runs: about 2.5 minutes on two
// cores at nice 10); built only with -tags long:
//
//	go test -tags long -timeout 0 ./gateway/hiersim -run 'TestStarvationLong' -v
//
// TestStarvation's starvation with pauses up to 300 ms, past the local
// rings' token timeout (200 ms), with every node starving on its own: the
// sites' rings split and merge again and again, and each part's gateway
// begins a term (a federation member of a new incarnation every few
// hundred ms, fencing the last). With one site's nodes starving, every
// seed of 1-100 passes (TestStarvation's regional-one-long and
// three-sites-one-long), but not every seed beyond: at c6cdbda
// (TestReplay, one by one) regional-one-long failed 4 of seeds 101-200
// (113, 115, 127, 183), three-sites-one-long none, and with every node
// starving three-sites 1 (196) and global none. 127 (EVS 1.3: a-2, a
// member apart, delivered in doubt at its restart Ups it had sent in
// a-1's ring, which a-1 then had ordered) and 196 (EVS 1.3 and 9: ams's
// term took sin's answer for the domain's word while fra's Sync named a
// position further in ams's configuration, where fra had applied an Up of
// ams that the answer lacked) pass since bridge Site.activeSince and
// Site.splitFrom. 113 is the first gap below (EVS 4: a-2's part, paused
// as its federation member's ring ended, numbered in the regular
// configuration marks that b numbered in its transitional one; a-1's
// part, catching up from b, skipped them), 115 and 183 the second (EVS
// 1.3: a-1's part left its configuration at the base of a ring with b
// with Ups in doubt, the ring continuing none only because a-1's Sync
// named site a blocked by a-2 and a-3; their part, caught up over that
// ring later, submitted them); bridge doc.go, "Known gaps" and "A refusal
// has a price of its own". With every node starving, runs of seeds 1-100
// that fail, since a cut quarantine ends once its link carries again
// (localring liftHealedCuts; at 974deab, 2026-12-06, at 55ee4e1 and at
// 2e73870 before it, in brackets):
//
//	regional (demo, fed/regional:a+b)   0 (1, 6, 11)
//	three-sites                          0 (0, 0, 1)
//	global (demo, fed/global:a+b+c)      0 (0, 1, 1)
//	regional, every node stopping together: 0 (0, 0, 1)
//
// No run of the 400 loses or duplicates a client message or breaks EVS
// (at 2e73870, 5 runs lost client messages). Seeds 1-100 are a sample,
// not a bound: the regional case's seeds 101-300 (TestReplay, one by
// one) failed 20 of 200 at e089b02 (103, 113, 114, 119, 135, 161, 163,
// 167, 172, 188, 192, 200, 202, 219, 251, 254, 267, 272, 279, 299): the
// first failure of 15 was EVS 1.3 (delivery configuration), of 219, 267
// and 279 2.4 (transitional shape), of 161 7 (Safe delivery), 167 and
// 172 broke none (the same 20 at 15d89d2). Since 6f37702 and ffe9846, 18
// (TestReplay, one by one): 167 lost a-3/1/1029 at every node (5 client
// messages: a-1 delivered a-3/1/1050, an Up of a member apart, in doubt
// ahead of it; bridge Site.keepBehindStrays), and 172 failed on a-3's
// count of a member behind its log alone, a-2, which a-1, the active
// gateway, took apart and restarted (the check sums each site's counts
// since: strayGaps). 219, 267 and 279 are the first gap below (at 219,
// a-2's part of site a delivered Ups in doubt in its transitional
// configuration, a-1's and a-3's none: site:a:t:1245372:a/131120:a with
// ~8ec74057fae8ac17 and without, out of r:131120:a into r:1245372:a),
// and 161 is of its kind: a-3's part left r:65592:a alone with Ups in
// doubt while a-1's went on in it through rings that continued it and
// delivered b's Safe messages there, which a-3, a member that did not
// fail, never delivered (EVS 7; the domain's configuration names the
// site, not its parts). 272, traced, is the first gap below too: a-3
// delivered a-1's Ups in doubt in its transitional configuration, and
// a-1 then had them ordered in a later ring. Since bridge Site.entered
// (below), 16 (run on c6cdbda): 119 and 202 pass, none new. The EVS 1.3
// ones are two parts of split site a, one of which, its new term
// in doubt, delivers in its own transitional configuration Ups in doubt
// of the other part's senders, which that part has ordered later. Most
// (113, 135, 163, 188, 251, 272) follow a refused catch-up (bridge
// doc.go, "A refusal has a price of its own"); in 200 the other part's
// nodes deliver them at their restart (bridge "Members of another
// history"); 103 and 114 deliver an Up in a regular configuration later
// than the one its sender was told, 192, 254 and 299 at b or in a
// transitional configuration without the doubt's digest (not examined).
// Since bridge Site.noteRefused and Site.leftInto (below), 15 (run on
// 2fee872): 272 passes, none new; 113 fails later, of 161's kind with
// both sites split (EVS 1.3: a-1's and b-1's parts went from r:2294160:a
// into r:2294184:a, then a-2's and b-2's, fencing them, into a ring that
// continued r:2294160:a, where a-2's Ups were ordered; a-1's part left
// r:2294184:a with them in doubt). Since bridge Site.activeSince and
// Site.splitFrom, the same 15 (run on bbd60da with them). Since bridge
// Site.followDoubt, 12 (run on 1bb16f1 with its pending-order prefix):
// 103, 114 and 188 pass, none new. Each EVS 1.3 one left but 113 is an
// Up pending at two parts of split site a, its sender in one, that one
// part delivers in doubt and the other has ordered (bridge doc.go, "A
// refusal has a price of its own": 135, 163, 192, 251, 254 and 299).
// Since bridge Site.answererApart, the same (12 run on 69fc327 with it;
// 11 on 8285e1d, where 254 passes since eeddc55), 200 on EVS 7 alone,
// 161's kind: a-2's and a-3's part of site a went on
// in r:65544:a through a ring that continued it, delivering Safe messages
// there that a-1, whose part left it alone, never delivered. Before, a
// Have phase of the healed site whose active gateway, a-1, named a
// position both histories shared found nobody apart, and a-1's next
// term delivered in doubt, in its own transitional configuration, Ups
// that a-2 and a-3 had sent in that ring (EVS 1.3, 4 and 6).
// At dfd0863 (2026-12-07) seeds 1-300, each run alone (TestReplay,
// xargs -P2), fail 8: 113, 135, 161, 163, 192, 200, 251 and 299; by
// their first violation: 135, 163, 251 and 299 are "A refusal has a price of its
// own" (a part's term asks from its configuration; b refuses, its log
// holding another configuration there at 135 and 251, Ups in doubt in
// the range at 163 and 299, Stats.InDoubtRefused; the part delivers its
// Ups in doubt in its own transitional configuration, the other part had them
// ordered; 299 reports the other side first: a-1 and a-3 delivered
// a-2/1/790 in site:a:t:1179780:a/1114236:a, where their part ordered
// it, and a-2 delivered it in doubt in site:a:t:1310860:a/917616:a~...),
// 113 fails as above since Site.noteRefused (both sites split: {a-1,
// a-3, b-1} applied r:2294184:a at 1152147, {a-2, b-2} r:2359744:a;
// a-1 and a-3 delivered a-2's Ups in doubt in
// site:a:t:2621916:a/2294184:a~...), 161 and 200 are EVS 7, and 192 is a
// kind of its own, the next list's third entry ("A fenced term's
// Downs"). With bridge catchUp.done (a refusal names the asking site's
// Ups in doubt the answerer's log holds ordered, and the site takes those
// sent in another configuration than the one it leaves for done: bridge
// doc.go, "A refusal names what the domain ordered"), on 5f05475, seeds
// 1-300 fail 7, the same but 251, which passes (a-1 and a-2 no longer
// deliver a-3/1/862 in doubt). On ac74cb5 113's first violation is
// still of that kind, both sites split, from a part that moved on: a-2,
// out of a-1's ring from r:216:a-1 (a-1 alone, 44.90 s) until
// r:220:a-1 (45.06 s), sent its Ups in r:2163084:a, the configuration
// a-1's stream was in until, in r:216:a-1, it applied its queued Downs
// of r:2294160:a (which continued it) and r:2294184:a at 1152147;
// a-2's part with b-2's applied
// r:2359744:a there and had a-2/1/1198 ordered in it, and a-1's next
// term (a#34, r:220:a-1, every node of a in it again), refused,
// delivered a-2's Ups in doubt out of r:2294184:a, which a-2 never
// installed (b-1 did the same with b-2's; EVS 1.3). bridge
// pendingUp.leftIn, which keeps such Ups from a later configuration for
// senders that are no gateway, does nothing here: every node of the
// demo is a gateway. Tried, none kept (TestReplay one by one, on
// ac74cb5): (1) leftIn for every sender (noteLeft without the gateway
// exception): 113 passes (Stats.LeftDropped: a-2's Ups dropped),
// but seeds 1-300 fail 11, five new: 186, 188, 219, 279 and 289 (at
// 188 a-3/1/780, ordered once in r:852108:a on ac74cb5, is ordered
// twice: in the history of a-3's part at 1043516, and by a-1's with b
// in r:1507552:a, a-3 told it sent in r:65580:a: EVS 1.3); (2) leftIn
// for a gateway's Ups only in the drop at the domain's next
// configuration, and there only of those in doubt (not against
// submission): 188 and 219 pass, 186 does not (nor with 3 or 4), 113
// fails at b (b-2's Ups were not in doubt at b-1 when it applied
// r:2294184:a; its next term put them in doubt later); (3) a gateway's Ups in doubt not delivered in doubt out of
// another configuration than the one their sender left in: 113 fails
// as before (a-2's Again in r:220:a-1 clears leftIn); (4) with a
// gateway's Again not clearing it: no EVS violation, but a-1 lost 60
// client messages of a-3, which had come back into a-1's history.
// 135, 163 and 299 (a-2's side) are its mirror: the part that delivers the Ups in doubt leaves a
// configuration that their sender's part had left before it, and the
// sender's part has them ordered in a later one (135: a-2's term
// delivered a-1/1/2032 in doubt out of r:852084:a at 35.48 s, which
// a-1 had left into its own transitional configuration at 34.64 s;
// a-1's part had it ordered in r:1638612:a; 163: a-3 out of
// r:65544:a, a-2's Ups ordered in r:1179840:a; 299: a-2 out of
// r:917616:a, a-1's in r:1114236:a). One family in that a part in
// doubt delivers Ups of the other part's senders whose fate it cannot
// know; leftIn, which says only that a sender left this node's ring,
// reaches at most 113's kind. Not fixed. 161 and 200 (EVS 7) fail on
// ac74cb5 as described above; their timelines re-derived there, and a
// hold of the gateway's rings of its site alone from its local ring's
// lost token that fixes 200 but moves regional 38 past its settle
// bound (branch evs7-fix, not landed), are in bridge doc.go, "Known
// gaps".
// Settling time after the starvation, the longest of each case, each
// within starveSettle's bound (five token timeouts of the domain's
// federation ring): regional 0.83 s (seed 78; bound 1.01 s), three-sites
// 7.97 s (88; 8.64 s), global 7.77 s (28), regional with every node
// stopping together 0.58 s (79). So TestStarvation runs the regional case
// too (regional-long), at a third of its seeds.
//
// What is left, each with where it is pinned or described:
//
//   - Two parts of a split site go from one regular configuration into the
//     same next one, and deliver different messages in their
//     transitional configurations: one part delivered Ups in doubt there
//     (bridge Site.doubtID names them: two ids, EVS 2.4 at the site
//     level; bridge TestInDoubtTransNamed). Where they deliver the
//     same, one through the federation's with its site alone, the other
//     through the site's own, they install one (bridge Site.aloneTransID:
//     regional 10 and 69, and 66 with every node stopping together, in
//     TestStarvationFixed since); where the first delivered the old
//     ring's last messages there, the part that catches up over the
//     others' transitional configuration, which names its site beside
//     it, delivers them in its own too (bridge DomainConf.Beside:
//     regional 29, in TestStarvationFixed since); where the first, its
//     member paused as the ring ended, numbered in the regular
//     configuration marks that the others numbered in their transitional
//     one, the part that catches up skips them (EVS 4: regional-one-long
//     113 of 101-200); bridge doc.go, "Known gaps".
//   - Two parts of a split site, each with a gateway term, one of which
//     cannot learn what the domain ordered of its Ups in doubt (its
//     catch-up refused): it delivers them, those of the other part's
//     senders too, in its own transitional configuration, while the
//     other part has them ordered, or has gone on into a configuration
//     the first never installed (EVS 1.3: regional 135, 163 and 299 of
//     101-300, and 251 until bridge catchUp.done; bridge doc.go, "A
//     refusal has a price of its own"); or whose catch-up is absent, its
//     term at the
//     base of a ring that continues none only because its Sync names its
//     site blocked (regional-one-long 115 and 183 of 101-200).
//   - A fenced term's Downs: a gateway whose local ring has no
//     operational configuration injects Downs that wait in its node's
//     local ring queue; its term is fenced by a later one, and the queued
//     Downs are ordered, first, in a ring the node forms later with the
//     others, which apply them (each follows the last they applied) and
//     then drop the later terms' Downs of the same positions as out of
//     order. The site follows a history no other site has, its next
//     term's catch-up is refused, and it delivers in doubt Ups that a
//     later term had ordered with the other site (EVS 1.3: regional 192
//     of 101-300 at dfd0863: a-1's local ring lost its token at
//     32.39 s, and a-1 was in no ring with a-2 and a-3 again until
//     r:72:a-1 at 35.05 s; its term a#1 (fenced by a-3's a#3 at
//     33.18 s) had injected r:65616:a and r:65640:a, its site alone, at
//     993293-993296; the later terms (a#3 to a#10) caught up from b to
//     993294, and a#10 (a-2) numbered r:655576:a, with b, at 993296,
//     a ring that ordered a-1/1/1605 at 998416. In r:76:a-1 (35.35 s)
//     a-1's Downs (local ids a-1/1/1632-1637, order 76:1) came before a-2's
//     (a-2/1/747-749, 76:4): every node applied r:65640:a at 993296 and
//     dropped r:655576:a; a#11's Sync named 993296 in r:65640:a, b
//     refused it, and a delivered a-1/1/1605 in
//     site:a:t:721140:a/65640:a~c8963a17..., b at 998416). a-1's four
//     Downs were injected at 32.079 (t:65616:a, r:65616:a, with b) and
//     32.746 (t:65640:a, r:65640:a, of a alone), its ring in gather; a#10
//     went from 993294 to r:655576:a at 993296 (injected at 34.929, a-2's
//     ring stalled too). In r:76:a-1 a-1 was active with a#11 (begun at
//     r:72:a-1), and the Haves named 993292 (a-1, a-3) and 998469 in
//     r:655576:a (a-2: a#10's injected, not applied; its term ended when
//     a-1 took over, so its Have names it). a-1's own Have does not name
//     a#1's Downs (each new term of a-1 starts from what it applied).
//     Not fixed. Tried, each with a Down naming its gateway term (where
//     its term began: Site.termStart, the incarnation) and the Have the
//     active gateway's, none kept (runs on 5f05475, TestReplay one by
//     one): (1) a node drops a Down of a term older than the latest it
//     knows of (its own, a Have's, a Down's) unless it is the term its
//     configuration's Have named: 192 passes, 13 and 16 fail (at 13 a-1's
//     log kept the Downs of its fenced a#3 that it had dropped, and its
//     next term, answering a Have phase in r:64:a-1, injected them again
//     to a-2 while a-1 had applied another history; a-2, apart later,
//     delivered its Ups in doubt at its restart, EVS 1.3); with the log
//     cut back to what the node applied where a term begins or is fenced
//     192, 13, 15 and 16 pass, but 42, 50, 57, 88, 89 and 91 of 1-100
//     fail (main none), the nodes not knowing the same terms: at 50, in
//     r:124:a-1, a-2 applied a#12's queued Downs (numbered with b, in
//     r:852216:a), knowing no later term yet, a-1 (its a#14 begun) and
//     a-3 (its a#13) dropped them, every Have named 1141840@196788, and a
//     delivered a-1/1/2538 in doubt in its own transitional
//     configuration, b at 1152092 (EVS 1.3). (2) Every member alike: a
//     Down of a term is dropped before its configuration's active
//     gateway's Have, and after it if of an older term (the ring rule
//     tried before is near it): 192 passes, 9, 13, 41, 43 and 66 of 1-100
//     fail: a fenced term's Downs are the site's only copy of what it
//     numbered with b where no later term numbered those positions, and
//     no Have names them (at 13 a-1's a#5 had a-1/1/2093 ordered at
//     1124419 in r:589944:a; every node dropped those Downs in r:76:a-1,
//     and a-1's next term delivered it in doubt: node-level EVS 1.1 at
//     b). (3) As (2) after the gateway's Have only: 192 fails. (4) Downs
//     delivered before the configuration's Have phase is over held until
//     it is, dropped at or below its highest position (the answerer
//     injects them again, from where each member applied, which the Have
//     names too), the others applied once the node holds it: 192 fails
//     another way (a-1, alone in r:52:a-1, applied its own a#1 Downs:
//     nothing told it of a later history), and 9, 13, 49, 67, 70 and 84
//     of 1-100 fail.
//     Whether a fenced term's queued Downs are the site's history or a
//     dead one depends on whether a later term numbered other entries at
//     their positions (192) or none did (13, 50): only the node holding
//     that term's log knows (a-2), and the others learn it from its Have,
//     after the Downs came round. A fix needs the Have phase to choose
//     between histories by gateway term (each Have naming the term of the
//     history at its position, and what its node applied), the later
//     term's winning also over the active gateway's applied one, which
//     "Members of another history" prefers today: a change of that
//     design. bridge TestFencedTermDownsLaterHistory (skipped) has the
//     case and what it wants. (5) A part of that design, tried on
//     ac74cb5 (TestReplay one by one; not kept): every Down names the
//     gateway term that first injected its entry (the log keeps it, a
//     reinjection sends it again), every Have the term of the entry at
//     the position it names; Downs delivered while the node's Have phase
//     is open wait until it is sorted, and one of a term older than the
//     latest a Have of the phase named, at or below the phase's highest
//     position, not sent by its answerer, is dropped. 192 passes, and the
//     bridge test (TestApartAtSharedPosition, the same steps, and
//     TestApartAgainLater no longer make their case); 89 and 122 of the
//     seeds the earlier rules broke fail, and 19, 52, 67 and 71 of 1-100
//     (the run stopped after some 70 seeds; none fails on main). At 122
//     the first violation (36.5 s: b went on in r:65592:a's configuration
//     into r:524448:a, a left it in site:a:t:393360:a/65592:a; on main
//     both sites left it, each in a transitional configuration of its
//     own) comes before the run's first drop. Holding only the Downs
//     carried over from an earlier local ring than the one that delivers
//     them (the Down names the ring it was injected in), 192 passes and
//     19, 67, 71, 89 and 122 fail; holding those without dropping any
//     already fails 67, 71 and 122 (and 192), which pass with the longer
//     Downs and nothing held: waiting for the phase breaks them (why is
//     not examined), held Downs being common under starvation (hundreds a
//     run). 19 fails with the longer Downs alone: its timing, not the
//     rule. And where a fenced term's Downs reach its node alone, no Have
//     there names a later term (rule (4)'s run: a-1 alone in r:52:a-1
//     applied its a#1's): the later term's history winning then makes the
//     active gateway itself a member of another history, for which the
//     design has no path (the active gateway is the one that restarts
//     members).
//   - Two parts of a split site, one that had a regular configuration the
//     other never installed, where the answer that would tell the other
//     is refused for the answerer's Ups in doubt and the asking site did
//     not catch up in every configuration between (bridge
//     Site.caughtUpAt): the other part delivers those Ups in doubt in its
//     own transitional configuration (EVS 1.3; regional 66 was this until
//     the answer went without the Ups in doubt where it may; no seed of
//     1-100 shows it since).
//
// Fixed this far (each with a bridge or domconf test that fails without
// it): a member apart's later Up waits for its earlier ones, which its
// restart announces again, and its history's Ups are in doubt at its
// restart (bridge "Members of another history"; TestStrayPendingThenLater,
// TestStrayHistoryDoubt; regional 40, 62 and 83 in TestStarvationFixed);
// an Up in doubt takes the earlier pending Ups of its sender along
// (Site.takeAlong) and a later Up waits for an earlier one in doubt
// (Site.afterDoubt); a node out of the domain's configuration follows its
// rounds (domconf View.dom); a Safe mark of the federation's transitional
// configuration is applied at every site or at none (Site.continued,
// Site.transContinues); a site whose term is in doubt delivers its Ups in
// doubt in a transitional configuration of its own where its ring ends
// through the federation's (Site.ownTrans; three-sites 31, in
// TestStarvationFixed since); an Up delivered in doubt is not submitted
// before it comes down (pendingUp.downInDoubt; regional 91, in
// TestStarvationFixed since); a transitional configuration with its site
// alone in it has one id in every part of the site (Site.aloneTransID;
// regional 10, 69, and 66 with every node stopping together, in
// TestStarvationFixed since); a part of a split site that catches up over
// the others' transitional configuration, which names its site beside
// it, delivers its messages in its own transitional configuration, as the
// part that came through the federation's did (DomainConf.Beside;
// regional 29, in TestStarvationFixed since); a node that leaves its
// regular configuration at a transitional entry with a held continuing
// entry after it stages what it emits there and opens the round the
// others open at that entry (domconf View.stage; regional 27, in
// TestStarvationFixed since), and every node opens that round where the
// change only removes nodes too, a round that waits for no announcement
// (domconf View.changeRound, TestChangeAfterTransitionalRemoves; no seed
// of 1-100 showed it); a term that submitted no Up is not the
// predecessor whose order the Ups in doubt take, also one named to the
// new term's node only in a Seen, where its node's Terms says so (bridge
// Site.quietTerm, TestInDoubtOrderQuietOther; global 49: a-2 had taken a
// term of a-3 of a part without a-2 for its predecessor, EVS 6 and 9, in
// TestStarvationFixed since); a catch-up answer goes without the
// answerer's Ups in doubt instead of refusing, where the asking site
// caught up in the configurations between (Site.caughtUpAt; bridge
// TestAnswerOverInDoubt; regional 16 and 66, in TestStarvationFixed
// since); a member quarantined as one end of a cut link, which starving
// nodes only seemed to be, is let back in once both ends' joins show them
// hearing each other, and it hears me (localring liftHealedCuts; regional
// 38 settled 1.132 s after the starvation: site a's ring stayed split in
// two for 700 ms while a-3 ignored a-2; in TestStarvationFixed since); a
// part of a split site asking from a place the answerer's log holds in
// another configuration (two components of a split federation number
// alike) is answered from the ring the other part went into from that
// very place, and leaves into it as that part did (bridge Site.entered,
// TestAnswerEnteredFrom; regional 119 and 202 of 101-300, EVS 1.3), and
// so is a part asking from where the other part, refused there with no
// Up in doubt, left (Site.noteRefused; regional 113's first failure), or
// from the other part's own transitional configuration, which it applied
// and nothing after it (Site.leftInto, TestAnswerLeftInto; regional 272);
// an Up a member apart first had in a ring where the active gateway that
// finds it apart named itself, no other gateway since, is not its
// history's in doubt (Site.activeSince, TestStrayUpInActiveRing;
// regional-one-long 127 of 101-200); an answer does not end a term's
// doubt where another site's Sync names a position further in the asking
// site's configuration, the answerer's another one (Site.splitFrom,
// TestInDoubtOtherAhead; three-sites 196 of 101-200); a part answered
// over a ring the other part went into from its base with the same Ups
// in doubt, or the first of its own, as many, delivers those where that
// part did (DomainConf.Doubt, Site.followDoubt, TestAnswerFollowsDoubt;
// regional 103, 114 and 188 of 101-300, EVS 1.3), and one with no Up in
// doubt left takes such an answer for a refusal (Site.otherDoubt,
// TestAnswerOtherDoubtRefused; regional 219 and 279 of 101-300, EVS 2.4).
// The failing seeds move with every change of the protocol's timing: run
// this after every change of the bridge, domconf or the rings' membership.
package hiersim

import (
	"strconv"
	"testing"
	"time"
)

// TestStarvationLong runs seeds 1-100 of every node starving for pauses
// up to 300 ms in the four cases above, each checked as TestStarvation
// checks its runs.
func TestStarvationLong(t *testing.T) {
	for _, c := range []struct {
		name, topology, domain string
		together               bool
	}{
		{"regional", demoTopology, "fed/regional:a+b", false},
		{"three-sites", topologyFile, "", false},
		{"global", demoTopology, "fed/global:a+b+c", false},
		{"regional-process", demoTopology, "fed/regional:a+b", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 100; seed++ {
				t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
					t.Parallel()
					o := starveOptions(c.topology, c.domain, 300*time.Millisecond, false)
					o.starve.together = c.together
					r := checkedRun(t, seed, o)
					if bound := starveSettle(t, o); r.StallSettled > bound || len(r.StallApart) > 0 {
						t.Errorf("seed %d: the last configuration came %v after the starvation (at most %v); nodes not in a regular configuration of every site at the end: %v",
							seed, r.StallSettled, bound, r.StallApart)
					}
					t.Logf("seed %d: settled %v after the starvation", seed, r.StallSettled)
				})
			}
		})
	}
}
