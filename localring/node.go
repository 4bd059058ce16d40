package localring

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/atoll-gcs/atoll/internal/slab"
)

// state is the node's place in the Totem protocol.
type state uint8

const (
	stateGather      state = iota // exchanging join messages
	stateCommit                   // the commit token is making its first rotation
	stateRecovery                 // exchanging old-ring messages on the new ring
	stateOperational              // ordering messages on an installed ring
	stateLeft                     // left the ring for good (Leave)
	stateSuperseded               // a newer incarnation of this node id runs (fenced)
)

func (s state) String() string {
	return [...]string{"gather", "commit", "recovery", "operational", "left", "superseded"}[s]
}

// Errors returned by Submit.
var (
	ErrTooLarge     = errors.New("localring: message too large")
	ErrBackpressure = errors.New("localring: send queue full; wait for deliveries before submitting more")
	ErrBadService   = errors.New("localring: unknown service level")
	ErrBadClass     = errors.New("localring: no such send class")
	ErrLeft         = errors.New("localring: this node has left the ring")
	ErrSuperseded   = errors.New("localring: a newer incarnation of this node id is running; this one was fenced off and must stop")
)

// ringState is the ordering state of one ring: the installed one, or the
// new one during recovery.
type ringState struct {
	id      RingID
	members []Member // sorted by id
	confID  string   // "" for the initial ring that was never installed

	store     map[uint64]*mcast
	highSeq   uint64        // highest sequence number received
	aru       uint64        // all received up to
	delivered uint64        // delivered (or passed over) up to
	freed     uint64        // packets up to here were garbage collected
	safeUpTo  uint64        // every member holds everything up to here
	lastAru   uint64        // the token's aru after my previous visit
	lastTok   uint64        // tokSeq of the last token accepted (duplicate rejection)
	lastTokAt time.Time     // when it was accepted, operational (Stats.Rotation)
	passedAt  time.Time     // when I last passed the token on (Config.BusyRotation)
	othersAt  time.Time     // my last visit whose rotation carried the others' packets (Config.IdleLinger)
	fastest   time.Duration // the fastest rotation seen (Config.AdaptWindow)
	busy      bool          // messages were waiting at my last token (Config.AdaptWindow)
	lastFCC   uint32        // packets (or bytes: Config.ByteWindow) I sent at my last visit
	lastBack  uint32        // my backlog reported at my last visit
	reasm     map[Member]*reassembly
	own       []ownMessage        // my fragmented messages sent on this ring and not delivered yet, in sending order
	sentToken []byte              // the last token I passed on this ring, for retransmission
	sentSeq   uint64              // the token's seq when I passed it
	leftAll   bool                // the token's aru covered its seq when I passed it
	quiet     int                 // my visits in a row that found the ring quiet (quietVisit)
	lastSafe  uint64              // the last packet with a Safe message
	allSafe   uint64              // every member has delivered everything up to here (idle)
	prevSeq   uint64              // the token's seq at my previous visit
	visitSeq  uint64              // the token's seq as my last visit began, before my packets (busyHold)
	noted     uint64              // packets up to here were noted for nacks (nack.go)
	nacked    map[uint64]struct{} // packets asked for by nack and not freed yet
	tokNacked bool                // a token nack went out since I last passed the token (nack.go)
	pass      passTimer           // how long my passes take to show (nack.go)
	answered  []uint64            // the retransmission requests I answered at my previous visit
	spareAns  []uint64            // answered's buffer before last, reused
	stall     stallWatch
}

// newRingState returns the state of a ring whose packets are numbered
// from base+1 (base is Config.StartSeq, 0 outside tests).
func newRingState(id RingID, members []Member, base uint64) *ringState {
	return &ringState{id: id, members: members, store: make(map[uint64]*mcast), reasm: make(map[Member]*reassembly),
		highSeq: base, aru: base, delivered: base, freed: base, safeUpTo: base, lastAru: base, sentSeq: base, prevSeq: base,
		lastSafe: base, allSafe: base}
}

func (rs *ringState) member(id NodeID) (Member, bool) {
	for _, m := range rs.members {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

// predecessor is the member before id in ring order.
func (rs *ringState) predecessor(id NodeID) NodeID {
	for i, m := range rs.members {
		if m.ID == id {
			return rs.members[(i+len(rs.members)-1)%len(rs.members)].ID
		}
	}
	return rs.members[0].ID
}

// successor is the member after id in ring order.
func (rs *ringState) successor(id NodeID) NodeID {
	for i, m := range rs.members {
		if m.ID == id {
			return rs.members[(i+1)%len(rs.members)].ID
		}
	}
	return rs.members[0].ID
}

// reassembly is the message a sender is delivering in fragments. Its
// parts alias the entries of their packets, which nothing modifies: the
// message is copied once, whole, when its last fragment is delivered (or,
// for this node's own message, not at all: ownMessage).
type reassembly struct {
	id    uint64
	open  bool     // parts hold the start of message id
	parts [][]byte // the fragments so far, in order
}

// ownMessage is a message this node sent in fragments on a ring: at its
// delivery here, the node hands the application the payload given to
// Submit (which must not be modified afterwards) instead of joining the
// fragments into a new buffer. The node keeps it from the moment the last
// fragment is packed until that fragment is delivered, or the ring is
// dropped.
type ownMessage struct {
	id      uint64
	payload []byte
}

// pending is a submitted message waiting to be sent.
type pending struct {
	id      uint64
	svc     Service
	payload []byte
}

// sendQueue is one send class's submitted messages, in submission order.
type sendQueue struct {
	msgs []pending
	head int
}

func (q *sendQueue) len() int { return len(q.msgs) - q.head }

// pop drops the first message, which was sent.
func (q *sendQueue) pop() {
	q.msgs[q.head] = pending{}
	q.head++
}

// compact reuses the queue's array once it is empty, and moves a long
// tail to its front once most of it was sent.
func (q *sendQueue) compact() {
	if q.head == len(q.msgs) {
		q.msgs, q.head = q.msgs[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.msgs) {
		q.msgs = append(q.msgs[:0], q.msgs[q.head:]...)
		q.head = 0
	}
}

// Node is one member of a Totem ring, as a state machine. It does no I/O and
// reads no clock: feed it packets with Step, application messages with
// Submit and the passage of time with Tick, then collect what it produced
// with Ready and call Tick again at NextDeadline. A Node is not safe for
// concurrent use; the driver owns it from one goroutine.
type Node struct {
	cfg   Config
	me    Member
	rng   *rand.Rand
	state state

	reg  *ringState // the last installed regular ring (or the initial one)
	next *ringState // the ring being formed, in commit and recovery

	maxRingSeq uint64

	// incs is the highest incarnation seen of every node id (fencing): a
	// lower one is refused once a higher one was seen. In memory only; a
	// driver that knows more tells the node with Fence.
	incs map[NodeID]uint64

	// membership protocol
	proc, fail  map[NodeID]Member
	consensus   map[NodeID]bool
	commitTok   *commit           // the commit token of the ring being formed
	lastCommit  uint64            // tokSeq of the last commit token accepted
	early       *commit           // a commit token that came before its representative's join (onCommit)
	newHeard    bool              // a member was first heard in this round after my last join went out (checkConsensus)
	outsiders   map[NodeID]Member // joins from outside the new ring seen in commit/recovery
	gatherSince time.Time

	// recovery
	trans        []Member // members of the transitional configuration
	maxDelivered uint64   // highest old-ring seq any trans member delivered
	recQueue     []*mcast // old-ring packets to resend on the new ring
	recCounted   bool     // I am counted in the token's pending count
	instPrevOK   bool     // the representative's install condition at its last visit
	instPrevSeq  uint64

	slab     slab.Slab // the bytes of the packets kept and the messages joined (newSlab)
	pack     []byte    // sendNew's packet of more than slabAlone bytes before its copy into the slab
	packEnds []int     // where each entry of pack ends
	tokBuf   []byte    // passToken's token before its copy into the slab
	tokIn    token     // the token Step parsed (onToken keeps a copy)

	// sending
	queues      [MaxSendClasses]sendQueue // submitted messages not sent yet, per send class (SubmitClass)
	queued      int                       // messages in queues
	partial     int                       // the class whose first message is partly sequenced on this ring, -1 none
	partialOff  int                       // bytes of that message already sequenced on this ring
	nextMsgID   uint64
	sendLimit   int           // SetSendLimit's bound on new packets per visit,
	limited     bool          // when set
	win         int           // the window in use (Config.AdaptWindow; else WindowPackets)
	visitAllow  int           // packets flow control allowed me at my last operational visit (VisitShare)
	visitMsgs   int           // messages I sent at my last operational visit (VisitMessages)
	cutLast     bool          // adaptWindow cut win at my previous visit
	held        *token        // the token kept by an idle representative
	stallTok    *token        // the token the representative keeps for StallHold while stalled
	ringIdle    bool          // the representative said it holds the idle token
	idleHolds   int           // holds in a row of the idle token (IdleTokenHold)
	promptHolds int           // of those, prompt ones in a row (IdleTokenHoldMax)
	holdLate    time.Duration // how late the last idle hold's timer ran
	nackRuns    []nackRun     // observations of missing packets waiting for their nack (nack.go)
	tokNackAt   time.Time     // when to tell my predecessor its token did not come (nack.go), zero if not armed

	// failure to receive (stall.go)
	evictedSelf   bool                      // the ring is taking me out: gather alone
	quarantined   map[NodeID]*quarantine    // members taken out, whose joins are ignored for a while
	heard         map[NodeID]Member         // members whose joins (or merge-detects) arrived in this gather round
	mergeHeard    map[NodeID]Member         // those of heard whose merge-detects, not joins, arrived first
	disagree      map[Member]*disagreement  // rounds in a row that members who were heard did not agree in (disagreed)
	judged        map[NodeID]bool           // members whose failure to agree this round was counted (disagreed, requarantine)
	lastSeen      map[NodeID]seenAt         // when a join or merge-detect of each node last arrived (innocent)
	unheardBy     map[NodeID]*unheardReport // whom each node's joins said it does not hear (cut pairs)
	listedUnheard map[NodeID]seenAt         // when my joins last listed each node as unheard
	suspects      map[NodeID]Member         // senders of joins this round that failed a member I hear (suspects)
	heldFails     map[NodeID][]Member       // the fail sets of those joins, not taken in yet, by sender
	lastJoin      *join                     // the last join I multicast, which a member resends with its commit token (retransmitToken)

	// fenceNext is, per node id, when this node may next send a fence
	// notice about it (noticeFenced).
	fenceNext map[NodeID]time.Time

	// deadlines; zero means not armed
	tokenLossAt  time.Time
	retransmitAt time.Time
	holdUntil    time.Time
	joinAt       time.Time
	consensusAt  time.Time
	mergeAt      time.Time

	now   time.Time
	out   Ready
	spare Ready // the buffers of the Ready before last, reused
	stats Stats
}

// New returns a node in the gather state; call Start to begin.
func New(cfg Config) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	me := Member{ID: cfg.ID, Inc: cfg.Incarnation}
	n := &Node{
		cfg:        cfg,
		me:         me,
		rng:        rand.New(cfg.Rand),
		maxRingSeq: cfg.RingSeq,
		nextMsgID:  1,
		win:        cfg.WindowPackets,
		visitAllow: cfg.MaxPacketsPerVisit,
		partial:    -1,
		incs:       map[NodeID]uint64{me.ID: me.Inc},
		slab:       newSlab(),
	}
	// The initial ring is this node alone, numbered 0: no real ring has
	// sequence number 0, so a fresh incarnation never shares an old ring
	// with anyone.
	n.reg = newRingState(n.ringID(0), []Member{me}, cfg.StartSeq)
	return n, nil
}

// ID returns the node's member identity.
func (n *Node) ID() Member { return n.me }

// RingSeq returns the highest ring sequence number the node has seen; the
// driver persists it and passes it as Config.RingSeq after a restart.
func (n *Node) RingSeq() uint64 { return n.maxRingSeq }

// Stats returns the node's counters.
func (n *Node) Stats() Stats { return n.stats }

// State returns the protocol state as a word (gather, commit, recovery,
// operational), for status displays.
func (n *Node) State() string { return n.state.String() }

// SetSendLimit bounds how many new message packets, and separately how
// many retransmissions, the node sends per token visit, from its next
// visit on, below what the flow-control window (WindowPackets,
// MaxPacketsPerVisit) allows; a negative limit removes the bound. A
// window that counts bytes (Config.ByteWindow) takes the limit as
// packets × MaxPacketBytes bytes. On a congested connection the token
// overtakes the messages still queued, and
// the members ask for those as if they were lost: unbounded, the answers
// would queue duplicates of what the connection is still carrying. During
// recovery the old ring's packets are not bounded: the new ring needs
// them to form. The driver sets
// it from its transport's send backlog (driver.BacklogReporter), so that a
// node on a connection that carries less than the window sized from the
// declared bandwidth puts out only what the connection drains, instead
// of filling the transport's queues until they drop packets. With 0 the
// node still takes and passes the token, and its messages wait; when a
// later limit lets it send and the representative holds the idle token
// meanwhile (the news of the hold found this node unable to send, so it
// did not ask for the token: onIdle), it asks for the token at once
// rather than leave its messages to wait out the hold.
func (n *Node) SetSendLimit(packets int) {
	blocked := n.limited && n.sendLimit == 0
	n.sendLimit, n.limited = packets, packets >= 0
	if blocked && (!n.limited || n.sendLimit > 0) && n.ringIdle && n.held == nil &&
		n.state == stateOperational && n.backlog() > 0 {
		n.sendWake()
	}
}

// Settings returns the node's configuration with every default filled
// in: the effective timeouts and limits.
func (n *Node) Settings() Config { return n.cfg }

// Configuration returns the installed regular configuration, or nil before
// the first ring formed.
func (n *Node) Configuration() *Configuration {
	if n.reg.confID == "" {
		return nil
	}
	return &Configuration{ID: n.reg.confID, Kind: Regular, Ring: n.reg.id, Members: append([]Member(nil), n.reg.members...)}
}

// Start begins the membership protocol: the node looks for others and forms
// a ring, alone if nobody answers.
func (n *Node) Start(now time.Time) {
	n.now = now
	n.proc = map[NodeID]Member{n.me.ID: n.me}
	n.fail = map[NodeID]Member{}
	n.enterGather("start", false)
}

// Ready returns what the node produced since the last call: packets to send
// and events for the application, in order. The slices are reused: they are
// valid until the next call to Ready (the packet bytes and message payloads
// they point to stay valid for good).
func (n *Node) Ready() Ready {
	r := n.out
	clear(n.spare.Packets)
	clear(n.spare.Events)
	n.out = Ready{Packets: n.spare.Packets[:0], Events: n.spare.Events[:0]}
	n.spare = r
	return r
}

// HasReady reports whether Ready would return anything.
func (n *Node) HasReady() bool { return len(n.out.Packets) > 0 || len(n.out.Events) > 0 }

// NextDeadline returns the earliest time at which Tick has work to do, or
// the zero time when no timer is armed.
func (n *Node) NextDeadline() time.Time {
	var d time.Time
	for _, t := range [...]time.Time{n.tokenLossAt, n.retransmitAt, n.holdUntil, n.joinAt, n.consensusAt, n.mergeAt, n.nackDeadline(), n.tokNackAt} {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

// Submit queues an application message for sending and returns its message
// counter (the last part of its MessageID). The payload must not be modified
// afterwards: the node keeps it, and when the message is split over
// packets it delivers payload itself back to this node's application as
// the message's Payload (no copy). It is SubmitClass with class 0.
func (n *Node) Submit(now time.Time, svc Service, payload []byte) (uint64, error) {
	return n.SubmitClass(now, 0, svc, payload)
}

// MaxSendClasses is the number of send classes a node queues messages in
// (SubmitClass): 0 to MaxSendClasses-1.
const MaxSendClasses = 8

// SubmitClass is Submit with a send class: 0 is the tightest, and at each
// token visit the node sends the messages of a tighter class before those
// of a looser one, each class in submission order, the looser ones
// within Config.ClassVisitPackets (see there). So a node's messages of
// different classes may go on the ring, and be delivered everywhere, in
// another order than they were submitted in; those of one class never.
// Give two messages one class whenever any order is promised between
// them (a sender's FIFO or causal order, one domain's stream); the agent
// gives every message of one EVS domain the class of that domain (package
// qos). MaxPendingMessages bounds each class's queue.
func (n *Node) SubmitClass(now time.Time, class int, svc Service, payload []byte) (uint64, error) {
	n.now = now
	if invariantsOn {
		defer n.checkInvariants("Submit")
	}
	switch n.state {
	case stateLeft:
		return 0, ErrLeft
	case stateSuperseded:
		return 0, ErrSuperseded
	}
	if !svc.Valid() {
		return 0, fmt.Errorf("%w %d", ErrBadService, svc)
	}
	if len(payload) > n.cfg.MaxMessageBytes {
		return 0, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(payload), n.cfg.MaxMessageBytes)
	}
	if class < 0 || class >= MaxSendClasses {
		return 0, fmt.Errorf("%w %d: 0 to %d", ErrBadClass, class, MaxSendClasses-1)
	}
	q := &n.queues[class]
	if q.len() >= n.cfg.MaxPendingMessages {
		return 0, ErrBackpressure
	}
	id := n.nextMsgID
	n.nextMsgID++
	wasEmpty := n.queued == 0
	q.msgs = append(q.msgs, pending{id: id, svc: svc, payload: payload})
	n.queued++
	if wasEmpty && n.ringIdle && n.held == nil && n.state == stateOperational && n.cfg.TokenHold > 0 {
		// The representative is probably holding the idle token: ask for
		// it rather than wait out the hold.
		n.sendWake()
	}
	if n.held != nil {
		n.resumeToken(n.held)
	}
	return id, nil
}

// Leave makes the node leave the ring for good, for a graceful shutdown:
// it multicasts a join message that lists itself as failed, so the others
// re-form at once (in about one join interval) instead of waiting for the
// token timeout and the consensus timeout, and from then on it ignores
// every input and arms no timer. Messages not yet sent are dropped; the
// driver should wait until Pending is zero and its own messages are
// delivered before calling Leave.
func (n *Node) Leave(now time.Time) {
	n.now = now
	if n.stopped() {
		return
	}
	proc := map[NodeID]Member{n.me.ID: n.me}
	for _, m := range n.reg.members {
		proc[m.ID] = m
	}
	j := join{sender: n.me, ringSeq: n.maxRingSeq, proc: sortedSet(proc), fail: []Member{n.me}}
	b := j.append(nil)
	n.send("", b)
	n.send("", b) // a second copy: one lost packet would cost the others a token timeout
	n.stop(stateLeft)
}

// stop ends the node's part in the protocol for good.
func (n *Node) stop(s state) {
	n.state = s
	n.held, n.stallTok = nil, nil
	n.tokenLossAt, n.retransmitAt, n.holdUntil = time.Time{}, time.Time{}, time.Time{}
	n.joinAt, n.consensusAt, n.mergeAt = time.Time{}, time.Time{}, time.Time{}
	n.nackRuns, n.tokNackAt = nil, time.Time{}
}

// ringID returns the id of a ring with sequence number seq that this node
// represents.
func (n *Node) ringID(seq uint64) RingID {
	r := RingID{Seq: seq, Rep: n.me.ID}
	if n.cfg.SharedIDs {
		r.RepInc = n.me.Inc
	}
	return r
}

// nextRingSeq returns the sequence number of the next ring this node
// represents: at least four above every one it has seen, in its lane
// (Config.RingSeqLanes).
func (n *Node) nextRingSeq() uint64 {
	s := n.maxRingSeq + 4
	if k := uint64(n.cfg.RingSeqLanes); k > 1 {
		s += 4 * ((uint64(n.cfg.RingSeqLane) + k - (s/4)%k) % k)
	}
	return s
}

// represents reports whether this node created ring r.
func (n *Node) represents(r RingID) bool { return r == n.ringID(r.Seq) }

func (n *Node) stopped() bool { return n.state == stateLeft || n.state == stateSuperseded }

// Incarnation returns the highest incarnation of node id this node has
// seen (in a packet, or from Fence), 0 if none.
func (n *Node) Incarnation(id NodeID) uint64 { return n.incs[id] }

// Fence tells the node that incarnation inc of node id runs (or ran): from
// now on it refuses every lower incarnation of id in the membership
// protocol (joins, merge-detect messages, commit tokens), exactly as after
// receiving a packet from id#inc. The node learns incarnations from the
// packets it receives by itself and keeps them in memory only; a driver
// that knows of a newer incarnation by other means (the federation
// gateway learns from its site's local ring that another gateway of the
// site took over) passes it here. When id is this node's own id and inc
// is higher than its incarnation, the node is superseded: it stops at
// once, as after Leave but without sending anything, and reports
// EventSuperseded; the driver must then exit or start a new incarnation.
func (n *Node) Fence(now time.Time, id NodeID, inc uint64) {
	n.now = now
	if n.stopped() {
		return
	}
	n.seeInc(Member{ID: id, Inc: inc})
	if n.state == stateGather && n.purgeStale() {
		n.consensus = map[NodeID]bool{n.me.ID: true}
		n.consensusAt = n.now.Add(n.cfg.ConsensusTimeout)
		n.sendJoin()
		n.checkConsensus()
	}
}

// Reachable tells the node that its transport can now reach node id (a
// connection to it was just set up, as over QUIC in a federation ring): a
// gathering node sends its join again at once. The joins it sent before
// found no way to id, and the next would go out only at the join timeout
// (a standby gateway that takes over dials the other sites as its member
// starts, and its first join went nowhere: the others heard of it a join
// timeout late, hundreds of milliseconds on a WAN preset). In any other
// state it does nothing: an operational ring finds a node outside it by
// its merge-detect messages.
func (n *Node) Reachable(now time.Time, id NodeID) {
	n.now = now
	if n.state != stateGather || n.proc == nil || id == n.me.ID {
		return // not gathering, or not started
	}
	n.sendJoin()
}

// Reform makes an operational node start a membership round at once, as
// on a token loss but without waiting for one: with every member still
// reachable the ring forms again with the same members under a new ring
// id, through a transitional configuration of them all, and no message is
// lost (recovery, as at any change). In any other state it does nothing:
// a round is already under way, and its configuration comes after
// everything the node delivered. A federation domain's gateway asks for
// one (gateway/domconf): node-level configuration changes of the domain
// take effect only where the federation ring's configuration changes.
func (n *Node) Reform(now time.Time) {
	n.now = now
	if invariantsOn {
		defer n.checkInvariants("Reform")
	}
	if n.state != stateOperational {
		return
	}
	n.stats.Reforms++
	n.enterGather("reform asked for", true)
}

// ReformAbove is Reform, with the next ring this node forms numbered
// above seq (its sequence number at least seq+4, as if the node had seen
// a ring numbered seq). A federation gateway whose member a newer gateway
// of its site fenced, from a part of the site's split local ring with a
// higher sequence number, asks for it when its own part's ring has not
// changed for a while: the ring the part forms again makes it the active
// gateway with an incarnation above the fencer's (federation.Incarnation
// grows with the local ring's sequence number). Without it, a part whose
// ring never changed again (the other part's gateway crashed, and no
// packet of it came through) had no gateway in the domain for good.
func (n *Node) ReformAbove(now time.Time, seq uint64) {
	n.maxRingSeq = max(n.maxRingSeq, seq)
	n.Reform(now)
}

// seeInc records an incarnation seen in a packet and reports whether it is
// stale: lower than one seen before for the same id. Seeing a newer
// incarnation of this node's own id supersedes the node.
func (n *Node) seeInc(m Member) (stale bool) {
	hi := n.incs[m.ID]
	switch {
	case m.Inc < hi:
		return true
	case m.Inc == hi:
		return false
	}
	n.incs[m.ID] = m.Inc
	if m.ID == n.me.ID && !n.stopped() {
		n.stop(stateSuperseded)
		n.stats.Superseded++
		n.emit(Event{Kind: EventSuperseded, Reason: fmt.Sprintf("incarnation %d of node %s is running; this incarnation %d stops (fenced)", m.Inc, m.ID, n.me.Inc)})
	}
	return false
}

// fenced counts and reports a membership packet from (or naming) a
// superseded incarnation, and tells that incarnation so (noticeFenced).
func (n *Node) fenced(m Member) bool {
	if n.seeInc(m) {
		n.stats.Fenced++
		n.noticeFenced(m.ID)
		return true
	}
	return false
}

// noticeFenced multicasts the newest incarnation of id this node knows of,
// at most once per JoinTimeout per id: a superseded incarnation that hears
// it stops (seeInc), and the other nodes learn of the newer incarnation
// and fence the old one too. Without it, an old incarnation whose
// successor has crashed (a paused process that resumes after its
// replacement died, say) is never told: the nodes that saw the successor
// ignore its packets, those that did not take it into their rings, and
// the two groups never agree on one ring again (federation seeds 2747,
// 3186, 7484 and 10782 of TestFedSimSeeds).
func (n *Node) noticeFenced(id NodeID) {
	if next, ok := n.fenceNext[id]; ok && n.now.Before(next) {
		return
	}
	if n.fenceNext == nil {
		n.fenceNext = map[NodeID]time.Time{}
	}
	n.fenceNext[id] = n.now.Add(n.cfg.JoinTimeout)
	f := fenceNotice{sender: n.me, newest: Member{ID: id, Inc: n.incs[id]}}
	n.stats.FenceNotices++
	n.send("", f.append(nil))
}

// onFence learns the newest incarnation a fence notice names; the notice
// stops this node if it names a newer incarnation of it.
func (n *Node) onFence(f *fenceNotice) {
	n.seeInc(f.sender)
	n.seeInc(f.newest)
}

// VisitShare returns how many packets this node can expect to send at
// each token visit while it has messages waiting: what flow control
// allowed it at its last visit on an operational ring, at least its equal
// share of the window among the ring's members, and at most
// MaxPacketsPerVisit. A lone sender gets MaxPacketsPerVisit; when every
// member sends, the window divides by their backlogs, and each gets about
// its equal share. An application that bounds what it queues for the ring
// by visits (the agent's send queue) sizes the bound from it, so that a
// message waits a few rotations however many members send. The floor
// keeps the bound from shrinking with the share it would itself shrink:
// the window divides by backlog, so a member that queued less than the
// others would be allowed less, queue less, and so on.
func (n *Node) VisitShare() int {
	fair := max(1, n.window()/max(1, len(n.reg.members)))
	return min(n.cfg.MaxPacketsPerVisit, max(n.visitAllow, fair))
}

// VisitMessages returns how many messages this node sent at its last
// token visit on an operational ring: with small messages many to a
// packet, what its visits carry in messages (VisitShare counts packets),
// as far as it had them queued.
func (n *Node) VisitMessages() int { return n.visitMsgs }

// Pending returns the number of submitted messages not yet sent.
func (n *Node) Pending() int { return n.queued }

// PendingClass returns the number of messages of one send class submitted
// and not sent yet (0 for a class out of range).
func (n *Node) PendingClass(class int) int {
	if class < 0 || class >= MaxSendClasses {
		return 0
	}
	return n.queues[class].len()
}

// Tick runs every timer whose deadline is not after now.
func (n *Node) Tick(now time.Time) {
	n.now = now
	if invariantsOn {
		defer n.checkInvariants("Tick")
	}
	if n.stopped() {
		return
	}
	due := func(t time.Time) bool { return !t.IsZero() && !t.After(now) }
	if due(n.holdUntil) {
		late := now.Sub(n.holdUntil)
		n.holdUntil = time.Time{}
		if n.held != nil {
			n.holdLate = late
			n.resumeToken(n.held)
		} else if tok := n.stallTok; tok != nil {
			n.stallTok = nil
			if rs := n.ringForState(); (n.state == stateOperational || n.state == stateRecovery) && tok.ring == rs.id {
				n.processToken(rs, tok, true, false)
			}
		}
	}
	if due(n.retransmitAt) {
		n.retransmitToken()
	}
	if due(n.nackDeadline()) {
		n.sendNacks()
	}
	if due(n.tokNackAt) {
		n.tokNackAt = time.Time{}
		n.sendTokenNack()
	}
	if due(n.tokenLossAt) {
		n.tokenLossAt = time.Time{}
		n.stats.TokenLosses++
		n.emit(Event{Kind: EventTokenLost, Reason: fmt.Sprintf("no token for %v in state %s on ring %s", n.cfg.TokenTimeout, n.state, n.ringForState().id)})
		n.enterGather("token lost", n.state == stateOperational)
	}
	if due(n.joinAt) {
		n.joinAt = time.Time{}
		if n.state == stateGather {
			n.reviewHeld()
			n.sendJoin()
			n.checkConsensus()
		}
	}
	if due(n.consensusAt) {
		n.consensusAt = time.Time{}
		if n.state == stateGather {
			n.consensusTimeout()
		}
	}
	if due(n.mergeAt) {
		n.mergeAt = time.Time{}
		if n.state == stateOperational && n.reg.members[0].ID == n.me.ID {
			m := merge{ring: n.reg.id, sender: n.me}
			n.send("", m.append(nil))
			n.mergeAt = now.Add(n.cfg.MergeTimeout)
		}
	}
}

func (n *Node) ringForState() *ringState {
	if (n.state == stateCommit || n.state == stateRecovery) && n.next != nil {
		return n.next
	}
	return n.reg
}

// Step processes one packet received from the network. It returns an error
// wrapping ErrMalformed for a packet that does not decode (the packet is
// counted and dropped; the node is unaffected). The node keeps no reference
// to pkt.
func (n *Node) Step(now time.Time, pkt []byte) error {
	n.now = now
	if invariantsOn {
		defer n.checkInvariants("Step")
	}
	n.stats.PacketsIn++
	if n.stopped() {
		return nil
	}
	t, err := peekType(pkt)
	if err != nil {
		n.stats.Malformed++
		return err
	}
	switch t {
	case ptMcast:
		m, err := parseMcast(n.slab.Copy(pkt), n.ringForState().members)
		if err != nil {
			n.stats.Malformed++
			return err
		}
		n.onMcast(m)
	case ptToken:
		// Parsed into n.tokIn, not a token of its own: onToken copies it
		// where it keeps it (held, stallTok).
		tok := &n.tokIn
		if err := tok.parse(pkt, n.ringForState().members); err != nil {
			n.stats.Malformed++
			return err
		}
		n.onToken(tok)
	case ptJoin:
		j, err := parseJoin(pkt)
		if err != nil {
			n.stats.Malformed++
			return err
		}
		if err := n.refuseLongIDs(ptJoin, j.sender.ID, j.admits()); err != nil {
			return err
		}
		n.onJoin(j)
	case ptCommit:
		c, err := parseCommit(pkt)
		if err != nil {
			n.stats.Malformed++
			return err
		}
		if err := n.refuseLongIDs(ptCommit, c.ring.Rep, c.admits()); err != nil {
			return err
		}
		n.onCommit(c)
	case ptFence:
		f, err := parseFence(pkt)
		if err != nil {
			n.stats.Malformed++
			return err
		}
		n.onFence(f)
	case ptNack:
		k, err := parseNack(pkt)
		if err != nil {
			n.stats.Malformed++
			return err
		}
		n.onNack(k)
	case ptMerge, ptWake, ptIdle, ptTokenNack:
		m, err := parseMerge(pkt)
		if err != nil {
			n.stats.Malformed++
			return err
		}
		if err := n.refuseLongIDs(t, m.sender.ID, m.admits()); err != nil {
			return err
		}
		switch t {
		case ptWake:
			n.onWake(m)
		case ptIdle:
			n.onIdle(m)
		case ptTokenNack:
			n.onTokenNack(m)
		default:
			n.onMerge(m)
		}
	default:
		n.stats.Malformed++
		return fmt.Errorf("%w: unknown packet type %d", ErrMalformed, t)
	}
	return nil
}

// onIdle hears that the representative holds the token of an idle ring.
// A member that has something to send already (it was submitted after the
// token left this node and before this news came) asks for the token at
// once (unless SetSendLimit forbids it to send): Submit sends a wake only
// when it knows of the hold, so waiting for the next Submit would leave the
// message waiting out the hold.
func (n *Node) onIdle(m *merge) {
	if n.state != stateOperational || m.ring != n.reg.id {
		return
	}
	n.passShown(n.reg) // the representative has the token
	if n.backlog() > 0 && (!n.limited || n.sendLimit > 0) {
		n.sendWake()
		return
	}
	n.ringIdle = true
}

// sendWake asks the representative to release the token it holds.
func (n *Node) sendWake() {
	n.ringIdle = false
	w := merge{ring: n.reg.id, sender: n.me}
	n.send("", w.appendTo(nil, ptWake))
}

// onWake releases a held token when a member has something to send.
func (n *Node) onWake(m *merge) {
	if n.held == nil || n.state != stateOperational || m.ring != n.reg.id {
		return
	}
	n.resumeToken(n.held)
}

func (n *Node) emit(e Event) { n.out.Events = append(n.out.Events, e) }

func (n *Node) send(to NodeID, b []byte) {
	n.stats.PacketsOut++
	n.out.Packets = append(n.out.Packets, Packet{To: to, Data: b})
}

// ---- message packets ----

func (n *Node) onMcast(m *mcast) {
	if n.seeInc(m.sender); n.stopped() {
		return // a newer incarnation of my id sends: I am superseded
	}
	switch {
	case m.ring == n.reg.id && (n.state == stateCommit || n.state == stateRecovery):
		// This node reported what it holds of its old ring in the commit
		// token; the members that move on with it must end up holding the
		// same packets, so late copies arrive only through recovery.
		n.stats.ForeignRing++
		return
	case m.ring == n.reg.id:
		n.receive(n.reg, m)
		if n.state == stateOperational {
			n.deliver(n.reg)
			n.watchToken(n.reg, m)
		}
	case n.next != nil && m.ring == n.next.id && n.state >= stateCommit:
		n.receive(n.next, m)
	default:
		n.stats.ForeignRing++
		return
	}
	// A new message from the ring after I passed the token shows that my
	// successor has it.
	if rs := n.ringForState(); m.ring == rs.id && m.seq > rs.sentSeq {
		n.passShown(rs)
	}
}

// receive stores a packet of ring rs and advances aru.
func (n *Node) receive(rs *ringState, m *mcast) {
	if m.seq <= rs.freed || rs.store[m.seq] != nil {
		n.stats.DuplicateMcast++
		return
	}
	if m.seq > rs.highSeq+1 {
		n.noteSent(rs, m.seq-1)
	}
	rs.store[m.seq] = m
	if m.seq > rs.highSeq {
		rs.highSeq = m.seq
	}
	for rs.store[rs.aru+1] != nil {
		rs.aru++
	}
	if m.seq > rs.lastSafe && hasSafe(m) {
		rs.lastSafe = m.seq
	}
	if m.flags&mcastRecovery != 0 && rs == n.next {
		// An old-ring packet carried on the new ring: keep it if it belongs
		// to my old ring.
		if inner, err := parseMcast(m.inner, n.reg.members); err == nil && inner.ring == n.reg.id {
			n.receive(n.reg, inner)
		} else if err != nil {
			n.stats.Malformed++
		}
	}
}

func hasSafe(m *mcast) bool {
	for i := range m.entries {
		if m.entries[i].svc == Safe {
			return true
		}
	}
	return false
}

// deliver delivers, in sequence order, every packet of the installed ring
// whose predecessors have all been delivered, holding Safe messages until
// every member holds them; then frees packets every member holds.
func (n *Node) deliver(rs *ringState) {
	for {
		s := rs.delivered + 1
		m := rs.store[s]
		if m == nil || (s > rs.safeUpTo && hasSafe(m)) {
			break
		}
		n.deliverPacket(rs, m, rs.confID)
		rs.delivered = s
	}
	limit := min(rs.delivered, rs.safeUpTo)
	for s := rs.freed + 1; s <= limit; s++ {
		delete(rs.store, s)
		if rs.nacked != nil {
			delete(rs.nacked, s)
		}
	}
	if limit > rs.freed {
		rs.freed = limit
	}
}

// join returns the message the parts make, in one new buffer, and resets
// r for the sender's next fragmented message.
func (r *reassembly) join(s *slab.Slab) []byte {
	data := s.Copy(r.parts...)
	r.reset()
	return data
}

// ownPayload returns the message that r, a reassembly of this node's own
// fragmented message, makes: the payload it was submitted with when rs
// keeps it (rs.own), else a join in s. Since the last fragments of my messages
// are delivered in the order they were packed, the entries before the
// one found are messages whose start was lost; they are dropped.
func (rs *ringState) ownPayload(r *reassembly, s *slab.Slab) []byte {
	for i, o := range rs.own {
		if o.id != r.id {
			continue
		}
		total := 0
		for _, p := range r.parts {
			total += len(p)
		}
		clear(rs.own[:i+1])
		rs.own = rs.own[i+1:]
		if len(rs.own) == 0 {
			rs.own = nil
		}
		if total != len(o.payload) {
			break
		}
		r.reset()
		return o.payload
	}
	return r.join(s)
}

// reset forgets the parts, so that r holds no packet.
func (r *reassembly) reset() {
	clear(r.parts)
	r.parts, r.open = r.parts[:0], false
}

// deliverPacket hands the complete messages of one packet to the
// application in configuration conf, reassembling fragments.
func (n *Node) deliverPacket(rs *ringState, m *mcast, conf string) {
	if m.delivered || m.flags&mcastRecovery != 0 {
		return
	}
	m.delivered = true
	for i := range m.entries {
		e := &m.entries[i]
		data := e.data
		if e.flags&fragCont != 0 {
			r := rs.reasm[m.sender]
			if r == nil || !r.open || r.id != e.msgID {
				continue // the start of this message was lost with its ring
			}
			r.parts = append(r.parts, e.data)
			if e.flags&fragMore != 0 {
				continue
			}
			if m.sender == n.me {
				data = rs.ownPayload(r, &n.slab)
			} else {
				data = r.join(&n.slab)
			}
		} else if e.flags&fragMore != 0 {
			r := rs.reasm[m.sender]
			if r == nil {
				r = &reassembly{}
				rs.reasm[m.sender] = r
			}
			r.reset()
			r.id, r.open = e.msgID, true
			r.parts = append(r.parts, e.data)
			continue
		}
		n.stats.MessagesDelivered++
		n.emit(Event{Kind: EventDeliver, Msg: Message{
			ID:      MessageID{Sender: m.sender.ID, Inc: m.sender.Inc, Seq: e.msgID},
			Svc:     e.svc,
			Payload: data,
			Conf:    conf,
			Order:   Order{Ring: rs.id.Seq, Seq: m.seq, Index: uint32(i)},
		}})
	}
}
