package localring

import (
	"encoding/binary"
	"slices"
	"time"
)

// RecoveryReserve is the headroom a regular packet of a ring configured
// with c leaves below MaxPacketBytes so that it still fits when recovery
// wraps it into a packet of the next ring (sendRecovery): the most bytes
// the wrapping mcast adds, with both node ids it names (the new ring's
// representative and the resender) Config.MaxIDBytes long. 164 bytes with
// the defaults, 52 with ids of at most 8 bytes. c must be Validate'd (or
// come from Node.Settings); a MaxIDBytes of 0 counts as the default 64.
func RecoveryReserve(c *Config) int {
	id := uvarintLen(uint64(c.idBytes())) + c.idBytes()
	repInc := 1 // RingID.RepInc is 0 unless SharedIDs
	if c.SharedIDs {
		repInc = binary.MaxVarintLen64
	}
	return 2 + // version and type
		8 + id + repInc + // the new ring's id
		8 + // sequence number
		id + 8 + // sender and incarnation
		1 + // flags
		uvarintLen(uint64(c.MaxPacketBytes)) + // length of the carried packet
		4 // CRC
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}

func (n *Node) onToken(tok *token) {
	if tok.to != n.me.ID {
		n.stats.ForeignRing++
		return
	}
	var rs *ringState
	switch {
	case n.state == stateOperational && tok.ring == n.reg.id:
		rs = n.reg
	case n.state == stateRecovery && tok.ring == n.next.id:
		rs = n.next
	default:
		n.stats.ForeignRing++
		return
	}
	if tok.tokSeq <= rs.lastTok {
		n.stats.DuplicateTokens++
		return
	}
	rs.lastTok = tok.tokSeq
	n.tokNackAt = time.Time{}
	if n.state == stateOperational {
		if !rs.lastTokAt.IsZero() {
			rot := n.now.Sub(rs.lastTokAt)
			n.stats.Rotation.observe(rot)
			if n.cfg.AdaptWindow && len(rs.members) > 1 {
				n.adaptWindow(rs, rot, tok.backlog > 0 || n.backlog() > 0)
			}
		}
		rs.lastTokAt = n.now
	}
	n.passShown(rs)
	n.tokenLossAt = n.now.Add(n.cfg.TokenTimeout)
	if tok.evict == nil && rs.members[0] == n.me && n.stalled(rs) {
		// A packet stays missing: slow the ring down rather than spin
		// retransmitting it (stall.go).
		n.stallTok = tok.kept()
		n.holdUntil = n.now.Add(n.cfg.StallHold)
		n.stats.StallHolds++
		return
	}
	if d := n.busyHold(rs, tok); d > 0 {
		// Let the members' messages gather for a fuller rotation.
		n.stallTok = tok.kept()
		n.holdUntil = n.now.Add(d)
		n.stats.BusyHolds++
		return
	}
	n.processToken(rs, tok, true, false)
}

// busyHold returns how long the representative keeps the token it just
// received before it processes it (Config.BusyRotation): what is left of
// BusyRotation since it passed the token on, when the rotation carried
// at least two messages per member in at least as many packets and less
// than half the window, asks for no retransmission and the ring is
// operational; else 0.
//
// Messages, not only packets: the fragments of one large message fill
// several packets, and a ring carrying one 8 KiB message a rotation (seven
// packets of the LAN preset's 1,400 bytes) was held as a busy one, so that each
// message waited out BusyRotation for the token: with one sender at 1,000
// msgs/s through the client API a median of 1.03-1.07 ms, against
// 0.14-0.24 ms counting messages (docs/BENCHMARKS.md, history, "8 KiB at
// 1,000 msgs/s"; TestBusyRotation's fragmented case).
func (n *Node) busyHold(rs *ringState, tok *token) time.Duration {
	if n.cfg.BusyRotation <= 0 || n.state != stateOperational || rs.members[0] != n.me ||
		len(rs.members) < 2 || rs.passedAt.IsZero() || tok.evict != nil || len(tok.rtr) > 0 || tok.backlog > 0 {
		return 0
	}
	unit, want := n.windowUnit(), 2*len(rs.members)
	if fcc := int(tok.fcc); fcc < want*unit || 2*fcc >= n.window()*unit || !rs.endsAtLeast(rs.visitSeq, tok.seq, want) {
		return 0
	}
	return n.cfg.BusyRotation - n.now.Sub(rs.passedAt)
}

// endsAtLeast reports whether the packets numbered after from up to to
// that this node holds end at least want messages: a message counts once,
// in the packet of its last fragment. It stops at the want-th.
func (rs *ringState) endsAtLeast(from, to uint64, want int) bool {
	for s := from + 1; s <= to && want > 0; s++ {
		if m := rs.store[s]; m != nil {
			for i := range m.entries {
				if m.entries[i].flags&fragMore == 0 {
					want--
				}
			}
		}
	}
	return want <= 0
}

// processToken does everything a node does while it holds the token:
// answer retransmission requests, send new messages (or, in recovery, old
// ring messages) within the flow-control window, update aru, ask for what
// it misses, advance the Safe threshold, deliver, and pass the token on (or
// keep it a moment when the ring is idle).
//
// resumed is set when the representative releases a token it held: the
// same visit continues, so it must not count as a second visit for the
// Safe threshold (that needs two real rotations) nor hold again.
func (n *Node) processToken(rs *ringState, tok *token, mayHold, resumed bool) {
	wasRecovering := n.state == stateRecovery
	if wasRecovering && tok.install {
		n.install()
		rs = n.reg
	}

	n.ringIdle = false
	if !resumed {
		rs.visitSeq = tok.seq
		if n.quietVisit(rs, tok) {
			rs.quiet++
		} else {
			rs.quiet = 0
		}
		if rs.quiet >= 2 {
			rs.allSafe = tok.seq
		}
	}
	n.noteSent(rs, tok.seq) // nacks (nack.go)
	// Operational or in recovery (whose packets a member may fail to
	// receive just the same): the failure-to-receive detector (stall.go).
	if tok.evict != nil && n.onEviction(rs, tok) {
		return
	}
	stalled := n.stalled(rs)

	// Flow control: take back what I sent last time and see what the
	// window allows now. Budgets and the token's count are in the
	// window's unit: packets, or bytes (Config.ByteWindow), a full packet
	// counting unit of them.
	tok.fcc = subClamp(tok.fcc, rs.lastFCC)
	tok.backlog = subClamp(tok.backlog, rs.lastBack)
	if tok.fcc > 0 || tok.backlog > 0 {
		rs.othersAt = n.now // the others sent, or wait to: Config.IdleLinger
	}
	myBacklog := n.backlog()
	unit := n.windowUnit()
	win := n.window() * unit
	allowed := win - int(tok.fcc)
	allowed = min(allowed, n.cfg.MaxPacketsPerVisit*unit, win)
	if total := int(tok.backlog) + myBacklog; myBacklog > 0 && total > 0 {
		share := max(unit, int(int64(win)*int64(myBacklog)/int64(total)))
		allowed = min(allowed, share)
	}
	allowed = max(allowed, 0)
	if n.state == stateOperational {
		n.visitAllow = allowed / unit
	}
	retransmits := allowed
	if stalled {
		retransmits = min(allowed, stallRetransmits*unit)
	}
	if n.limited {
		retransmits = min(retransmits, n.sendLimit*unit)
	}

	sent := 0
	// Retransmissions first: they hold up everybody's delivery.
	if len(tok.rtr) > 0 || len(rs.answered) > 0 {
		kept := tok.rtr[:0]
		answered := rs.spareAns[:0]
		for _, s := range tok.rtr {
			if s <= rs.freed && s <= tok.aru {
				continue // everybody has it already
			}
			if m := rs.store[s]; m != nil && sent < retransmits {
				n.send("", m.raw)
				n.stats.Retransmits++
				sent += n.windowCost(m.raw)
				answered = append(answered, s)
				if slices.Contains(rs.answered, s) {
					// I answered this request at my last visit too, and
					// it is back: my retransmission did not arrive (my
					// multicasts may be lost while my tokens pass). Leave
					// it for the next member that holds the packet as
					// well. Else a member whose successor's multicasts
					// never arrive, and which missed an older packet that
					// the successor holds, could never get it (the
					// successor is the first to see its request, every
					// time), and the ring took that healthy member out as
					// deaf (simulator seed 197).
					kept = append(kept, s)
				}
				continue
			}
			kept = append(kept, s)
		}
		tok.rtr = kept
		rs.spareAns, rs.answered = rs.answered, answered
	}

	// New messages, unless a packet stays missing: nothing after it can be
	// delivered by the members that miss it.
	if n.state == stateOperational {
		if !stalled {
			room := allowed - sent
			if n.limited {
				room = min(room, n.sendLimit*unit)
			}
			msgs := n.stats.MessagesSent
			sent += n.sendNew(rs, tok, room)
			n.visitMsgs = int(n.stats.MessagesSent - msgs)
		}
	} else {
		sent += n.sendRecovery(rs, tok, allowed-sent)
	}

	// aru: lower it if I miss something, raise it if I was the one holding
	// it down (or nobody is).
	if rs.aru < tok.aru || tok.aruID == n.me.ID || tok.aruID == "" {
		tok.aru = rs.aru
		if tok.aru == tok.seq {
			tok.aruID = ""
		} else {
			tok.aruID = n.me.ID
		}
	}

	// Ask for what I miss, but only packets that were sent before my
	// previous visit: newer ones may still be on their way (multicast and
	// the token travel through different sockets and queues).
	if limit := min(tok.seq, rs.prevSeq); rs.aru < limit {
		n.requestMissing(rs, tok, limit)
	}
	if n.cfg.RequestGaps {
		n.requestGaps(rs, tok)
	}
	rs.prevSeq = tok.seq
	n.watchStall(rs, tok)

	// Every member holds what the token's aru showed at both my last two
	// visits.
	if !resumed {
		if safe := min(rs.lastAru, tok.aru); safe > rs.safeUpTo {
			rs.safeUpTo = safe
		}
		rs.lastAru = tok.aru
	}

	tok.fcc += uint32(sent)
	rs.lastFCC = uint32(sent)
	rs.lastBack = uint32(n.backlog())
	tok.backlog += rs.lastBack

	if n.state == stateRecovery {
		n.recoveryProgress(rs, tok)
	}
	if n.state == stateOperational {
		n.deliver(rs)
		// Never hold the token that carries the install decision: the
		// others are waiting for it.
		if mayHold && !wasRecovering && !n.evictedSelf && n.idle(rs, tok) {
			n.held = tok.kept()
			n.holdUntil = n.now.Add(n.holdFor(n.now.Sub(rs.passedAt)))
			// Tell the members, so that one with a message to send asks
			// for the token (a wake packet) instead of waiting out the hold.
			idle := merge{ring: rs.id, sender: n.me}
			n.send("", idle.appendTo(nil, ptIdle))
			if !n.mergeAt.IsZero() && n.mergeAt.Before(n.holdUntil) {
				// The merge-detect falls due during the hold: send it now,
				// with the idle packet, rather than wake every member once
				// more for it (an idle ring's members would wake twice per
				// MergeTimeout instead of once).
				n.send("", idle.append(nil))
				n.mergeAt = n.now.Add(n.cfg.MergeTimeout)
			}
			return
		}
	}
	if !resumed {
		n.idleHolds, n.promptHolds = 0, 0 // the ring carried something, or this is not the representative
	}
	n.passToken(rs, tok)
	if n.evictedSelf {
		n.enterGather("taken out of the ring: "+causeText(tok.evict.cause), n.state == stateOperational)
	}
}

// windowUnit is what a full packet counts for in the flow-control
// window: 1, or MaxPacketBytes when the window counts bytes
// (Config.ByteWindow).
func (n *Node) windowUnit() int {
	if n.cfg.ByteWindow {
		return n.cfg.MaxPacketBytes
	}
	return 1
}

// windowCost is what sending pkt counts for in the flow-control window:
// 1, or its bytes (Config.ByteWindow).
func (n *Node) windowCost(pkt []byte) int {
	if n.cfg.ByteWindow {
		return len(pkt)
	}
	return 1
}

// window is the flow-control window this node uses now, in packets:
// WindowPackets, or in the operational state with Config.AdaptWindow what
// adaptWindow left of it (recovery, which the new ring needs to form,
// keeps the whole window).
func (n *Node) window() int {
	if n.cfg.AdaptWindow && n.state == stateOperational {
		return n.win
	}
	return n.cfg.WindowPackets
}

// adaptWindow is Config.AdaptWindow's delay-based flow control, run with
// the rotation each token this node accepts on its operational ring took
// since the one before; busy tells whether the ring has messages waiting
// (the token's backlog or mine). A rotation is judged slow only when the
// ring had messages waiting at its start and its end, so that the
// window, not the offered load, was the limit and no idle hold of the
// token (which only an idle ring makes) is in it.
//
// A ring whose window matches its paths rotates, saturated, in about
// twice its idle rotation: the window is one rotation's worth of the
// declared bandwidth, and its packets delay the token by about one more
// rotation. A busy rotation longer than three times the base means the
// paths queue more than the window explains (a bottleneck slower than
// the declared bandwidth, whose queue the ring keeps full, with the
// token behind it): the node halves its window, at most at every other
// visit, since the rotation after a cut was under way before it. A
// rotation shorter than twice the base lets the window grow back by
// WindowPackets/16 (at least 1) up to WindowPackets. In between it stays.
// The base is the fastest rotation of this ring (Totem's rotation
// without queues), kept between TokenTimeout/42 and TokenTimeout/6 (0.2
// and 1.4 planned rotations with topology.DeriveTimeouts' timers): the
// cap so that a ring busy from its first rotation, whose fastest
// rotation is already slow, still keeps its rotations under half the
// token timeout; the floor so that a rotation made of processing alone
// (a ring on one host), whose jitter is many times its length, cuts
// nothing. A ring of one has no path and is not judged. Each node
// judges its own window, and all of them see about the same rotations;
// the window carries over into the next ring, whose paths are mostly
// the same.
func (n *Node) adaptWindow(rs *ringState, rot time.Duration, busy bool) {
	if rs.fastest == 0 || rot < rs.fastest {
		rs.fastest = rot
	}
	base := min(max(rs.fastest, n.cfg.TokenTimeout/42), n.cfg.TokenTimeout/6)
	cutLast, wasBusy := n.cutLast, rs.busy
	n.cutLast, rs.busy = false, busy
	switch {
	case rot > 3*base && busy && wasBusy:
		if !cutLast && n.win > 1 {
			n.win = max(1, n.win/2)
			n.cutLast = true
			n.stats.WindowCuts++
		}
	case rot < 2*base:
		n.win = min(n.cfg.WindowPackets, n.win+max(1, n.cfg.WindowPackets/16))
	}
}

// IdleHoldAfter is the number of idle holds in a row after which the
// representative holds the token for Config.IdleTokenHold instead of
// Config.TokenHold.
const IdleHoldAfter = 10

// holdFor returns how long the representative holds the idle token now
// and counts the hold; rot is how long the token took to come back since
// I passed it on (the rotation without my hold).
//
// After IdleHoldAfter holds of TokenHold it holds IdleTokenHold; after
// IdleHoldMaxAfter more that were all prompt, IdleTokenHoldMax. A hold is
// prompt when the rotation before it and the timer that ended the hold
// before it each took at most promptSlack more than they should: on the
// LAN preset (token timeout 200 ms, holds 66 and 100 ms) 10 ms, where an
// idle ring of 3 agents rotates in under 1 ms and the timer typically
// runs less than 1 ms late on a host that is not overloaded.
func (n *Node) holdFor(rot time.Duration) time.Duration {
	n.idleHolds++
	if n.cfg.IdleTokenHold <= 0 || n.idleHolds <= IdleHoldAfter {
		return n.cfg.TokenHold
	}
	if n.cfg.IdleTokenHoldMax <= n.cfg.IdleTokenHold {
		return n.cfg.IdleTokenHold
	}
	if slack := n.promptSlack(); rot <= slack && n.holdLate <= slack {
		n.promptHolds++
	} else {
		n.promptHolds = 0
	}
	if n.promptHolds > IdleHoldMaxAfter {
		return n.cfg.IdleTokenHoldMax
	}
	return n.cfg.IdleTokenHold
}

// promptSlack is how much longer than it should a rotation or an idle
// hold may take for the ring to keep the longest idle hold: a tenth of
// what the token timeout leaves the rotation after that hold.
func (n *Node) promptSlack() time.Duration {
	return (n.cfg.TokenTimeout - n.cfg.IdleTokenHoldMax) / 10
}

// IdleHoldMaxAfter is the number of prompt holds of Config.IdleTokenHold
// in a row after which the representative holds Config.IdleTokenHoldMax:
// about 7 s of an idle LAN ring. With 10 (and a slack of a quarter of
// the margin) the longest hold came back within a second of every ring
// change, and on the benchmark's 2-core VM at load 12-21, where the host
// overran the token timeout every 5-10 s whatever the hold, idle rings of
// 3 agents installed 72 rings in 10 minutes against main's 50, side by
// side (docs/BENCHMARKS.md, "An idle ring's CPU").
const IdleHoldMaxAfter = 100

// resumeToken passes on the token the idle representative held, after
// sending whatever was submitted meanwhile.
func (n *Node) resumeToken(tok *token) {
	n.held, n.holdUntil = nil, time.Time{}
	if n.state != stateOperational {
		return
	}
	n.processToken(n.reg, tok, false, true)
}

func subClamp(a, b uint32) uint32 {
	if b > a {
		return 0
	}
	return a - b
}

// backlog is the number of packets this node would like to send.
func (n *Node) backlog() int {
	if n.state == stateRecovery {
		return len(n.recQueue)
	}
	return n.queued
}

// idle reports whether the representative may hold the token: nothing was
// sent for a rotation, nothing is missing and nothing waits to be sent,
// and every member has delivered everything. Every member holds
// everything then, and has delivered every Agreed message; a Safe
// message may still wait at some, unless every member has delivered
// everything up to it: this visit and the one before it found the ring
// quiet (quietVisit), now or since the last packet with a Safe message.
//
// The representative's own deliveries are not enough. A member delivers a
// Safe message at its second visit that saw the token's aru cover it,
// and the representative, the first to see the aru its predecessor
// raised, can get there a rotation before the others: a hold then made
// the others wait it out for their last Safe messages (a federation
// ring's Ups, whose idle ring's hold is TokenRetransmit/2, 24 ms on
// fed/regional:a+b; TestIdleHoldAfterSafeEverywhere). An idle ring holds
// at every visit as before; after Safe messages it makes one more
// rotation without a hold. With Config.IdleLinger the other members must
// also have sent nothing for that long (the token's count of what they
// sent in the rotation, less mine).
func (n *Node) idle(rs *ringState, tok *token) bool {
	return n.cfg.TokenHold > 0 && rs.members[0].ID == n.me.ID &&
		tok.fcc == 0 && len(tok.rtr) == 0 && tok.aru == tok.seq &&
		n.queued == 0 && rs.delivered == tok.seq && (rs.quiet >= 2 || rs.lastSafe <= rs.allSafe) &&
		(n.cfg.IdleLinger <= 0 || n.now.Sub(rs.othersAt) >= n.cfg.IdleLinger)
}

// quietVisit reports, as the token arrives, whether nothing was sent on
// the ring since I passed it on, and its aru covered everything when I
// passed it and covers everything now. Then every member saw the aru
// cover everything at its visit in between: the aru only drops at a
// member that misses a packet, and only that member raises it again, at
// its next visit. Two such visits in a row mean every member saw it at
// two visits in a row, and has delivered everything, Safe messages too.
func (n *Node) quietVisit(rs *ringState, tok *token) bool {
	return rs.leftAll && tok.seq == rs.sentSeq && tok.aru == tok.seq
}

// kept returns a token of its own for one the node keeps past the call
// that got it: Step parses every token into the same Node.tokIn.
func (t *token) kept() *token {
	c := *t
	return &c
}

func (n *Node) passToken(rs *ringState, tok *token) {
	tok.tokSeq++
	tok.to = rs.successor(n.me.ID)
	// A copy of the token I received is stale; my own copy may come back to
	// me only in a ring of one.
	rs.lastTok = tok.tokSeq - 1
	// Written into tokBuf, then copied into the slab at its size: one
	// allocation per chunk instead of the several of a token grown from nil.
	n.tokBuf = tok.append(n.tokBuf[:0])
	b := n.slab.Copy(n.tokBuf)
	rs.sentToken = b
	rs.sentSeq = tok.seq
	rs.leftAll = tok.aru == tok.seq
	rs.passedAt = n.now
	rs.tokNacked = false
	n.sendToken(tok.to, b)
	n.retransmitAt = n.now.Add(n.passTimeout(rs))
}

// sendToken sends the regular token b to to in Config.TokenCopies copies
// (one to myself, in a ring of one).
func (n *Node) sendToken(to NodeID, b []byte) {
	copies := n.cfg.TokenCopies
	if to == n.me.ID {
		copies = 1
	}
	for range max(copies, 1) {
		n.send(to, b)
	}
}

func (n *Node) retransmitToken() {
	n.retransmitAt = time.Time{}
	var rs *ringState
	switch n.state {
	case stateOperational:
		rs = n.reg
	case stateCommit, stateRecovery:
		rs = n.next
	default:
		return
	}
	if rs == nil || rs.sentToken == nil {
		return
	}
	n.stats.TokenRetransmits++
	if rs.pass.early {
		n.stats.EarlyTokenRetransmits++
	}
	// Karn's rule: a sign that comes now may answer either copy.
	rs.pass.at, rs.pass.early = time.Time{}, false
	to := rs.successor(n.me.ID)
	switch {
	case n.state == stateOperational:
		n.sendToken(to, rs.sentToken)
	case n.state == stateCommit && n.lastJoin != nil:
		// My commit token has not come back from its first rotation:
		// some member has not taken it. A member may be holding it
		// because none of the representative's joins of the round reached
		// it (onCommit keeps the token until one does), or it may not
		// have received it at all; and the members that took it stopped
		// sending joins. A node whose inbound links lose packets missed
		// the two or three joins each sent, and at its consensus timeout
		// gave up on every member it had not heard, which split the
		// healthy members into two rings when they took its fail set
		// (TestLossyNodeSplitSeeds; now a member that hears the node it
		// failed does not: suspects, in membership.go). So every member
		// whose commit token is not back sends its last join again before
		// the token, the representative's being the one that lets the
		// member take the token. It is my last join again, as if the
		// network had duplicated it: a member in the commit state ignores
		// it (its ringSeq is below the new ring's), a member still
		// gathering takes it as the join it missed. Only its list of the
		// members I do not hear is brought up to date (cut pairs, in
		// membership.go): a member that cannot hear me, still gathering,
		// fails me at its consensus timeout, and the members that hear us
		// both must see that I do not hear it either.
		j := *n.lastJoin
		j.unheard = n.unheard()
		n.send("", j.append(nil))
		n.send(to, rs.sentToken)
	default:
		n.send(to, rs.sentToken) // a commit token
	}
	n.retransmitAt = n.now.Add(n.cfg.TokenRetransmit)
}

// requestMissing adds the sequence numbers this node misses to the token's
// retransmission request list.
func (n *Node) requestMissing(rs *ringState, tok *token, upTo uint64) {
	limit := n.cfg.MaxRetransmitRequests
	if len(tok.rtr) >= limit {
		return
	}
	// Bound the scan when most packets are present, but let it reach two
	// windows past aru: a ring of small packets (a wide window, as over
	// datagrams on a long fat path) loses a few of every rotation's, and a
	// scan that stopped short of them asked for them only once the losses
	// below were repaired, one stretch per rotation, so aru, and delivery
	// with it, fell behind what the ring sent (localring/sim TestFedThroughputUnderLoss).
	budget := max(4*limit, 2*n.cfg.WindowPackets)
	for s := rs.aru + 1; s <= upTo && len(tok.rtr) < limit && budget > 0; s++ {
		budget--
		if rs.store[s] != nil || slices.Contains(tok.rtr, s) {
			continue
		}
		tok.rtr = append(tok.rtr, s)
		n.stats.RetransmitRequests++
	}
}

// requestGaps adds to the token's retransmission requests the packets
// sent since my previous visit (after rs.prevSeq) that I miss between two
// packets I hold from the same sender (Config.RequestGaps). Every other
// member visited once since then, and a visit's packets have consecutive
// sequence numbers, so the packets between two of one sender's are that
// sender's; they left it in order, on the same path as the later one that
// arrived, so they are lost, not on their way. requestMissing asks for
// them only at my next visit, a rotation later.
func (n *Node) requestGaps(rs *ringState, tok *token) {
	limit := n.cfg.MaxRetransmitRequests
	// From my previous visit on, not from aru: the packet at aru may be
	// the one before the gap in its sender's visit.
	from := max(rs.freed, rs.prevSeq)
	upTo := min(tok.seq, rs.highSeq, from+uint64(max(4*limit, 2*n.cfg.WindowPackets)))
	if len(tok.rtr) >= limit || upTo <= from+1 {
		return
	}
	var last uint64 // the last packet held in (from, upTo], 0 none
	var sender Member
	for s := from + 1; s <= upTo && len(tok.rtr) < limit; s++ {
		m := rs.store[s]
		if m == nil {
			continue
		}
		if last != 0 && last+1 < s && m.sender == sender {
			for g := last + 1; g < s && len(tok.rtr) < limit; g++ {
				if _, asked := rs.nacked[g]; !asked && !slices.Contains(tok.rtr, g) {
					tok.rtr = append(tok.rtr, g)
					n.stats.RetransmitRequests++
					n.stats.GapRequests++
				}
			}
		}
		last, sender = s, m.sender
	}
}

// sendNew packs queued application messages into packets, fragmenting
// large ones, and multicasts packets while what they cost in the window
// (windowCost) stays below allowed; it returns that cost. Each entry is
// the first message of the tightest send class that may still send at
// this visit (nextClass).
func (n *Node) sendNew(rs *ringState, tok *token, allowed int) int {
	sent := 0
	var spent [MaxSendClasses]int // what each class's packets cost at this visit
	// A packet ends at most budget bytes in: entryOverhead counts more than
	// an entry's header takes (a message id below 2^56 and a length below
	// 2^21 take 12 bytes at most, not 22), which leaves room for the CRC.
	budget := n.cfg.MaxPacketBytes - RecoveryReserve(&n.cfg)
	// A packet of up to slabAlone bytes is written into the slab's
	// chunk, whose bytes it does not take go to the next; a larger one
	// (a federation ring's, of WANPacketBytes) would be an allocation of
	// MaxPacketBytes for each packet however little it holds, so it is
	// written into the node's pack buffer and copied into the slab at its
	// size.
	inPack := n.cfg.MaxPacketBytes > slabAlone
	for sent < allowed && n.queued > 0 {
		var b []byte
		if inPack {
			if cap(n.pack) < n.cfg.MaxPacketBytes {
				n.pack = make([]byte, 0, n.cfg.MaxPacketBytes)
			}
			b, n.packEnds = n.pack[:0], n.packEnds[:0]
		} else {
			b = n.slab.Room(n.cfg.MaxPacketBytes)
		}
		b = appendMcastHeader(b, rs.id, tok.seq+1, n.me, 0)
		countAt := len(b)
		b = append(b, 0, 0) // entry count, a two-byte uvarint filled in below
		if n.nextClass(&spent, budget-len(b)-entryOverhead) < 0 {
			break // what is queued waits for the next visit
		}
		tok.seq++
		m := &mcast{ring: rs.id, seq: tok.seq, sender: n.me}
		entries := m.one[:0]
		var in uint16 // the classes with an entry in this packet
		for len(entries) < maxEntries {
			room := budget - len(b) - entryOverhead
			c := n.nextClass(&spent, room)
			if c < 0 {
				break
			}
			q := &n.queues[c]
			p := q.msgs[q.head]
			off := 0
			if c == n.partial {
				off = n.partialOff
			}
			rest := p.payload[off:]
			e := entry{msgID: p.id, svc: p.svc}
			if off > 0 {
				e.flags |= fragCont
			}
			if len(rest) <= room {
				e.data = rest
			} else if (n.partial < 0 || n.partial == c) && (room >= 64 || (len(entries) == 0 && room > 0)) {
				e.data = rest[:room]
				e.flags |= fragMore
			} else {
				break // start this message in the next packet
			}
			b = appendEntry(b, e)
			e.data = b[len(b)-len(e.data) : len(b) : len(b)]
			if inPack {
				n.packEnds = append(n.packEnds, len(b))
			}
			entries = append(entries, e)
			in |= 1 << c
			if e.flags&fragMore != 0 {
				n.partial = c
				n.partialOff += len(e.data)
				break
			}
			if c == n.partial {
				n.partial, n.partialOff = -1, 0
			}
			if off > 0 { // the last fragment: delivered here without a join (ownMessage)
				rs.own = append(rs.own, ownMessage{id: p.id, payload: p.payload})
			}
			q.pop()
			n.queued--
			n.stats.MessagesSent++
			n.emit(Event{Kind: EventSend, Msg: Message{
				ID:      MessageID{Sender: n.me.ID, Inc: n.me.Inc, Seq: p.id},
				Svc:     p.svc,
				Payload: p.payload,
				Conf:    rs.confID,
			}})
		}
		b[countAt] = byte(len(entries)) | 0x80
		b[countAt+1] = byte(len(entries) >> 7)
		if inPack {
			b = n.slab.Copy(appendCRC(b))
			for i, end := range n.packEnds { // the entries' data, in the copy
				entries[i].data = b[end-len(entries[i].data) : end : end]
			}
		} else {
			b = n.slab.Keep(appendCRC(b))
		}
		m.entries, m.raw = entries, b
		n.receive(rs, m)
		n.send("", b)
		cost := n.windowCost(b)
		sent += cost
		for c := range spent {
			if in&(1<<c) != 0 {
				spent[c] += cost
			}
		}
	}
	for c := range n.queues {
		n.queues[c].compact()
	}
	return sent
}

// nextClass returns the send class whose first message goes next at this
// visit, given what each class's packets cost so far (spent) and the room
// left in the packet being filled, or -1 when none may: the tightest
// class with messages whose Config.ClassVisitPackets is not spent. While
// a message is partly sent (fragmented over packets), a tighter class's
// message goes before its next fragment only if it fits whole into room
// (a member reassembles one message of a sender at a time, and takes a
// whole message between two fragments of another), and looser classes
// wait for it.
func (n *Node) nextClass(spent *[MaxSendClasses]int, room int) int {
	for c := range n.queues {
		q := &n.queues[c]
		if q.len() == 0 || !n.mayCarry(c, spent) {
			if c == n.partial {
				return -1
			}
			continue
		}
		if n.partial < 0 || c == n.partial || len(q.msgs[q.head].payload) <= room {
			return c
		}
	}
	return -1
}

// mayCarry reports whether class c's packets may still go at this visit
// (Config.ClassVisitPackets).
func (n *Node) mayCarry(c int, spent *[MaxSendClasses]int) bool {
	if c >= len(n.cfg.ClassVisitPackets) || n.cfg.ClassVisitPackets[c] == 0 {
		return true
	}
	return spent[c] < n.cfg.ClassVisitPackets[c]*n.windowUnit()
}

// sendRecovery resends old-ring packets on the new ring, while what they
// cost in the window stays below allowed, and returns that cost.
func (n *Node) sendRecovery(rs *ringState, tok *token, allowed int) int {
	sent := 0
	for sent < allowed && len(n.recQueue) > 0 {
		old := n.recQueue[0]
		n.recQueue = n.recQueue[1:]
		tok.seq++
		m := &mcast{ring: rs.id, seq: tok.seq, sender: n.me, flags: mcastRecovery, inner: old.raw}
		m.raw = m.append(make([]byte, 0, len(old.raw)+RecoveryReserve(&n.cfg)))
		n.receive(rs, m)
		n.send("", m.raw)
		n.stats.RecoveryPackets++
		sent += n.windowCost(m.raw)
	}
	return sent
}
