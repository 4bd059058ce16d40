package localring

import (
	"fmt"
	"slices"
	"time"
)

// The membership protocol: a node that loses the token, or hears of a node
// outside its ring, gathers: it multicasts join messages carrying the set of
// nodes it believes can form a ring (proc) and the set it has given up on
// (fail), merging every join it receives, until every node in proc \ fail
// sent it the same two sets (consensus). The smallest id of that membership
// then sends the commit token around the new ring twice: in the first
// rotation every member writes down its old ring and how far it got; in the
// second, every member enters recovery. In recovery the members resend, on
// the new ring, the old-ring packets that some member of their old ring
// lacks. When every member holds them all, each installs, in order: the rest
// of its old regular configuration, the transitional configuration (the
// members that came from the same old ring), the old-ring messages that
// could not be delivered in the old configuration, and the new regular
// configuration. When the commit token shows that no member lacks any
// (nothingToRecover), each installs as it enters recovery, and the
// representative starts the new ring's token when the commit token is back;
// in a ring of two the other member installs as it fills in the last entry,
// the representative when the token is back (lastOfTwo).

func (n *Node) enterGather(reason string, fromOperational bool) {
	if fromOperational || n.proc == nil {
		n.proc = make(map[NodeID]Member, len(n.reg.members)+1)
		for _, m := range n.reg.members {
			n.proc[m.ID] = m
		}
		n.proc[n.me.ID] = n.me
		n.fail = map[NodeID]Member{}
	}
	if n.evictedSelf {
		// The ring took me out: form a ring alone, and rejoin by the
		// merge-detect protocol once the fault heals.
		n.evictedSelf = false
		for _, m := range n.proc {
			if m.ID != n.me.ID {
				addMember(n.fail, m)
			}
		}
	}
	for _, m := range n.outsiders {
		addMember(n.proc, m)
	}
	n.failQuarantined()
	n.outsiders = nil
	n.purgeStale()
	n.state = stateGather
	n.gatherSince = n.now
	n.next, n.commitTok, n.early = nil, nil, nil
	n.recQueue, n.recCounted = nil, false
	n.held, n.stallTok, n.holdUntil = nil, nil, time.Time{}
	n.idleHolds, n.promptHolds = 0, 0
	n.retransmitAt, n.tokenLossAt, n.mergeAt = time.Time{}, time.Time{}, time.Time{}
	n.partial, n.partialOff = -1, 0 // a message cut by the ring change is sent again whole
	n.consensus = map[NodeID]bool{n.me.ID: true}
	n.consensusAt = n.now.Add(n.cfg.ConsensusTimeout)
	n.heard, n.mergeHeard = map[NodeID]Member{}, map[NodeID]Member{}
	n.suspects, n.heldFails = nil, nil
	n.judged = nil
	n.stats.Gathers++
	n.emit(Event{Kind: EventGather, Reason: reason})
	n.sendJoin()
	n.checkConsensus()
}

func (n *Node) sendJoin() {
	n.multicastJoin()
	// A little jitter keeps the joins of many nodes from colliding forever.
	jitter := time.Duration(n.rng.Int64N(int64(n.cfg.JoinTimeout)/5 + 1))
	n.joinAt = n.now.Add(n.cfg.JoinTimeout + jitter)
}

// multicastJoin sends my join with the current sets; sendJoin also
// schedules the next.
func (n *Node) multicastJoin() {
	n.lastJoin = &join{sender: n.me, ringSeq: n.maxRingSeq, proc: sortedSet(n.proc), fail: sortedSet(n.fail), unheard: n.unheard()}
	n.send("", n.lastJoin.append(nil))
	n.newHeard = false
}

func sortedSet(s map[NodeID]Member) []Member {
	ms := make([]Member, 0, len(s))
	for _, m := range s {
		ms = append(ms, m)
	}
	sortMembers(ms)
	return ms
}

// sameView reports whether list and set hold the same members, leaving
// out on both sides the incarnations older than one this node has seen
// (fencing): nodes that learned of a newer incarnation at different times
// list the old one in their fail sets or not, and a node never lists an
// older incarnation of itself, yet they must agree.
func (n *Node) sameView(list []Member, set map[NodeID]Member) bool {
	k := 0
	for _, m := range list {
		if m.Inc < n.incs[m.ID] {
			continue
		}
		if set[m.ID] != m {
			return false
		}
		k++
	}
	for _, m := range set {
		if m.Inc >= n.incs[m.ID] {
			k--
		}
	}
	return k == 0
}

// addMember adds m to set; a newer incarnation replaces an older one.
func addMember(set map[NodeID]Member, m Member) bool {
	old, ok := set[m.ID]
	if ok && old.Inc >= m.Inc {
		return false
	}
	set[m.ID] = m
	return true
}

// failed reports whether m (or a newer incarnation of its id) is in the
// fail set.
func (n *Node) failed(m Member) bool {
	f, ok := n.fail[m.ID]
	return ok && f.Inc >= m.Inc
}

// members returns proc \ fail, sorted.
func (n *Node) members() []Member {
	ms := make([]Member, 0, len(n.proc))
	for _, m := range n.proc {
		if !n.failed(m) {
			ms = append(ms, m)
		}
	}
	sortMembers(ms)
	return ms
}

// purgeStale moves the members of proc of which a newer incarnation was
// seen into fail, so that the joins say so and every node agrees to leave
// them out (fencing). It reports whether it changed anything.
func (n *Node) purgeStale() bool {
	changed := false
	for id, m := range n.proc {
		if m.Inc < n.incs[id] && !n.failed(m) {
			addMember(n.fail, m)
			changed = true
		}
	}
	return changed
}

func (n *Node) onJoin(j *join) {
	if j.sender.ID == n.me.ID {
		// An older copy of my own join, or a newer incarnation of this
		// very node, which supersedes this one (seeInc).
		n.seeInc(j.sender)
		return
	}
	if n.fenced(j.sender) {
		return // a superseded incarnation: never a member again
	}
	for _, m := range append(j.proc, j.fail...) {
		if n.seeInc(m); n.stopped() {
			return // the sender knows of a newer incarnation of me
		}
	}
	if n.isQuarantined(j.sender) {
		n.stats.ForeignRing++
		if q := n.quarantined[j.sender.ID]; q.cut != (Member{}) {
			// Read only for whom it hears (liftHealedCuts).
			n.noteUnheard(j)
			n.liftHealedCuts()
		}
		return // taken out for failing to receive: not yet
	}
	n.noteSeen(j.sender)
	n.noteUnheard(j)
	n.liftHealedCuts()
	n.maxRingSeq = max(n.maxRingSeq, j.ringSeq)
	switch n.state {
	case stateOperational:
		if m, ok := n.reg.member(j.sender.ID); ok && m.Inc == j.sender.Inc && j.ringSeq < n.reg.id.Seq {
			return // a join from before this ring formed
		}
		if m, ok := n.reg.member(j.sender.ID); ok && m.Inc > j.sender.Inc {
			return // an older incarnation of a member
		}
		n.enterGather(fmt.Sprintf("join from %s", j.sender), true)
	case stateCommit, stateRecovery:
		m, ok := n.next.member(j.sender.ID)
		switch {
		case !ok:
			// A node outside the ring being formed: finish forming it, then
			// merge (see install).
			if !n.failed(j.sender) {
				addMember(n.outsiders, j.sender)
			}
			return
		case m.Inc > j.sender.Inc || j.ringSeq < n.next.id.Seq:
			// An old incarnation, or a join sent before the sender accepted
			// the commit token of this ring.
			return
		}
		// A member of the new ring gave up on it: so do we, and start
		// afresh as from an installed ring, with no one failed. Keeping
		// the fail set of the round that made the abandoned ring would
		// carry it into every later round of a node that never gets to
		// install one (seen on WAN rings: a far member abandons each new
		// ring as the others already move on, and its old fail set splits
		// the rest in two, round after round).
		n.enterGather(fmt.Sprintf("join from %s while forming ring %s", j.sender, n.next.id), true)
	}
	n.gatherJoin(j)
	n.acceptEarly()
}

// gatherJoin merges a join message into the proc and fail sets.
func (n *Node) gatherJoin(j *join) {
	if n.state != stateGather || n.failed(j.sender) {
		return
	}
	if m, ok := n.reg.member(j.sender.ID); ok && m.Inc == j.sender.Inc && j.ringSeq < n.reg.id.Seq {
		return // sent before the sender installed my current ring
	}
	// A newer incarnation of a member in the fail set joins this round:
	// its own join is what started the round at the others (a standby
	// taking over a federation member, a node restarted), and they just
	// moved the old incarnation to the fail set because the join named the
	// newer one (purgeStale). Keeping it out until the next round made the
	// others form a ring without it and the newcomer wait out a token
	// timeout in a ring that never formed (a gateway failover took T + C
	// more than it needs; TestFedTakeoverBound). The fail set holds the old
	// incarnation only (failed compares incarnations), so both are right.
	if _, ok := n.heard[j.sender.ID]; !ok || n.mergeHeard[j.sender.ID] == j.sender {
		n.newHeard = true
	}
	n.heard[j.sender.ID] = j.sender
	delete(n.mergeHeard, j.sender.ID)
	if j.ringSeq < n.reg.id.Seq {
		// The sender has not seen my current ring: its proc and fail sets
		// come from an older round (a node that was paused, say, reading
		// stale joins from its socket). Take the sender in, but none of its
		// outdated opinions: merging them is how nodes come to give up on
		// each other round after round. It adopts my sets from my joins.
		if addMember(n.proc, j.sender) {
			n.consensus = map[NodeID]bool{n.me.ID: true}
			n.consensusAt = n.now.Add(n.cfg.ConsensusTimeout)
			n.sendJoin()
		}
		n.checkConsensus()
		return
	}
	for _, f := range j.fail {
		if f.ID == n.me.ID && f.Inc == n.me.Inc {
			// The sender gave up on me: we cannot agree, so I give up on it.
			addMember(n.fail, j.sender)
			n.consensus = map[NodeID]bool{n.me.ID: true}
			n.sendJoin()
			n.checkConsensus()
			return
		}
	}
	changed := addMember(n.proc, j.sender)
	for _, m := range j.proc {
		switch {
		case m.ID == n.me.ID:
		case m.Inc < n.incs[m.ID]:
			// The sender has not heard of the newer incarnation: tell it
			// through my fail set.
			changed = addMember(n.fail, m) || changed
		default:
			changed = addMember(n.proc, m) || changed
		}
	}
	if n.failCutPairs() {
		changed = true
		if n.failed(j.sender) {
			// The sender is the one of a cut pair that the ring leaves
			// out: none of its opinions counts.
			n.failQuarantined()
			n.consensus = map[NodeID]bool{n.me.ID: true}
			n.consensusAt = n.now.Add(n.cfg.ConsensusTimeout)
			n.sendJoin()
			n.checkConsensus()
			return
		}
	}
	held := n.accusesInnocent(j.fail)
	if held {
		// The sender gave up on a member I hear: I do not follow it
		// (suspects).
		if n.suspects == nil {
			n.suspects, n.heldFails = map[NodeID]Member{}, map[NodeID][]Member{}
		}
		n.suspects[j.sender.ID] = j.sender
		n.heldFails[j.sender.ID] = j.fail
	} else {
		delete(n.heldFails, j.sender.ID)
		for _, m := range j.fail {
			if m.ID != n.me.ID {
				changed = addMember(n.fail, m) || changed
			}
		}
	}
	changed = n.reviewHeldFails() || changed
	if changed {
		n.failQuarantined()
		n.consensus = map[NodeID]bool{n.me.ID: true}
		n.consensusAt = n.now.Add(n.cfg.ConsensusTimeout)
		n.sendJoin()
	}
	if held {
		delete(n.consensus, j.sender.ID)
	} else if n.sameView(j.proc, n.proc) && n.sameView(j.fail, n.fail) {
		n.consensus[j.sender.ID] = true
	}
	n.checkConsensus()
}

// Suspects. Totem has a gathering node take in the fail set of every join
// it merges: a node that cannot hear another fails it at its consensus
// timeout, and the rest follow, so that the round ends. When the one that
// cannot hear is a node with lossy inbound links, that hands the ring to
// it: it fails a healthy node whose joins it missed, the others adopt its
// fail set, the healthy node gives up on all of them in turn (they failed
// it), and the healthy nodes form two rings (TestLossyNodeSplitSeeds).
//
// So a node does not take in a join's fail set while it names an innocent
// member: one whose join or merge-detect reached me within
// aliveWindow (two join intervals, in which a gathering node sends two)
// and that is no suspect itself. The sender of such a join is a suspect
// for the rest of the round: I hold its fail set (heldFails), leave it out
// of my consensus until a join of its I can take in, and take in at once
// the joins that fail it (the member it failed gives up on it, as above:
// that join fails it). The held fail set is taken in as soon as it names
// no innocent member any more: its members fell silent for aliveWindow (a
// node that crashed after its last join) or became suspects themselves;
// then the sender is no longer a suspect. The sets still only grow in a
// round, so a round still ends: each consensus timeout fails the members
// that did not agree, a suspect among them.
//
// aliveWindow is short of the consensus timeout so that a member that
// holds the fail set of a node's join when the node named crashed takes
// it in before the others, which did at once, give up on it.

// aliveWindow is how long after its last join or merge-detect a node
// counts as heard (innocent).
func (n *Node) aliveWindow() time.Duration {
	return 2 * n.cfg.JoinTimeout
}

// noteSeen records that a join or merge-detect of m arrived now.
func (n *Node) noteSeen(m Member) {
	if n.lastSeen == nil {
		n.lastSeen = map[NodeID]seenAt{}
	}
	n.lastSeen[m.ID] = seenAt{m: m, at: n.now}
}

// seenAt is when a join or merge-detect of a member last arrived.
type seenAt struct {
	m  Member
	at time.Time
}

// hears reports whether m is a member I hear: another node, not failed,
// whose join or merge-detect arrived within aliveWindow.
func (n *Node) hears(m Member) bool {
	return m.ID != n.me.ID && !n.failed(m) && m.Inc >= n.incs[m.ID] && n.seenLately(m)
}

// seenLately reports whether a join or merge-detect of m arrived within
// aliveWindow.
func (n *Node) seenLately(m Member) bool {
	s, ok := n.lastSeen[m.ID]
	return ok && s.m == m && n.now.Sub(s.at) <= n.aliveWindow()
}

// innocent reports whether m is a member I hear, no suspect and not on
// probation.
func (n *Node) innocent(m Member) bool {
	_, suspect := n.suspects[m.ID]
	return !suspect && n.hears(m) && !n.onProbation(m)
}

// accusesInnocent reports whether fail names an innocent member.
func (n *Node) accusesInnocent(fail []Member) bool {
	for _, m := range fail {
		if n.innocent(m) {
			return true
		}
	}
	return false
}

// Cut pairs. Two members that cannot hear each other while the others
// hear both (the link between them is cut, both ways) each fail the other
// at their consensus timeouts. Either join names a member the others
// hear, so by the rule above its sender is a suspect, and the other's
// join, failing a suspect, is taken in: a node leaves out whichever of the
// two accused first. The accusations arrive at the others in either order
// (and a member still forming a ring with the two accuses no one), and
// the others came apart, some in a ring with one of the two, some with the
// other: the three others of five did in 186 of 200 seeds of sim
// TestLinkCutBothWays on b7551a1.
//
// So a join also lists the members of its proc that its sender does not
// hear (unheard: no join or merge-detect within aliveWindow). A node that
// hears two members in a round, each of whose latest joins (within
// aliveWindow) lists the other as unheard, fails the one with the higher
// id (failCutPairs) as soon as the joins show it, before either accuses
// the other, and so does every other node that hears both: the ring keeps
// the lower. Failing a member it hears is the rule above for a suspect;
// one whose inbound links lose packets is still one, as the member it
// failed hears it and its joins say so. Three measures keep the lists
// true when they count: in its round's first aliveWindow a node lists
// only the members it listed lately and has not heard since (an
// operational node sends no joins, so everyone is unheard as a round
// begins); a member that stopped gathering to form a ring resends its
// join with the commit token (retransmitToken) with the list brought up
// to date, leaving out the members that took the token before it (quiet
// too, and not for a cut: two healthy members of five, both holding
// the token, once listed each other; sim TestLossyNodeSplitSeeds); and a join's list speaks only of the members its proc names
// (an older join overtaken by a newer one does not undo it). The member
// failed counts as one that did not agree in the round (lostCut): a link
// that stays cut has it pull the others into a round that ends without
// it again and again, until the others quarantine it.

// unheard returns the members of proc, other than me, whose join or
// merge-detect has not arrived within aliveWindow (the members I fail
// among them), sorted, and records that it listed them. In my round's
// first aliveWindow a member I hear may not have sent a join yet (an
// operational node sends none), so then it lists only those of them that
// an earlier join of mine listed and that I have not heard since (the
// end of a cut link that the others quarantined and let back in: its
// joins must show at once that it still does not hear the other end).
func (n *Node) unheard() []Member {
	early := n.now.Sub(n.gatherSince) < n.aliveWindow()
	var ms []Member
	for _, m := range n.proc {
		if m.ID == n.me.ID || n.seenLately(m) || n.tookCommit(m) {
			continue
		}
		if l, ok := n.listedUnheard[m.ID]; !early || ok && l.m == m && !n.seenSince(m, l.at) {
			ms = append(ms, m)
		}
	}
	sortMembers(ms)
	if len(ms) > 0 && n.listedUnheard == nil {
		n.listedUnheard = map[NodeID]seenAt{}
	}
	for _, m := range ms {
		n.listedUnheard[m.ID] = seenAt{m: m, at: n.now}
	}
	return ms
}

// tookCommit reports whether m, in the commit state, filled in its entry
// of my commit token: it took the token before me and stopped sending
// joins, as I did, and is not unheard for that.
func (n *Node) tookCommit(m Member) bool {
	if n.state != stateCommit || n.commitTok == nil {
		return false
	}
	return slices.ContainsFunc(n.commitTok.entries, func(e commitEntry) bool { return e.member == m && e.filled })
}

// seenSince reports whether a join or merge-detect of m arrived after t.
func (n *Node) seenSince(m Member, t time.Time) bool {
	s, ok := n.lastSeen[m.ID]
	return ok && s.m == m && s.at.After(t)
}

// noteUnheard records whom the sender of join j does not hear: of the
// members its join names in proc, those it lists as unheard, at the time
// the join arrived; a member it names without listing it, it hears. A
// member missing from its proc (joins can pass each other on the way)
// keeps what an earlier join said.
func (n *Node) noteUnheard(j *join) {
	if n.unheardBy == nil {
		n.unheardBy = map[NodeID]*unheardReport{}
	}
	r := n.unheardBy[j.sender.ID]
	if r == nil || r.m != j.sender {
		r = &unheardReport{m: j.sender, at: map[Member]time.Time{}, heard: map[Member]heardSpan{}}
		n.unheardBy[j.sender.ID] = r
	}
	for _, m := range j.proc {
		delete(r.at, m)
		if h, ok := r.heard[m]; ok {
			h.last = n.now
			r.heard[m] = h
		} else if m != j.sender {
			r.heard[m] = heardSpan{since: n.now, last: n.now}
		}
	}
	for _, m := range j.unheard {
		r.at[m] = n.now
		delete(r.heard, m)
	}
}

// unheardReport is, for each member that a node's joins listed as
// unheard, when the last join that did arrived; and for each member they
// named without listing it, since when they have done so without a break.
type unheardReport struct {
	m     Member
	at    map[Member]time.Time
	heard map[Member]heardSpan
}

// heardSpan is an unbroken run of a node's joins naming a member without
// listing it as unheard: when the first and the last of them arrived.
type heardSpan struct{ since, last time.Time }

// pairable reports whether m is a member I hear (hears) and whose joins
// I do not ignore (quarantine).
func (n *Node) pairable(m Member) bool {
	return n.hears(m) && !n.isQuarantined(m)
}

// cannotHear reports whether a join of m that arrived within aliveWindow
// listed x as unheard, and no later one named x without listing it.
func (n *Node) cannotHear(m, x Member) bool {
	r, ok := n.unheardBy[m.ID]
	if !ok || r.m != m {
		return false
	}
	at, ok := r.at[x]
	return ok && n.now.Sub(at) <= n.aliveWindow()
}

// failCutPairs fails, for each cut pair that the members' last joins
// show (each lists the other as unheard, and I hear both), the one of the
// two with the higher id. It reports whether my fail set changed.
func (n *Node) failCutPairs() bool {
	changed := false
	ms := n.members()
	for i, a := range ms {
		if !n.pairable(a) {
			continue
		}
		for _, b := range ms[i+1:] {
			if n.pairable(b) && n.cannotHear(a, b) && n.cannotHear(b, a) {
				addMember(n.fail, b)
				if n.heard[b.ID] == b {
					n.lostCut(b, a)
				}
				changed = true
			}
		}
	}
	return changed
}

// heldOrder returns the senders of the held fail sets, sorted: taking one
// in clears its sender of suspicion, which can keep another held, so the
// order must not be the map's.
func (n *Node) heldOrder() []NodeID {
	ids := make([]NodeID, 0, len(n.heldFails))
	for id := range n.heldFails {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// reviewHeldFails takes in the held fail sets that name no innocent
// member any more, and clears their senders of suspicion. It reports
// whether my fail set changed.
func (n *Node) reviewHeldFails() bool {
	changed := false
	for again := true; again; {
		again = false
		for _, id := range n.heldOrder() {
			fail := n.heldFails[id]
			if s := n.suspects[id]; n.failed(s) {
				delete(n.heldFails, id)
				continue
			}
			if n.accusesInnocent(fail) {
				continue
			}
			delete(n.heldFails, id)
			delete(n.suspects, id)
			for _, m := range fail {
				if m.ID != n.me.ID && addMember(n.fail, m) {
					changed = true
				}
			}
			again = true // clearing a suspect may leave another's fail set naming an innocent: look again
		}
	}
	return changed
}

// reviewHeld runs reviewHeldFails as time passes (at each join interval:
// the members a held fail set names fall silent), and starts the round's
// consensus afresh if my fail set changed; the caller sends my join.
func (n *Node) reviewHeld() {
	if len(n.heldFails) == 0 || !n.reviewHeldFails() {
		return
	}
	n.failQuarantined()
	n.consensus = map[NodeID]bool{n.me.ID: true}
	n.consensusAt = n.now.Add(n.cfg.ConsensusTimeout)
}

// consensusTimeout gives up on the members that did not agree in time. If
// all agreed but no commit token came, the round starts over.
func (n *Node) consensusTimeout() {
	late := map[NodeID]Member{}
	for _, m := range n.members() {
		if !n.consensus[m.ID] {
			late[m.ID] = m
		}
	}
	// A held fail set that names no member I hear but those I give up on
	// now is my own judgment (a node that receives nothing is heard by
	// all and agrees with none, and the others' joins failing it come
	// just before their timeouts and mine): I take it in, and its sender,
	// no suspect any more, is not given up on for having sent it.
	took := false
	for _, id := range n.heldOrder() {
		fail := n.heldFails[id]
		if slices.ContainsFunc(fail, func(m Member) bool { _, l := late[m.ID]; return n.innocent(m) && !l }) {
			continue
		}
		took = true
		for _, m := range fail {
			if m.ID != n.me.ID {
				addMember(n.fail, m)
			}
		}
		delete(late, id)
		delete(n.heldFails, id)
		delete(n.suspects, id)
	}
	for _, m := range n.members() {
		if _, ok := late[m.ID]; ok {
			addMember(n.fail, m)
			if !n.requarantine(m) && n.heard[m.ID] == m {
				n.disagreed(m, n.mergeHeard[m.ID] == m)
			}
		}
	}
	if n.reviewHeldFails() || took {
		n.failQuarantined()
	}
	n.consensusAt = n.now.Add(n.cfg.ConsensusTimeout)
	n.consensus = map[NodeID]bool{n.me.ID: true}
	n.sendJoin()
	n.checkConsensus()
}

// checkConsensus starts the commit phase when every member agrees and this
// node is the representative.
func (n *Node) checkConsensus() {
	if n.state != stateGather {
		return
	}
	ms := n.members()
	for _, m := range ms {
		if !n.consensus[m.ID] {
			return
		}
	}
	if ms[0].ID != n.me.ID {
		return // the representative sends the commit token
	}
	if n.now.Before(n.gatherSince.Add(n.cfg.JoinTimeout)) {
		// Give every node one join interval to answer before forming a
		// ring, so that nodes starting together form one ring rather than
		// many rings that merge later.
		return
	}
	c := &commit{
		ring:     n.ringID(n.nextRingSeq()),
		rotation: 1,
		entries:  make([]commitEntry, len(ms)),
	}
	for i, m := range ms {
		c.entries[i].member = m
	}
	// A member accepts the commit token only from a representative whose
	// join it heard in this round (onCommit). One I first heard after my
	// last join went out may not have heard any: my joins can have gone
	// nowhere while its joins reached me (a federation member whose
	// connection to a site came up just now: the site's join, sent at
	// once, completed the consensus here; 22d96e9). Then I multicast my
	// join, with the sets just agreed, before the token. It goes out
	// first, on every path the round's multicasts take, so it reaches each
	// member before a token that comes round through the others, or at
	// worst before a retransmitted copy (the member keeps the early token
	// and takes it when the join comes: onCommit). It changes nothing
	// anywhere else: its sets are those every member sent me; a member
	// already in the commit state ignores it (its ringSeq is below the new
	// ring's, acceptCommit raises maxRingSeq only after); and a node
	// outside the round that hears it would have heard my earlier joins of
	// the round as well. Every member heard before my last join needs
	// none: it was reachable when that join went out.
	if n.newHeard {
		n.multicastJoin()
	}
	n.acceptCommit(c)
}

// acceptCommit enters the commit state for the ring of c (rotation 1),
// fills in this node's entry and passes the token on.
func (n *Node) acceptCommit(c *commit) {
	n.state = stateCommit
	n.early = nil
	n.joinAt, n.consensusAt = time.Time{}, time.Time{}
	ms := make([]Member, len(c.entries))
	for i, e := range c.entries {
		ms[i] = e.member
	}
	n.next = newRingState(c.ring, ms, n.cfg.StartSeq)
	n.maxRingSeq = max(n.maxRingSeq, c.ring.Seq)
	n.leftOut(ms)
	for i := range c.entries {
		if e := &c.entries[i]; e.member == n.me {
			e.filled = true
			e.oldRing = n.reg.id
			e.aru = n.reg.aru
			e.highSeq = n.reg.highSeq
			e.highDelivered = n.reg.delivered
		}
	}
	if allFilled(c) {
		if n.represents(c.ring) {
			c.rotation = 2 // a ring of one
		}
	}
	n.commitTok = c
	n.outsiders = map[NodeID]Member{}
	n.forwardCommit(c, n.next)
	if c.rotation == 2 || lastOfTwo(c, n.me) {
		n.enterRecovery(c)
	}
}

// lastOfTwo reports whether me, having filled in its entry of commit
// token c, installs at once: the member after the representative in a
// ring of two, with nothing to recover.
//
// It holds the token as the second rotation would bring it (nobody
// writes to it after the last entry), so it computes what every member
// computes from it (enterRecovery, nothingToRecover: install at once). It
// sends the token on unchanged, as the first rotation, and installs; the
// representative installs when the token is back, as before, and sends
// the second rotation, which this member, installed, passes back to it
// (commitBack), and the representative starts the ring's token then, as
// before. On a ring of two sites 200 ms apart the last survivor of a
// crash so installs a rotation after the representative sent the commit
// token, not a rotation and a half: 100 ms sooner (localring/sim
// TestFedFailoverBound). The representative does what it did before, so
// a representative of an earlier version forms the ring with this one
// (had this member sent the second rotation itself, such a representative
// would ignore it, and the two would form the ring again and again).
// Nothing becomes possible that was not before: the representative
// already installed before the other member saw the second rotation, and
// either may lose the token afterwards and form a ring without the
// other, having installed it. In a longer ring the members between the
// representative and the last one learn every entry only from the second
// rotation, so the last one's early install would gain nothing, and it
// waits as before.
func lastOfTwo(c *commit, me Member) bool {
	return len(c.entries) == 2 && c.rotation == 1 && c.entries[1].member == me && allFilled(c) && nothingToRecover(c)
}

func allFilled(c *commit) bool {
	for _, e := range c.entries {
		if !e.filled {
			return false
		}
	}
	return true
}

// forwardCommit sends commit token c on to my successor in rs, the ring
// being formed (or, for the second rotation at a member that installed
// already, lastOfTwo, the installed one).
func (n *Node) forwardCommit(c *commit, rs *ringState) {
	c.tokSeq++
	n.lastCommit = c.tokSeq - 1 // my own copy comes back to me only in a ring of one
	c.to = rs.successor(n.me.ID)
	b := c.append(nil)
	rs.sentToken = b
	n.send(c.to, b)
	n.retransmitAt = n.now.Add(n.cfg.TokenRetransmit)
	n.tokenLossAt = n.now.Add(n.cfg.TokenTimeout)
}

func (n *Node) onCommit(c *commit) {
	for _, e := range c.entries {
		if n.fenced(e.member) || n.stopped() {
			return // a ring with a superseded incarnation in it, or one that supersedes me
		}
	}
	if n.state == stateOperational && c.ring == n.reg.id {
		n.commitBack(c)
		return
	}
	idx := -1
	for i, e := range c.entries {
		if e.member == n.me {
			idx = i
		}
	}
	if idx < 0 || c.ring.Seq <= n.reg.id.Seq || c.to != n.me.ID {
		n.stats.ForeignRing++
		return
	}
	switch n.state {
	case stateGather:
		if c.rotation != 1 || c.entries[idx].filled {
			return
		}
		ms := make([]Member, len(c.entries))
		for i, e := range c.entries {
			ms[i] = e.member
		}
		if !slices.Equal(ms, n.members()) {
			return // not the membership this node agreed to
		}
		if rep := ms[0]; n.heard[rep.ID] != rep {
			// A representative whose joins never reach me (its multicasts
			// are lost, its tokens pass) must not pull me into a ring in
			// which I would never receive its packets; I fail it at the
			// consensus timeout instead.
			//
			// Its join may only be late, though: it multicasts one just
			// before the commit token (checkConsensus), and the token can
			// overtake it (another path, another QUIC stream). Accepting
			// the token without the join would drop the guard above, so
			// the token is kept instead, and taken the moment a join or
			// merge-detect of the representative arrives in this round
			// (acceptEarly), rather than at its sender's next retransmit.
			// That is safe because it is the decision onCommit makes on a
			// retransmitted copy arriving then: every check above is run
			// again on the kept token at that time, against the sets as
			// they are then; a new round (enterGather) or another accepted
			// token drops it. The representative sends its join again with
			// every retransmission of the token (retransmitToken), so a
			// member with lossy inbound links hears one in time. If the
			// join never comes, nothing changes: I fail the representative
			// at the consensus timeout.
			n.stats.ForeignRing++
			n.early = c
			return
		}
		n.lastCommit = c.tokSeq
		n.acceptCommit(c)
	case stateCommit, stateRecovery:
		if c.ring != n.next.id || c.tokSeq <= n.lastCommit {
			n.stats.DuplicateTokens++
			return
		}
		n.lastCommit = c.tokSeq
		n.retransmitAt = time.Time{}
		n.tokenLossAt = n.now.Add(n.cfg.TokenTimeout)
		isRep := n.represents(c.ring)
		switch {
		case n.state == stateCommit && c.rotation == 1 && isRep && allFilled(c):
			c.rotation = 2
			n.commitTok = c
			n.forwardCommit(c, n.next)
			n.enterRecovery(c)
		case n.state == stateCommit && c.rotation == 2 && !isRep:
			n.commitTok = c
			n.forwardCommit(c, n.next)
			n.enterRecovery(c)
		case n.state == stateRecovery && c.rotation == 2 && isRep:
			// The commit token is back: start the new ring's token.
			tok := &token{ring: n.next.id, tokSeq: c.tokSeq, seq: n.cfg.StartSeq, aru: n.cfg.StartSeq}
			n.next.lastTok = c.tokSeq
			n.processToken(n.next, tok, false, false)
		}
	}
}

// commitBack starts the token of a ring this node installed on entering
// recovery, with nothing to recover (enterRecovery), once the commit
// token is back at its representative: every member holds it. A copy
// that comes later, or at another member, is a duplicate.
//
// The other member of a ring of two, which installed as it filled in the
// last entry (lastOfTwo), gets the second rotation once: it passes it on
// to the representative, as a member entering recovery would.
func (n *Node) commitBack(c *commit) {
	if c.to != n.me.ID || c.rotation != 2 || c.tokSeq <= n.lastCommit || c.tokSeq <= n.reg.lastTok {
		n.stats.DuplicateTokens++
		return
	}
	if !n.represents(c.ring) {
		if len(c.entries) != 2 || c.entries[1].member != n.me {
			n.stats.DuplicateTokens++
			return
		}
		n.forwardCommit(c, n.reg)
		return
	}
	n.lastCommit = c.tokSeq
	n.retransmitAt = time.Time{}
	n.tokenLossAt = n.now.Add(n.cfg.TokenTimeout)
	tok := &token{ring: n.reg.id, tokSeq: c.tokSeq, seq: n.cfg.StartSeq, aru: n.cfg.StartSeq}
	n.reg.lastTok = c.tokSeq
	n.processToken(n.reg, tok, false, false)
}

// acceptEarly takes the commit token kept because its representative had
// not been heard (onCommit), once it has: a join or merge-detect of the
// representative came in this round.
func (n *Node) acceptEarly() {
	c := n.early
	if c == nil || n.state != stateGather {
		return
	}
	if rep := c.entries[0].member; n.heard[rep.ID] != rep {
		return
	}
	n.early = nil
	n.onCommit(c)
}

// enterRecovery computes which old-ring packets this node must resend on
// the new ring and what it must deliver at install.
func (n *Node) enterRecovery(c *commit) {
	n.state = stateRecovery
	n.trans = n.trans[:0]
	low, high, delivered := n.reg.aru, n.reg.highSeq, n.reg.delivered
	for _, e := range c.entries {
		if e.oldRing != n.reg.id {
			continue
		}
		n.trans = append(n.trans, e.member)
		low = min(low, e.aru)
		high = max(high, e.highSeq)
		delivered = max(delivered, e.highDelivered)
	}
	n.maxDelivered = delivered
	n.recQueue = n.recQueue[:0]
	for s := low + 1; s <= n.reg.highSeq && s <= high; s++ {
		if m := n.reg.store[s]; m != nil {
			n.recQueue = append(n.recQueue, m)
		}
	}
	n.recCounted = false
	n.instPrevOK = false
	n.tokenLossAt = n.now.Add(n.cfg.TokenTimeout)
	if nothingToRecover(c) {
		n.install()
	}
}

// nothingToRecover reports whether the commit token shows that every
// member already holds every packet of its old ring that any member of
// that ring holds (its aru is the highest sequence number any of them
// received): then no member has anything to resend or to receive, every
// member computes the same from the same token, and each installs as it
// enters recovery instead of after the recovery token's rotations (two
// visits of the representative with nothing missing, then one more hop
// to each member): on a ring of two sites 200 ms apart that saved 0.4 s
// of a federation ring's change after a crash (TestFedFailoverBound). The
// old-ring packets a member holds no longer change once it filled in its
// entry (onMcast drops them), so what it installs is what the token says.
// A member that installed keeps the commit token it passed on for
// retransmission (the installed ring's sentToken), and the representative
// starts the ring's token when the commit token is back (commitBack).
func nothingToRecover(c *commit) bool {
	high := map[RingID]uint64{}
	for _, e := range c.entries {
		high[e.oldRing] = max(high[e.oldRing], e.highSeq)
	}
	for _, e := range c.entries {
		if e.aru != high[e.oldRing] {
			return false
		}
	}
	return true
}

// recoveryProgress keeps the token's count of members with old-ring packets
// still to send, and lets the representative decide when every member holds
// every packet: the count is zero and aru equals seq at two consecutive
// visits with no new packet in between.
func (n *Node) recoveryProgress(rs *ringState, tok *token) {
	has := len(n.recQueue) > 0
	switch {
	case has && !n.recCounted:
		tok.pending++
		n.recCounted = true
	case !has && n.recCounted:
		tok.pending = subClamp(tok.pending, 1)
		n.recCounted = false
	}
	if !n.represents(rs.id) {
		return
	}
	ok := tok.pending == 0 && tok.aru == tok.seq && rs.aru == tok.seq
	if ok && n.instPrevOK && tok.seq == n.instPrevSeq {
		tok.install = true
		n.install()
		return
	}
	n.instPrevOK, n.instPrevSeq = ok, tok.seq
}

// dropRingBound drops the queued messages of Config.RingBoundClasses: they
// belong to the ring that ended. None is partly sent (a ring change
// sends a cut message again whole: enterGather).
func (n *Node) dropRingBound() {
	for _, c := range n.cfg.RingBoundClasses {
		q := &n.queues[c]
		k := q.len()
		if k == 0 {
			continue
		}
		clear(q.msgs)
		q.msgs, q.head = q.msgs[:0], 0
		n.queued -= k
		n.stats.DroppedAtInstall += uint64(k)
	}
}

// install ends recovery: it delivers the rest of the old ring in EVS order
// and makes the new ring the installed one.
func (n *Node) install() {
	old, nu := n.reg, n.next
	// 1. What can still be delivered in the old regular configuration: in
	// order up to the first hole, and Safe messages only as far as some
	// member already delivered (so every member held them).
	s := old.delivered + 1
	if old.confID != "" {
		for ; ; s++ {
			m := old.store[s]
			if m == nil || (s > n.maxDelivered && hasSafe(m)) {
				break
			}
			n.deliverPacket(old, m, old.confID)
		}
	}
	// 2. The transitional configuration.
	trans := &Configuration{ID: transConfID(nu.id, old.id), Kind: Transitional, Ring: nu.id, Members: slices.Clone(n.trans)}
	n.emit(Event{Kind: EventInstall, Conf: trans})
	// 3. The remaining old-ring messages, in order; after the first hole only
	// those whose sender is in the transitional configuration (a message
	// after a hole may depend on the missing one only if its sender left).
	hole := false
	for ; s <= old.highSeq; s++ {
		m := old.store[s]
		if m == nil {
			hole = true
			continue
		}
		if hole && !slices.Contains(n.trans, m.sender) {
			continue
		}
		n.deliverPacket(old, m, trans.ID)
	}
	// 4. The new regular configuration, without what its ring-bound
	// classes queued before it.
	n.dropRingBound()
	nu.confID = RegularConfID(nu.id)
	n.reg, n.next = nu, nil
	n.state = stateOperational
	n.commitTok = nil
	n.stats.RingsInstalled++
	n.admitted(nu.members)
	n.emit(Event{Kind: EventInstall, Conf: &Configuration{ID: nu.confID, Kind: Regular, Ring: nu.id, Members: slices.Clone(nu.members)}})
	n.proc, n.fail = nil, nil
	if nu.members[0].ID == n.me.ID {
		n.mergeAt = n.now.Add(n.cfg.MergeTimeout)
	}
	n.tokenLossAt = n.now.Add(n.cfg.TokenTimeout)
	// Packets of the new ring that arrived during recovery are now
	// deliverable; recovery packets deliver nothing.
	n.deliver(nu)
	if len(n.outsiders) > 0 {
		n.enterGather("a node outside the new ring asked to join", true)
	}
}

func (n *Node) onMerge(m *merge) {
	if m.sender.ID == n.me.ID {
		n.seeInc(m.sender)
		return
	}
	if n.fenced(m.sender) {
		return
	}
	if n.ignoresMerges(m.sender) {
		n.stats.ForeignRing++
		return
	}
	n.noteSeen(m.sender)
	switch n.state {
	case stateOperational:
		if m.ring == n.reg.id {
			return
		}
		if mem, ok := n.reg.member(m.sender.ID); ok && mem.Inc >= m.sender.Inc && m.ring.Seq < n.reg.id.Seq {
			return // stale: sent before the sender joined this ring
		}
		n.enterGather(fmt.Sprintf("merge-detect from %s of ring %s", m.sender, m.ring), true)
		n.heardMerge(m.sender)
		if addMember(n.proc, m.sender) {
			n.consensus = map[NodeID]bool{n.me.ID: true}
			n.sendJoin()
		}
	case stateGather:
		if !n.failed(m.sender) {
			n.heardMerge(m.sender)
			if addMember(n.proc, m.sender) {
				n.consensus = map[NodeID]bool{n.me.ID: true}
				n.consensusAt = n.now.Add(n.cfg.ConsensusTimeout)
				n.sendJoin()
			}
			n.acceptEarly()
		}
	}
}

// heardMerge counts a merge-detect message of m in this round as heard, as
// a join: m's multicasts reach me. A node that receives no multicasts (deaf)
// never answers the round its merge-detects start, and it sends no joins
// (it never hears of the round); counted as heard, its merge-detects are
// ignored after two such rounds (disagreed), instead of pulling the ring
// into a round at every merge interval for good.
func (n *Node) heardMerge(m Member) {
	if _, ok := n.heard[m.ID]; !ok {
		n.newHeard = true
		n.heard[m.ID] = m
		n.mergeHeard[m.ID] = m
	}
}
