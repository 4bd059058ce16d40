package localring

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Config configures one ring node. The zero value of every field except ID
// means "use the default of the LAN preset"; see DefaultLAN and
// DefaultCloud for the presets and Validate for the limits.
type Config struct {
	// ID is the node's stable id, taken from the topology file. Ids order the
	// ring (the token travels in ascending id order) and the smallest id of a
	// membership is its representative. 1 to MaxIDBytes bytes.
	ID NodeID

	// MaxIDBytes bounds the length of every member's node id on this ring,
	// this node's own included: the node refuses (Stats.LongIDs, and Step
	// returns ErrIDTooLong) a join, commit token or merge-detect message
	// that would admit a longer one. Each regular packet leaves room below
	// MaxPacketBytes for recovery to wrap it whole into a packet of the
	// next ring, whose header names two members (the new ring's
	// representative and the node resending it); the room is sized from
	// this bound (RecoveryReserve), so a small bound packs more data per
	// packet. Every member of a ring must use the same value: a node with
	// a larger bound could wrap another's full packet in a header that no
	// longer fits. Default and maximum 64; the agent sets it from the
	// longest node name of the site.
	MaxIDBytes int

	// Incarnation distinguishes restarts of the same node id. The driver
	// must guarantee that it never repeats for an ID (persist a counter, or
	// derive it from a clock that only moves forward); 0 is not allowed.
	Incarnation uint64

	// RingSeq is the highest ring sequence number this node id has ever
	// seen, persisted by the driver across restarts, so that ring ids keep
	// increasing. 0 for a node that never ran. Read the current value with
	// Node.RingSeq before every Ready and make it durable before sending
	// the Ready's packets (package localring/driver does).
	RingSeq uint64

	// SharedIDs marks a ring whose member ids are not one process each but
	// spoken for by one process after another, which may overlap in time:
	// a federation ring, whose members are sites and whose processes are
	// their gateways. Its ring ids carry the representative's incarnation
	// on the wire (RingID.RepInc), so that a process never takes a ring
	// another incarnation of its id formed for its own; the ids' text (EVS
	// trace configuration ids) stays "seq:rep", kept apart between
	// incarnations that may overlap by RingSeqLanes. Every member of a
	// ring must use the same value. Default false: a local ring's node id
	// is one process at a time.
	SharedIDs bool

	// RingSeqLanes and RingSeqLane keep the rings formed by processes that
	// speak for one member id apart when they may run at once (SharedIDs:
	// a site's old gateway, paused or cut off, and its successor). A
	// representative numbers a new ring with the smallest sequence number
	// above every one it has seen, four at least, that lies in its lane:
	// (seq/4) mod RingSeqLanes = RingSeqLane. Give the processes of one id
	// the same number of lanes and each its own lane (a site's gateways:
	// their rank in the site's gateway list, and its length): two of them
	// never choose one number, even after learning the same highest one
	// through a third member, so their ring ids (sequence number and
	// member id) differ. A new ring's number then grows by up to
	// 4×RingSeqLanes. Default 0 and 0: one lane.
	RingSeqLanes, RingSeqLane int

	// TokenTimeout is how long a node waits for the token before it declares
	// the token lost and starts the membership protocol. Default 200 ms.
	TokenTimeout time.Duration

	// TokenRetransmit is how long a node waits, after passing the token,
	// for a sign that its successor received it (a new message on the ring
	// or the token's return) before sending it again. Default TokenTimeout/4.2
	// (four retransmissions fit into one token timeout, as in Corosync).
	TokenRetransmit time.Duration

	// TokenHold is how long the representative keeps the token when the ring
	// is idle (nothing sent, nothing missing, and every member has
	// delivered everything: after Safe messages, two rotations in a row
	// that found the ring quiet) before passing it on. It bounds the idle CPU cost: an idle ring rotates about
	// once per TokenHold. It costs no latency: the representative announces
	// the hold, and a member that gets a message to send asks for the token
	// at once. Default 20 ms. Must be below TokenRetransmit.
	TokenHold time.Duration

	// IdleTokenHold is the longer hold the representative uses once the
	// ring has been idle for IdleHoldAfter holds in a row (about 0.25 s
	// with the default hold): an idle ring then rotates about once per
	// IdleTokenHold, which is what an idle node costs in CPU. Like
	// TokenHold it costs no latency (a member with something to send
	// wakes the representative), and it does not change failure
	// detection: the members' token timeout runs as before, so the hold
	// must leave room for a rotation within it. 0 (the default) keeps
	// TokenHold throughout; otherwise it must be at least TokenHold and at
	// most TokenTimeout/2.
	IdleTokenHold time.Duration

	// IdleTokenHoldMax is a still longer hold for a ring that stays idle
	// on a host that runs it on time: once IdleHoldMaxAfter holds in a row
	// of IdleTokenHold were prompt (the token came back from its rotation,
	// and the hold's timer ran, within a tenth of the margin TokenTimeout −
	// IdleTokenHoldMax), the representative holds for IdleTokenHoldMax,
	// and at the first hold that was not prompt it goes back to
	// IdleTokenHold for IdleHoldMaxAfter holds. An idle node's CPU
	// follows the rotations, and a late timer or a slow rotation says the
	// host may be about to stall one of the members longer than the
	// smaller margin. Like IdleTokenHold it costs neither latency nor
	// failure detection (the members' token timeouts run from the token's
	// last visit). 0 (the default) keeps IdleTokenHold; otherwise it must
	// be at least IdleTokenHold (which must be set) and at most
	// TokenTimeout/2.
	IdleTokenHoldMax time.Duration

	// BusyRotation is the shortest rotation the representative lets a
	// lightly loaded ring make. When the token comes back to it sooner,
	// carrying at least two messages per member (a fragmented message
	// counts once, however many packets it fills) in at least as many
	// packets, and less than half the window (a ring that carries
	// messages but is far from full), the representative keeps it,
	// unprocessed, until BusyRotation has passed since it passed the
	// token on, so that every member's next visit finds more messages
	// waiting: fewer token passes, wake-ups and deliveries per message, at
	// the cost of up to BusyRotation of waiting for a message submitted
	// meanwhile. A ring at low rates
	// (fewer messages a rotation) or near its capacity (rotations longer
	// than this anyway) is not held. 0 (the default) never holds a busy
	// token; otherwise it must be below TokenRetransmit/2.
	BusyRotation time.Duration

	// IdleLinger is how long the members other than the representative
	// must have sent nothing before the representative holds the idle
	// token (TokenHold, IdleTokenHold): until then the token keeps
	// rotating, so that a message submitted at a member waits at most a
	// rotation for it, instead of for a wake to reach the representative
	// and the token to come round from it (one hop more, and one per
	// member between the representative and the sender). A ring at a
	// light, steady load from its members (messages a few rotations apart)
	// then rotates without a hold, each rotation waking every member; an
	// idle ring holds as before once this has passed since a member's last
	// message, and so does one where only the representative sends (its
	// own messages take the held token at once). 0 (the default) holds at
	// the first idle visit; otherwise it must not be negative.
	IdleLinger time.Duration

	// JoinTimeout is the interval between join messages while gathering.
	// Default 50 ms.
	JoinTimeout time.Duration

	// ConsensusTimeout is how long a gathering node waits for every node in
	// its proc set to agree before it declares the silent ones failed.
	// Default 1.2 × TokenTimeout.
	ConsensusTimeout time.Duration

	// MergeTimeout is the interval at which the representative multicasts a
	// merge-detect message so that partitions that healed find each other.
	// Default 200 ms.
	MergeTimeout time.Duration

	// WindowPackets is the flow-control window: the most packets (new and
	// retransmitted) the whole ring may send in one token rotation.
	// Default 200.
	WindowPackets int

	// MaxPacketsPerVisit is the most packets one node may send while it
	// holds the token once. Default half of WindowPackets (at least 1):
	// 100 with the LAN preset, 50 with the cloud preset. Where several
	// members send, their shares of the window (it divides by backlog)
	// bound their visits before this does; it bounds the visit of a
	// lone sender, whose every packet pays its share of the token's
	// passes and wake-ups at every member: 50 a visit instead of 100
	// cost a lone sender through the client API a sixth of its msgs/s on
	// a 2-core host (docs/BENCHMARKS.md, "One sender's visits").
	MaxPacketsPerVisit int

	// ClassVisitPackets bounds, per send class (Node.SubmitClass; the
	// index is the class), the packets carrying that class's messages
	// that one visit of this node's may send, in the window's unit (a
	// packet, or MaxPacketBytes bytes with ByteWindow); 0, or a class
	// beyond the slice, is bounded by the window alone. A node sends a
	// tighter class's messages before a looser one's at every visit, so
	// a bound on the looser classes (bulk) bounds how long the token
	// spends at a node on them while a tighter message waits at a node
	// further on, whatever the bulk's backlog: about ring size × the
	// bound packets per rotation. Bulk then moves at most the bound per
	// visit, which on a LAN is many times a WAN link's rate. A packet
	// goes while its classes' budgets are not used up, so a visit may
	// exceed one by less than a packet. Each node sets its own; package
	// qos derives them from the topology file's classes. Default none.
	ClassVisitPackets []int

	// RingBoundClasses are send classes (Node.SubmitClass) whose messages
	// belong to the ring that was installed when they were queued: when a
	// node installs a new regular configuration it drops those of them
	// still queued, unsent (Stats.DroppedAtInstall), instead of sending
	// them first in the new ring. For an application that tags its
	// messages with their ring and ignores them in another one (the
	// federation ring's Ups and Acks: gateway/bridge.FedClass), a copy
	// carried over costs bandwidth, and, Safe, holds up every message
	// ordered after it by two rotations. The node sends no event for a
	// dropped message: the application knows it was not sent, as it
	// never saw its EventSend. Default none.
	RingBoundClasses []int

	// AdaptWindow makes each node's flow-control window delay-based, for
	// rings whose window is sized from a declared bandwidth that the path
	// may not carry (a federation ring over WAN paths; DefaultWAN sets
	// it, the LAN and cloud presets do not). The node halves the window
	// it uses (at most WindowPackets, and MaxPacketsPerVisit with it)
	// when a token rotation during which the ring had messages waiting
	// took more than three times its base rotation, and adds
	// WindowPackets/16 (at least 1) back after each rotation shorter than
	// twice it; the base is the fastest rotation of the ring, kept
	// between TokenTimeout/42 and TokenTimeout/6. A ring of one keeps
	// its window. See adaptWindow in token.go.
	AdaptWindow bool

	// TokenCopies is how many copies of the regular token a node sends
	// to its successor each time it passes (or retransmits) it; the
	// successor takes the first that arrives and drops the others as
	// duplicates (Stats.DuplicateTokens). A lost token stops the whole
	// ring until its sender retransmits it, TokenRetransmit later (two
	// planned rotations: 600 ms for three sites 200 ms apart), so on a
	// path that loses a fraction p of its packets a token hop costs
	// p × TokenRetransmit on average, and one message in a few dozen
	// waits for it at 1 % loss; with two copies a hop is lost only when
	// both are (p², when losses are independent), for one more small
	// packet per hop. Copies leave back to back: a burst that drops both
	// costs the retransmission as before. Default 1, in every preset:
	// with 2 in DefaultWAN, gateway/hiersim's TestTakeoverTimeline (seed
	// 14: a site delivering again 3.6 s after a gateway crash, above its
	// bound of twice the token timeout, 3.45 s) and a seed of its local
	// cut (20) failed, on top of localring's install at recovery's start
	// (a7a4e09); not yet understood. At most MaxTokenCopies.
	TokenCopies int

	// RequestGaps has a node ask at once for a packet missing between
	// two packets it holds from the same member's last visit: a visit's
	// packets have consecutive sequence numbers and leave their sender in
	// order, so such a gap is a loss (or a reordering on the path), not
	// a packet still on its way. Without it a node asks only for packets
	// sent before its previous visit (the token may overtake the
	// packets of the visits just before), which on a long path with
	// random loss costs a lost packet, and every delivery after it, a
	// rotation. DefaultWAN sets it. See requestGaps in token.go.
	RequestGaps bool

	// NackDelay, when positive, has a member ask a packet's sender
	// directly for a packet it misses, without waiting for the token
	// (a nack packet; the sender answers with the packet, to that member
	// alone). Whenever a member learns that packets up to some sequence
	// number were sent (a packet with a higher number arrives, it sends
	// one itself, or the token shows a higher seq) it notes the numbers
	// it has not received up to there, and NackDelay later asks for those
	// still missing, unless more than MaxNackRun of them are (then they
	// are more likely queued on a slow path than lost, and the token's
	// requests fetch them as before). On paths that keep each sender's
	// packets in order and whose delays obey the triangle inequality (a
	// WAN mesh) a packet missing below one that arrived is lost, and a
	// packet missing below the token's seq is lost or about to arrive
	// (a transport that sends the token ahead of its visit's packets,
	// federation/transport's ModeUDP, needs NackDelay to cover their
	// sending time): a loss then costs about one round trip to its sender
	// instead of one to two token rotations. Likewise for the token: a
	// member that got packets of its predecessor's visit after its own
	// last pass, and no token NackDelay after the last of them, tells the
	// predecessor (a token nack), which sends the token again at once
	// rather than at TokenRetransmit. A token lost after a visit that sent
	// nothing shows its successor no sign, so the passer times its passes
	// (from sending the token to the first sign that the successor has
	// it: a packet numbered after it, the idle notice, the token come
	// around) and sends the token again when one goes unshown for the
	// smoothed pass time plus four mean deviations, at least NackDelay
	// more, and at most TokenRetransmit (Stats.EarlyTokenRetransmits): at
	// 10 ms RTT such a loss costs about a rotation instead of the 48 ms
	// floor of TokenRetransmit. It adds no sending beyond the window but
	// the nacks and their answers, at most one nack per packet and member,
	// one token nack per visit and one early copy of the token per pass.
	// DefaultWAN sets 5 ms; 0 (every other preset) sends no nacks and
	// keeps TokenRetransmit: on a LAN the tokens, read by another socket,
	// often overtake the multicasts. See nack.go.
	NackDelay time.Duration

	// ByteWindow makes the flow-control window count bytes instead of
	// packets: the ring may send WindowPackets × MaxPacketBytes bytes of
	// packets per rotation, and a node MaxPacketsPerVisit × MaxPacketBytes
	// per visit (and SetSendLimit's packets × MaxPacketBytes), each packet
	// counted at its own size. A window sized from a bandwidth-delay
	// product in full packets (WindowForBDP) then holds that many bytes
	// also when packets are smaller: a 1,245-byte sealed datagram
	// (federation transport's ModeUDP) carries one 1000-byte message in
	// a packet of 1,040 to 1,120 bytes (the rest is too little for a
	// fragment of the next), which the packet count took for a full one.
	// A packet goes while its sender's budget is not used up, so a visit
	// may exceed it by less than one packet, as with packets, where that
	// rule sends exactly the budget.
	// Every member of a ring must count alike (the token's flow-control
	// count is in the window's unit). federation.FitPacket sets it for a
	// federation ring over a transport of smaller packets; no preset does
	// (over QUIC streams' 16 KiB packets, counting packets carried more at
	// 10 ms RTT: see federation/transport's doc).
	ByteWindow bool

	// MaxPacketBytes is the largest packet the core produces, header
	// included; the transport derives it from the path MTU (UDP, QUIC
	// datagrams) or its frame size (QUIC streams). Small messages are packed
	// into one packet up to this size and larger ones are fragmented.
	// Default 1400 bytes; 512 to MaxPacketLimit (256 KiB).
	MaxPacketBytes int

	// MaxMessageBytes is the largest message Submit accepts. Default 1 MiB
	// (MaxMessageBytes); at most MaxMessageBytes + MaxEnvelopeBytes, for a
	// ring that carries other rings' messages in an envelope.
	MaxMessageBytes int

	// MaxPendingMessages bounds the queue of submitted messages not yet
	// sent; Submit returns ErrBackpressure beyond it. Default 10,000.
	MaxPendingMessages int

	// MaxRetransmitRequests bounds the retransmission request list on the
	// token. Default 128.
	MaxRetransmitRequests int

	// StartSeq is for tests only: every ring the node forms or joins
	// numbers its packets from StartSeq+1 instead of 1, so that a test can
	// run a ring just below a boundary of the packet sequence number
	// (EVS.md: "sequence numbers near wrap-around"). Every node of a ring
	// must use the same value. Default 0; at most 2^63.
	StartSeq uint64

	// FailRecvRotations is how many token rotations of a stalled ring (see
	// StallHold) a packet may stay missing at some members while others
	// hold it before the ring takes the members at fault out (Corosync's
	// fail_recv_const, whose 2,500 rotations last a fraction of a second
	// to minutes depending on load). The side that is the smaller one
	// goes: the members that hold the packet when they are fewer (their
	// multicasts do not arrive), else the members that miss it (they do
	// not receive). A stalled ring's rotations last StallHold at least, so
	// the bound is one of time too: with the defaults a member is taken
	// out after 50 × 10 ms plus the 10 ms it takes to stall, about 0.5 s,
	// however fast the token went around before. Default 50; at least 8.
	FailRecvRotations int

	// StallHold is how long the representative keeps the token at each
	// rotation while the ring is stalled: the lowest missing packet has not
	// arrived for 4 rotations and StallHold. Meanwhile no member sends new
	// packets and each retransmits at most 4 per visit, so a stalled ring
	// costs at most 4 retransmissions per member per StallHold (400/s with
	// the default) instead of a core. Default 10 ms; below TokenRetransmit.
	StallHold time.Duration

	// EvictQuarantine is how long the ring ignores the joins and
	// merge-detect messages of a member it took out for failing to receive
	// (or to be received), so that a node whose fault persists does not
	// disturb the ring again and again. It doubles each time the same
	// member is taken out again or fails to answer joins after a
	// quarantine, up to 16 times, and starts over for a member taken out
	// more than 16 × EvictQuarantine after it came back into a ring with
	// this node (TestQuarantineBackoff); a member that healed rejoins at
	// the next merge-detect after the quarantine, so a fault that ends
	// keeps it out for at most 16 × EvictQuarantine. Default 1 s.
	EvictQuarantine time.Duration

	// Rand is the source of randomness (jitter of join timers). Inject a
	// seeded source for deterministic runs. Default: a ChaCha8 source
	// seeded from the node id and incarnation.
	Rand rand.Source
}

// DefaultLAN returns the preset for a site with UDP multicast on a LAN:
// a 200 ms token timeout, so a crashed node is excluded in well under half a
// second.
func DefaultLAN(id NodeID) Config {
	c := Config{ID: id, Incarnation: 1}
	c.setDefaults()
	return c
}

// DefaultCloud returns the preset for UDP unicast to a static peer list in
// clouds and container networks, whose latency jitters more than a LAN's:
// a 1 s token timeout, longer join and merge intervals, and a smaller
// window because every multicast is sent once per peer.
func DefaultCloud(id NodeID) Config {
	c := Config{
		ID:            id,
		Incarnation:   1,
		TokenTimeout:  time.Second,
		TokenHold:     50 * time.Millisecond,
		JoinTimeout:   100 * time.Millisecond,
		MergeTimeout:  500 * time.Millisecond,
		WindowPackets: 100,
	}
	c.setDefaults()
	return c
}

// DefaultWAN returns the preset for a federation ring: one member per site
// (spoken for by the site's active gateway), over QUIC between sites 10 to
// 300 ms apart. Its timers are what topology.DeriveTimeouts gives a ring of
// three sites with a 600 ms rotation and a 300 ms largest RTT (token
// timeout 5.04 s, retransmit 1.2 s, consensus 6.05 s, join 600 ms, merge
// 2.4 s); its packets are QUIC stream frames of WANPacketBytes (a transport
// that carries less, such as QUIC datagrams, caps MaxPacketBytes); its
// window is the bandwidth-delay product of a 100 Mbit/s link over that
// rotation (WindowForBDP), adapted to the rotations the ring sees
// (AdaptWindow); it asks at once for packets lost within a visit
// (RequestGaps); and its largest message is a maximum-size local message inside a
// federation envelope of up to MaxEnvelopeBytes. Use
// WithTimings and WindowForBDP to fit a ring the planner derived.
func DefaultWAN(id NodeID) Config {
	c := Config{ID: id, Incarnation: 1, TokenHold: 50 * time.Millisecond, MaxPacketBytes: WANPacketBytes, MaxMessageBytes: MaxMessageBytes + MaxEnvelopeBytes}
	c = c.WithTimings(Timings{
		Token: 5040 * time.Millisecond, Retransmit: 1200 * time.Millisecond,
		Consensus: 6048 * time.Millisecond, Join: 600 * time.Millisecond,
	})
	c.WindowPackets = WindowForBDP(100_000_000, 600*time.Millisecond, WANPacketBytes)
	c.MaxPacketsPerVisit = c.WindowPackets
	c.AdaptWindow = true
	c.RequestGaps = true
	c.NackDelay = DefaultNackDelay
	c.setDefaults()
	return c
}

// Timings are the timers of one ring as the planner derives them from the
// ring's predicted rotation time and RTTs (topology.DeriveTimeouts; the
// plan's Domain.Timeouts). Zero fields keep the value they replace.
type Timings struct {
	Token      time.Duration // Config.TokenTimeout
	Retransmit time.Duration // Config.TokenRetransmit
	Consensus  time.Duration // Config.ConsensusTimeout
	Join       time.Duration // Config.JoinTimeout
	// Merge is Config.MergeTimeout. Zero derives it as MergeJoins × Join:
	// a healed partition is found within a few join intervals, and on a
	// WAN the representative's merge-detect multicast (one copy per peer)
	// stays rare.
	Merge time.Duration
}

// MergeJoins is the merge-detect interval in join intervals when Timings
// leave Merge zero (the LAN preset's 200 ms is 4 × its 50 ms join).
const MergeJoins = 4

// WithTimings returns c with the timers of t. TokenHold, StallHold and
// NackDelay are lowered to half the retransmit interval when they would not fit below it
// (Validate).
func (c Config) WithTimings(t Timings) Config {
	set := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	set(&c.TokenTimeout, t.Token)
	set(&c.TokenRetransmit, t.Retransmit)
	set(&c.ConsensusTimeout, t.Consensus)
	set(&c.JoinTimeout, t.Join)
	if t.Merge == 0 && t.Join > 0 {
		t.Merge = MergeJoins * t.Join
	}
	set(&c.MergeTimeout, t.Merge)
	if c.TokenRetransmit > 0 && c.TokenHold >= c.TokenRetransmit {
		c.TokenHold = c.TokenRetransmit / 2
	}
	if c.TokenRetransmit > 0 && c.StallHold >= c.TokenRetransmit {
		c.StallHold = c.TokenRetransmit / 2
	}
	if c.TokenRetransmit > 0 && c.NackDelay >= c.TokenRetransmit {
		c.NackDelay = c.TokenRetransmit / 2
	}
	return c
}

// WindowForBDP sizes a flow-control window (Config.WindowPackets) to the
// bandwidth-delay product of a ring: the packets of packetBytes that a link
// of bitsPerSecond carries in one token rotation, so that one sender can
// keep the ring's slowest link busy. The result is at least MinWANWindow
// and at most MaxWindowBytes/packetBytes (the ring keeps a window of packets
// until every member holds them, so the window is also memory). A
// bitsPerSecond of 0 means unknown and gives the LAN default of 200.
func WindowForBDP(bitsPerSecond int64, rotation time.Duration, packetBytes int) int {
	if bitsPerSecond <= 0 || rotation <= 0 || packetBytes <= 0 {
		return 200
	}
	bytes := float64(bitsPerSecond) / 8 * rotation.Seconds()
	w := int(bytes/float64(packetBytes)) + 1
	return max(MinWANWindow, min(w, MaxWindowBytes/packetBytes))
}

// Limits and sizes of the WAN preset.
const (
	// WANPacketBytes is the federation ring's packet size: one frame on a
	// QUIC stream, far above the LAN MTU, so that a WAN rotation carries a
	// window's worth of data in few packets.
	WANPacketBytes = 16 << 10
	// MaxPacketLimit is the largest MaxPacketBytes Validate accepts. The
	// core allocates one buffer of MaxPacketBytes per packet it sends.
	MaxPacketLimit = 256 << 10
	// MaxEnvelopeBytes is the room above MaxMessageBytes that a ring may
	// allow for one envelope around a maximum-size message of another ring
	// (the federation ring carries local messages in the envelope of
	// package federation, whose EnvelopeOverhead must fit).
	MaxEnvelopeBytes = 1 << 10
	// MinWANWindow is WindowForBDP's floor.
	MinWANWindow = 16
	// MaxWindowBytes is WindowForBDP's cap on the bytes of one window.
	MaxWindowBytes = 64 << 20
	// maxByteWindow bounds a window that counts bytes (Config.ByteWindow),
	// so that the token's 32-bit flow-control count holds a rotation's
	// bytes with room to spare.
	maxByteWindow = 1 << 30
)

func (c *Config) setDefaults() {
	if c.TokenTimeout == 0 {
		c.TokenTimeout = 200 * time.Millisecond
	}
	if c.TokenRetransmit == 0 {
		c.TokenRetransmit = c.TokenTimeout * 10 / 42
	}
	if c.TokenHold == 0 {
		c.TokenHold = min(20*time.Millisecond, c.TokenRetransmit/2)
	}
	if c.JoinTimeout == 0 {
		c.JoinTimeout = 50 * time.Millisecond
	}
	if c.ConsensusTimeout == 0 {
		c.ConsensusTimeout = c.TokenTimeout * 12 / 10
	}
	if c.MergeTimeout == 0 {
		c.MergeTimeout = 200 * time.Millisecond
	}
	if c.WindowPackets == 0 {
		c.WindowPackets = 200
	}
	if c.MaxPacketsPerVisit == 0 {
		c.MaxPacketsPerVisit = max(1, c.WindowPackets/2)
	}
	if c.MaxPacketBytes == 0 {
		c.MaxPacketBytes = 1400
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = MaxMessageBytes
	}
	if c.MaxPendingMessages == 0 {
		c.MaxPendingMessages = 10000
	}
	if c.MaxRetransmitRequests == 0 {
		c.MaxRetransmitRequests = 128
	}
	if c.TokenCopies == 0 {
		c.TokenCopies = 1
	}
	if c.FailRecvRotations == 0 {
		c.FailRecvRotations = 50
	}
	if c.StallHold == 0 {
		c.StallHold = min(10*time.Millisecond, c.TokenRetransmit/2)
	}
	if c.EvictQuarantine == 0 {
		c.EvictQuarantine = time.Second
	}
	if c.Rand == nil {
		var seed [32]byte
		copy(seed[:], c.ID)
		for i := 0; i < 8; i++ {
			seed[24+i] = byte(c.Incarnation >> (8 * i))
		}
		c.Rand = rand.NewChaCha8(seed)
	}
}

// DefaultNackDelay is DefaultWAN's Config.NackDelay: the sending time of a
// few datagrams on a 10 Mbit/s path, which a token sent ahead of them
// (federation/transport's ModeUDP) leads them by.
const DefaultNackDelay = 5 * time.Millisecond

// MaxNackRun is the most packets one nack asks for from what one
// observation showed missing (Config.NackDelay): more missing at once
// are more likely still queued on their way than lost.
const MaxNackRun = 4

// MaxTokenCopies is the largest Config.TokenCopies.
const MaxTokenCopies = 4

// MaxRingSeqLanes is the largest Config.RingSeqLanes: one lane per gateway
// rank (federation incarnations keep the rank in 8 bits).
const MaxRingSeqLanes = 256

// MaxIDBytes is the longest node id of any ring and the default of
// Config.MaxIDBytes.
const MaxIDBytes = maxNodeIDLen

// idBytes is the node id bound: MaxIDBytes, or its default.
func (c *Config) idBytes() int {
	if c.MaxIDBytes == 0 {
		return MaxIDBytes
	}
	return c.MaxIDBytes
}

// MaxMessageBytes is the largest message the ring carries (1 MiB).
const MaxMessageBytes = 1 << 20

// Validate reports every setting that is out of range, with the fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("localring: config: "+format, a...)) }
	if c.MaxIDBytes < 0 || c.MaxIDBytes > MaxIDBytes {
		bad("node id bound %d must be between 1 and %d bytes (0: %d)", c.MaxIDBytes, MaxIDBytes, MaxIDBytes)
	}
	if b := min(c.idBytes(), MaxIDBytes); len(c.ID) == 0 || len(c.ID) > max(b, 1) {
		bad("node id %q must be 1 to %d bytes long (the ring's node id bound, MaxIDBytes); raise the bound on every node of the ring, or shorten the id", c.ID, max(b, 1))
	}
	if c.Incarnation == 0 {
		bad("incarnation of node %s must not be 0; persist a counter that grows on every start", c.ID)
	}
	if c.TokenTimeout < time.Millisecond {
		bad("token timeout %v is below 1ms; use at least 10× the ring's round-trip time", c.TokenTimeout)
	}
	if c.TokenRetransmit <= 0 || c.TokenRetransmit >= c.TokenTimeout {
		bad("token retransmit %v must be positive and below the token timeout %v", c.TokenRetransmit, c.TokenTimeout)
	}
	if c.TokenHold < 0 || c.TokenHold >= c.TokenRetransmit {
		bad("token hold %v must be below the token retransmit interval %v", c.TokenHold, c.TokenRetransmit)
	}
	if c.IdleTokenHold != 0 && (c.IdleTokenHold < c.TokenHold || c.IdleTokenHold > c.TokenTimeout/2) {
		bad("idle token hold %v must be 0 or between the token hold %v and half the token timeout %v", c.IdleTokenHold, c.TokenHold, c.TokenTimeout)
	}
	if c.IdleTokenHoldMax != 0 && (c.IdleTokenHold == 0 || c.IdleTokenHoldMax < c.IdleTokenHold || c.IdleTokenHoldMax > c.TokenTimeout/2) {
		bad("longest idle token hold %v must be 0 or between the idle token hold %v (set) and half the token timeout %v", c.IdleTokenHoldMax, c.IdleTokenHold, c.TokenTimeout)
	}
	if c.BusyRotation < 0 || c.BusyRotation >= c.TokenRetransmit/2 {
		bad("busy rotation %v must be 0 or below half the token retransmit interval %v", c.BusyRotation, c.TokenRetransmit)
	}
	if c.IdleLinger < 0 {
		bad("idle linger %v must not be negative", c.IdleLinger)
	}
	if c.JoinTimeout <= 0 || c.JoinTimeout >= c.ConsensusTimeout {
		bad("join timeout %v must be positive and below the consensus timeout %v", c.JoinTimeout, c.ConsensusTimeout)
	}
	if c.MergeTimeout <= 0 {
		bad("merge timeout %v must be positive", c.MergeTimeout)
	}
	if len(c.ClassVisitPackets) > MaxSendClasses {
		bad("%d send classes' visit bounds; there are %d classes", len(c.ClassVisitPackets), MaxSendClasses)
	}
	for i, v := range c.ClassVisitPackets {
		if v < 0 {
			bad("send class %d's visit bound %d must not be negative (0: the window's)", i, v)
		}
	}
	for _, cl := range c.RingBoundClasses {
		if cl < 0 || cl >= MaxSendClasses {
			bad("ring-bound send class %d: 0 to %d", cl, MaxSendClasses-1)
		}
	}
	if c.WindowPackets < 1 || c.MaxPacketsPerVisit < 1 || c.MaxPacketsPerVisit > c.WindowPackets {
		bad("flow control: need 1 ≤ max packets per visit (%d) ≤ window (%d)", c.MaxPacketsPerVisit, c.WindowPackets)
	}
	if c.ByteWindow && int64(c.WindowPackets)*int64(c.MaxPacketBytes) > maxByteWindow {
		bad("flow control: a window of %d packets of %d bytes is above %d bytes, the most a byte window counts; lower the window", c.WindowPackets, c.MaxPacketBytes, maxByteWindow)
	}
	if c.MaxPacketBytes < 512 || c.MaxPacketBytes > MaxPacketLimit {
		bad("max packet size %d must be between 512 and %d bytes; derive it from the path MTU or the transport's frame size", c.MaxPacketBytes, MaxPacketLimit)
	}
	if c.MaxMessageBytes < 1 || c.MaxMessageBytes > MaxMessageBytes+MaxEnvelopeBytes {
		bad("max message size %d must be between 1 and %d bytes (%d for a ring that carries enveloped messages of other rings)", c.MaxMessageBytes, MaxMessageBytes, MaxMessageBytes+MaxEnvelopeBytes)
	}
	if c.MaxPendingMessages < 1 {
		bad("max pending messages %d must be at least 1", c.MaxPendingMessages)
	}
	if c.MaxRetransmitRequests < 1 || c.MaxRetransmitRequests > maxRTR {
		bad("max retransmit requests %d must be between 1 and %d", c.MaxRetransmitRequests, maxRTR)
	}
	if c.TokenCopies < 0 || c.TokenCopies > MaxTokenCopies {
		bad("token copies %d must be between 1 and %d (0: 1)", c.TokenCopies, MaxTokenCopies)
	}
	if c.NackDelay < 0 || (c.NackDelay > 0 && c.NackDelay >= c.TokenRetransmit) {
		bad("nack delay %v must be 0 (no nacks) or positive and below the token retransmit interval %v", c.NackDelay, c.TokenRetransmit)
	}
	if c.StartSeq > 1<<63 {
		bad("start seq %d is above 2^63; it is for tests only, leave it 0", c.StartSeq)
	}
	if c.FailRecvRotations < 2*stallRotations {
		bad("fail-to-receive rotations %d must be at least %d", c.FailRecvRotations, 2*stallRotations)
	}
	if c.StallHold <= 0 || c.StallHold >= c.TokenRetransmit {
		bad("stall hold %v must be positive and below the token retransmit interval %v", c.StallHold, c.TokenRetransmit)
	}
	if c.RingSeqLanes < 0 || c.RingSeqLanes > MaxRingSeqLanes || c.RingSeqLane < 0 || c.RingSeqLane >= max(c.RingSeqLanes, 1) {
		bad("ring sequence lane %d of %d lanes: need 0 ≤ lane < lanes ≤ %d (one lane per process of the member id, e.g. per gateway of a site)", c.RingSeqLane, c.RingSeqLanes, MaxRingSeqLanes)
	}
	if c.EvictQuarantine <= 0 {
		bad("eviction quarantine %v must be positive", c.EvictQuarantine)
	}
	return errors.Join(errs...)
}
