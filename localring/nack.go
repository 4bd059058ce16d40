package localring

import (
	"encoding/binary"
	"time"
)

// Nacks (Config.NackDelay): a member asks a packet's sender directly for
// a packet it misses, instead of waiting for its next token visit to put
// the request on the token, where the answer comes from whichever member
// holds the token next: on a WAN ring of three sites 100 ms apart a lost
// packet cost a rotation or two (300 to 600 ms) before its retransmission
// arrived, and every Agreed delivery after it at that member waited as
// long; with a nack it costs about a round trip to its sender (200 ms).
//
// A member learns that packets up to some sequence number were sent when
// a packet with a higher number arrives, when it sends one itself (its
// own packets are numbered after everything sent before its visit), and
// when the token shows a higher seq. The numbers in between that it has
// not received form one observation (nackRun), asked for NackDelay later
// if they are still missing then, unless more than MaxNackRun are: a long
// run is a visit still queued behind the token on a slow path, not a
// loss. A member notes each number in at most one observation (rs.noted
// only grows), so it nacks a packet at most once; if the nack or its
// answer is lost, the token's retransmission requests fetch the packet
// as without nacks (requestMissing, at the member's second visit after
// the packet was sent). requestGaps leaves out packets nacked, so that
// the packet does not come twice.
//
// Only the packet's sender answers (every member receives the nack, on a
// ring without multicast as one copy per member), with the packet, to
// the member that asked alone (not while SetSendLimit stops its sending:
// its transport's queue is full). Nacks and their answers are outside the
// flow-control window: at most one nack per packet per member, and one
// answer per nack.

// nackRun is one observation of packets missing: the sequence numbers
// from..to of ring that had not arrived when the member learned they were
// sent, asked for at at if still missing then.
type nackRun struct {
	ring     RingID
	from, to uint64
	at       time.Time
}

// maxNackRuns bounds the observations a member keeps waiting; a ring
// that loses so much that more pile up within NackDelay repairs the rest
// through the token.
const maxNackRuns = 256

// nack is a member's request, outside the token, for packets of ring it
// misses; their senders answer.
type nack struct {
	ring   RingID
	sender Member
	seqs   []uint64
}

func (k *nack) append(b []byte) []byte {
	b = appendHeader(b, ptNack)
	b = appendRing(b, k.ring)
	b = appendMember(b, k.sender)
	b = binary.AppendUvarint(b, uint64(len(k.seqs)))
	for _, s := range k.seqs {
		b = binary.BigEndian.AppendUint64(b, s)
	}
	return appendCRC(b)
}

func parseNack(raw []byte) (*nack, error) {
	b, err := frameBody(raw)
	if err != nil {
		return nil, err
	}
	r := reader{b: b, off: 2}
	k := &nack{}
	k.ring = r.ring()
	k.sender = r.member()
	n := r.count(maxRTR, 8, "nack")
	if n > 0 {
		k.seqs = make([]uint64, n)
		for i := range k.seqs {
			k.seqs[i] = r.u64()
		}
	}
	return k, r.done()
}

// noteSent records that the packets of rs up to upTo were sent: the ones
// after those noted before that have not arrived form an observation,
// asked for NackDelay from now if still missing then. Operational, on
// the installed ring, with Config.NackDelay set; else it does nothing.
func (n *Node) noteSent(rs *ringState, upTo uint64) {
	if n.cfg.NackDelay <= 0 || n.state != stateOperational || rs != n.reg {
		return
	}
	from := max(rs.highSeq, rs.noted, rs.freed) + 1
	if upTo < from {
		return
	}
	rs.noted = upTo
	if len(n.nackRuns) >= maxNackRuns {
		return
	}
	n.nackRuns = append(n.nackRuns, nackRun{ring: rs.id, from: from, to: upTo, at: n.now.Add(n.cfg.NackDelay)})
}

// nackDeadline is when the first observation falls due, zero if none
// waits.
func (n *Node) nackDeadline() time.Time {
	if len(n.nackRuns) == 0 {
		return time.Time{}
	}
	return n.nackRuns[0].at
}

// sendNacks asks, in one nack, for the packets of the observations due at
// now that are still missing, leaving out an observation of which more
// than MaxNackRun are (Config.NackDelay).
func (n *Node) sendNacks() {
	rs := n.reg
	var seqs []uint64
	i := 0
	for ; i < len(n.nackRuns) && !n.nackRuns[i].at.After(n.now); i++ {
		r := n.nackRuns[i]
		if n.state != stateOperational || r.ring != rs.id {
			continue // the ring changed: recovery fetches what it lacks
		}
		var missing []uint64
		for s := max(r.from, rs.aru+1, rs.freed+1); s <= r.to && len(missing) <= MaxNackRun; s++ {
			if rs.store[s] == nil {
				missing = append(missing, s)
			}
		}
		if len(missing) > MaxNackRun {
			n.stats.NackRunsSkipped++
			continue
		}
		seqs = append(seqs, missing...)
	}
	n.nackRuns = append(n.nackRuns[:0], n.nackRuns[i:]...)
	if len(seqs) == 0 {
		return
	}
	if len(seqs) > maxRTR {
		seqs = seqs[:maxRTR]
	}
	if rs.nacked == nil {
		rs.nacked = map[uint64]struct{}{}
	}
	for _, s := range seqs {
		rs.nacked[s] = struct{}{}
	}
	n.stats.Nacks += uint64(len(seqs))
	k := nack{ring: rs.id, sender: n.me, seqs: seqs}
	n.send("", k.append(nil))
}

// onNack answers a member's nack with the packets it asks for that I sent
// and still hold, to that member alone.
func (n *Node) onNack(k *nack) {
	rs := n.reg
	if n.state != stateOperational || k.ring != rs.id || k.sender.ID == n.me.ID {
		return
	}
	if n.limited && n.sendLimit == 0 {
		// My transport's queue is full (SetSendLimit): an answer would
		// wait behind it or be dropped; the token's request fetches it.
		return
	}
	if mb, ok := rs.member(k.sender.ID); !ok || mb != k.sender {
		return
	}
	for _, s := range k.seqs {
		if m := rs.store[s]; m != nil && m.sender == n.me {
			n.send(k.sender.ID, m.raw)
			n.stats.NackAnswers++
		}
	}
}

// Token nacks (Config.NackDelay). A lost token stops the ring until its
// sender retransmits it, TokenRetransmit after passing it (two planned
// rotations: 600 ms for three sites 200 ms apart) unless it sees that
// its successor has it. But the successor can tell sooner: a packet of
// its predecessor numbered after the token it passed last was sent at
// the predecessor's visit since, which ends by passing the token to it.
// NackDelay after the last such packet, with no token come, it tells
// its predecessor (a token-nack packet, merge-shaped), which sends the
// token again at once if it still has no sign that its successor got it
// (its retransmission timer runs). A member sends one token nack per
// token it passed; a token that comes late is a duplicate, dropped as
// any other.

// watchToken arms the token nack when m, just received on the installed
// ring rs, is a packet of my predecessor's visit after my last pass.
func (n *Node) watchToken(rs *ringState, m *mcast) {
	if n.cfg.NackDelay <= 0 || len(rs.members) < 2 || m.seq <= rs.sentSeq || rs.tokNacked {
		return
	}
	if m.sender.ID != rs.predecessor(n.me.ID) {
		return
	}
	n.tokNackAt = n.now.Add(n.cfg.NackDelay)
}

// sendTokenNack tells my predecessor that the token did not come after
// its visit's packets.
func (n *Node) sendTokenNack() {
	rs := n.reg
	if n.state != stateOperational || rs.tokNacked || len(rs.members) < 2 {
		return
	}
	rs.tokNacked = true
	n.stats.TokenNacks++
	k := merge{ring: rs.id, sender: n.me}
	n.send(rs.predecessor(n.me.ID), k.appendTo(nil, ptTokenNack))
}

// onTokenNack sends the token again at once when my successor says it
// did not come and nothing has shown me since that it did.
func (n *Node) onTokenNack(m *merge) {
	rs := n.reg
	if n.state != stateOperational || m.ring != rs.id || n.retransmitAt.IsZero() || rs.sentToken == nil {
		return
	}
	if rs.successor(n.me.ID) != m.sender.ID {
		return
	}
	if mb, ok := rs.member(m.sender.ID); !ok || mb != m.sender {
		return
	}
	n.stats.TokenNackResends++
	n.retransmitToken()
}

// Early token retransmission (Config.NackDelay). A token nack needs a
// packet of the predecessor's visit to tell its successor that a token
// is due; after a visit that sent nothing, a lost token waited out
// TokenRetransmit (two planned rotations, at least 48 ms:
// topology.MinRetransmit), while every member's messages waited with it.
// On a federation ring of three sites 10 ms apart that was three
// rotations, and at 1 % loss a token hop in a hundred (localring/sim
// TestFedPaced10msLoss). The passer can tell sooner: it times each pass
// from sending the token to the first sign that its successor has it (a
// packet numbered after the token's seq, the idle notice, or the token
// itself come around), as TCP times a segment's acknowledgement, and
// sends the token again once a pass goes unshown for the smoothed time
// plus four mean deviations, at least NackDelay past the smoothed time
// (a sign may wait behind a visit's packets as long as a nack does),
// and at most TokenRetransmit. Only the first copy of a pass is timed
// (Karn's rule: a sign after a retransmission may answer either), and
// after the early copy the retransmissions keep TokenRetransmit. A pass
// that only took long costs a duplicate token, which the successor
// drops.

// passTimer times my passes of a ring's token (Config.NackDelay).
type passTimer struct {
	at           time.Time     // when I passed the token, zero once timed or sent again
	early        bool          // the retransmission armed for it is before TokenRetransmit
	srtt, rttvar time.Duration // smoothed time from a pass to its first sign, and its mean deviation; zero before the first
}

// passTimeout returns how long after passing the token on rs now I send
// it again if nothing shows that my successor has it, and starts timing
// the pass.
func (n *Node) passTimeout(rs *ringState) time.Duration {
	p := &rs.pass
	p.at, p.early = time.Time{}, false
	if n.cfg.NackDelay <= 0 || n.state != stateOperational || rs != n.reg || len(rs.members) < 2 {
		return n.cfg.TokenRetransmit
	}
	p.at = n.now
	if p.srtt == 0 {
		return n.cfg.TokenRetransmit
	}
	d := p.srtt + max(4*p.rttvar, n.cfg.NackDelay)
	if d >= n.cfg.TokenRetransmit {
		return n.cfg.TokenRetransmit
	}
	p.early = true
	return d
}

// passShown takes a sign that my successor on rs has the token I passed
// last: the retransmission stops, and a pass not sent again is timed.
func (n *Node) passShown(rs *ringState) {
	n.retransmitAt = time.Time{}
	p := &rs.pass
	if p.at.IsZero() || rs != n.reg || n.state != stateOperational {
		return
	}
	s := n.now.Sub(p.at)
	p.at, p.early = time.Time{}, false
	if p.srtt == 0 {
		p.srtt, p.rttvar = s, s/2
		return
	}
	p.rttvar += (abs(p.srtt-s) - p.rttvar) / 4
	p.srtt += (s - p.srtt) / 8
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
