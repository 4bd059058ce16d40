package bridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/atoll-gcs/atoll/localring"
)

// ErrMalformed is wrapped by every decoding error: a local or federation
// ring message that is not a bridge message this version understands.
var ErrMalformed = errors.New("bridge: malformed message")

// Message kinds, the first byte of every bridge message. Local ring
// messages are Up, Down, Have, Again, Held, Apart, Seen, Relay and Terms; federation ring messages
// are FedUp, Sync, CatchUp and Ack. A local ring message's kind is followed by its
// domain's tag (DomainTag, 4 bytes big-endian): a site in several
// federation domains carries all their bridges' messages on its one local
// ring, and each bridge takes only its own.
const (
	kindUp byte = 0xB1 + iota
	kindDown
	kindFedUp
	kindSync
	kindCatchUp
	kindHave
	kindAgain
	kindHeld
	kindAck
	kindApart
	kindSeen
	kindRelay
	kindTerms
)

// EntryKind tells a message of the domain from a configuration change.
type EntryKind uint8

const (
	// EntryMessage is a message a site sent up, in the domain's order.
	EntryMessage EntryKind = 1 + iota
	// EntryConfig is a change of the domain's configuration (the sites
	// connected through the federation ring).
	EntryConfig
	// EntrySend tells the sender's node, just before the delivery of one
	// of its messages, that the message counts as sent in configuration
	// Conf, in EVS terms: the domain's configuration is the one in which
	// the federation ordered it (an Up waits at its site, and goes up again
	// after a failover, until it is ordered). It has no position and
	// appears only in its sender's stream.
	EntrySend
	// EntrySafe is the domain's mark that every site of its federation
	// configuration holds every entry up to Through: a Safe message at or
	// before Through, held since it was applied, is delivered (see the
	// package comment, "Safe delivery across sites"). It is numbered like
	// a message, travels down and sits in the log like one, and is not in
	// the stream.
	EntrySafe
)

// Origin names a message of the domain forever: the site that sent it up
// and the id its sender's local ring gave it (node, incarnation, seq).
// Seq grows along each (Site, Sender, Inc), which is what deduplication
// relies on.
type Origin struct {
	Site string
	ID   localring.MessageID
}

func (o Origin) String() string { return o.Site + ":" + o.ID.String() }

// DomainConf is a configuration of the domain: the sites whose gateways
// are members of one federation ring configuration.
type DomainConf struct {
	// ID is the federation configuration's id (localring.Configuration.ID);
	// the transitional configuration a site installs alone after it lost
	// the federation (see the package comment) is
	// "site:<SITE>:t:<next ring>/<old ring>".
	ID    string
	Kind  localring.ConfKind
	Sites []string // sorted
	// Continues, on a regular configuration, is the id of the regular
	// configuration before it that it continues: the same sites, every
	// one of them with the same stream, without a gap, through the change
	// (a gateway failover whose new gateway caught up; see the package
	// comment, "Failover without a configuration change"). A node whose
	// last regular configuration is that one stays in it: the change is
	// not one of the domain's configuration for its application.
	Continues string
	// Beside, on a transitional configuration of the federation that
	// its Sync phase put in a site's log (catch-ups carry it), names the
	// other sites of the ring that settled next that came out of the
	// same regular configuration of the federation through another
	// transitional configuration (a component's of a split federation,
	// or their own, for their Ups in doubt: Site.ownTrans): each left the
	// regular configuration there, and delivered what it had of this
	// one's messages in a transitional configuration. A part of such a
	// site that catches up over this one later leaves its regular
	// configuration here too, and delivers these messages in a
	// transitional configuration of its own, not in the regular one
	// (Site.caughtUp, TestAloneTransMessages). Sorted; an entry carries
	// it only when set.
	Beside []string
	// Doubt, on a regular configuration that continues none, names the
	// sites of the ring that went into it from its base with Ups in
	// doubt, each with the digest and the number of its Ups in doubt (its
	// Sync's syncMsg.doubtID): a new gateway term that left the
	// configuration before alone right before this one, delivering them
	// in its own transitional configuration (Site.leave). Another part of
	// such a site that catches up over this one later follows it there
	// with the same Ups in doubt (Site.followDoubt). It also names, with
	// Refused and the Ups themselves, a site whose catch-up answer was
	// refused in the ring because it asked from a configuration the log
	// does not hold (another history of its own), with Ups in doubt: it
	// left that configuration alone right before this one, delivering
	// them there. A member adds it to its log's entry at the refusal
	// (Site.noteRefusedDoubt): the Down of the configuration went before.
	// Another part of such a site that catches up over this one later
	// was never in that configuration, and neither delivers nor submits
	// them (Site.dropRefusedDoubt). In site order but for those, added
	// after; an entry carries it only when set.
	Doubt []DoubtSite
	// Gone, on a transitional configuration of the site alone that its
	// gateway injects as the site leaves its configuration on a refused
	// catch-up, names Ups of the site that were in doubt and that the
	// answerer's log holds ordered in another configuration than the one
	// the site leaves (catchUp.done, Site.doneElsewhere): every node of
	// the site takes them for done, delivers them nowhere and never sends
	// them up again (Site.dropGone). In the gateway's pending order; an
	// entry carries it only when set (goneFlag).
	Gone []Origin
	// Part, when set, says that the configuration is one of this node's
	// part of its site, a local ring configuration with no gateway of the
	// domain (Site.NoGateway), and names its members (sorted): on a
	// regular configuration, the nodes of that local configuration, cut
	// off from the domain; on the transitional one before it, this node
	// alone (each node of the part delivers its own Ups there). Its Sites
	// are the site alone. It is in no log and on no wire: only the stream
	// of the part's nodes has it.
	Part []string
}

// DoubtSite is a site that went into a regular configuration in doubt
// (DomainConf.Doubt).
type DoubtSite struct {
	Site string
	ID   string // the digest of its Ups in doubt (Site.doubtID)
	N    int    // how many
	// Refused: the site's catch-up was refused in the ring, and it left a
	// configuration of its own alone with Ups, its Ups in doubt, which
	// are named (N of them). On the wire, ID begins with "!" instead of
	// "~", and the Ups follow N.
	Refused bool
	Ups     []Origin
}

// Entry is one item of the domain's ordered stream: what a Down carries,
// what a site's log holds and what Ready hands to the domain's groups.Node.
type Entry struct {
	Pos     localring.DomainOrder
	Kind    EntryKind
	Origin  Origin // EntryMessage
	Svc     localring.Service
	Payload []byte     // EntryMessage
	Conf    DomainConf // EntryConfig
	// Through is the last position an EntrySafe covers.
	Through localring.DomainOrder
	// FedTrans marks an EntryMessage that the other sites delivered in
	// the federation's transitional configuration, right after a regular
	// configuration with this site, and that this site delivers in that
	// regular one, with no transitional entry before it: its gateway
	// caught up from another site (see the package comment). The domain's
	// view (gateway/domconf) treats it as it treats the messages after a
	// transitional entry: an announcement among them waits for the next
	// round. A Down carries it (a byte after the entry, sent only when
	// set); a catch-up answer does not: the asking site marks what it
	// injects itself.
	FedTrans bool
	// Elided marks an EntryMessage whose Payload is the stub
	// Config.Elide made of it: the site has no use for the message. A
	// Down carries it in the byte after the entry (2, or 3 with
	// FedTrans); no catch-up answer carries one.
	Elided bool
	// InDoubt marks an EntryMessage of this site that its new gateway
	// term delivers in the site's transitional configuration without a
	// domain position: an Up its predecessor's federation member may
	// have got ordered, at places the site cannot learn, when the site
	// leaves its configuration alone before it learned which (see the
	// package comment, "Catch-up, and the bound"). Pos is then its place
	// in the site's stream only, between the transitional configuration
	// and the next entry (its Seq, with a ring after the configuration's),
	// and no trace writes an order for it. A Down carries it in the byte
	// after the entry (4, never with the other marks); no catch-up answer
	// carries one: a log with one in the range refuses (Stats.InDoubtRefused).
	InDoubt bool
	// HeldBehind marks a regular EntryConfig that continues the domain's
	// configuration (DomainConf.Continues) which this node's bridge held
	// behind a Safe message of the ring before, no mark of it yet
	// (Site.continued): a mark of the new ring lets it out, and one site
	// may number that mark in the federation's regular configuration and
	// another only in its transitional one, so the entry comes before the
	// transitional entry at the first and after it at the second. Every
	// site that applies the entry holds it alike (it applied the same
	// marks before it). On a transitional EntryConfig it says that such
	// an entry comes among the messages after it (flushTrans): a node of
	// gateway/domconf that leaves its regular configuration there holds
	// back the sends it would tell there until it knows whether the entry
	// opens a round (domconf, "The federation's transitional
	// configuration"). No Down or catch-up answer carries it: every node
	// marks what it holds itself.
	HeldBehind bool
	// Gone marks an EntrySend of an Up of this node that its site
	// dropped as done elsewhere (Site.doneElsewhere, Site.dropGone): it
	// will not come down here, and its group layer, told nothing, would
	// hold it as on its way, hand it again after its next send told, or,
	// the last it handed before a merge, hand nothing more
	// (TestGoneOwnUpElsewhere). Elsewhere says that the configuration the
	// domain ordered it in continues one this node's stream went through
	// and left: the others went on in it, their views delivered it there,
	// and this node, gone into another configuration, counts as failed in
	// it (EVS.md 2.4): it is not sent again, which would be a second copy
	// wherever the first was delivered. Without Elsewhere, a configuration
	// this node was never in ordered it, after one without this node's
	// part of the site (hiersim's gateway pause with a persistent victim,
	// seeds 11, 13 and 43, where every view discarded it, its sender out
	// of the domain's membership): it is told unsent, and sent again, as a
	// message whose sender left (domconf TestSenderLeft). Conf is empty.
	// No Down or answer carries it.
	Gone, Elsewhere bool
}

// continuesFlag marks, in a configuration entry's kind byte, that the
// entry names the configuration it continues (DomainConf.Continues).
const continuesFlag = 0x80

// besideFlag marks, in a configuration entry's kind byte, that the entry
// names the sites beside it (DomainConf.Beside), after Continues.
const besideFlag = 0x40

// doubtFlag marks, in a configuration entry's kind byte, that the entry
// names the sites that went into it in doubt (DomainConf.Doubt), after
// Beside.
const doubtFlag = 0x20

// goneFlag marks, in a configuration entry's kind byte, that the entry
// names Ups of its site done elsewhere (DomainConf.Gone), after Doubt.
const goneFlag = 0x10

// tagLen is the length of a domain tag in a local ring message.
const tagLen = 4

// DomainTag is the tag of federation domain's bridge messages on the
// local ring: the 32-bit FNV-1a hash of the domain's name (the plan's
// "fed/CLASS:SITE+SITE+..."), the same at every node that has the plan.
// The domains of one site must have distinct tags (a driver checks it
// with DistinctTags); two domains of different sites never share a local
// ring.
func DomainTag(domain string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(domain))
	return h.Sum32()
}

// DistinctTags returns an error naming two of domains whose tags
// (DomainTag) are equal: their bridges could not tell their messages on
// one local ring apart.
func DistinctTags(domains []string) error {
	seen := map[uint32]string{}
	for _, d := range domains {
		t := DomainTag(d)
		if o, ok := seen[t]; ok && o != d {
			return fmt.Errorf("bridge: federation domains %s and %s have the same tag %#08x on the local ring: rename a class of the topology file so that their names differ otherwise", o, d, t)
		}
		seen[t] = d
	}
	return nil
}

// localHeader returns the start of a local ring message of kind.
func localHeader(kind byte, tag uint32, room int) []byte {
	b := make([]byte, 0, 1+tagLen+room)
	b = append(b, kind)
	return binary.BigEndian.AppendUint32(b, tag)
}

// EncodeUp returns the local ring message that sends payload up to the
// domain: submit it on the local ring (any service; the bridge forwards
// it with svc). Its origin id is the id the local ring gives it.
func (s *Site) EncodeUp(svc localring.Service, payload []byte) []byte {
	return encodeUp(s.tag, svc, payload)
}

func encodeUp(tag uint32, svc localring.Service, payload []byte) []byte {
	b := append(localHeader(kindUp, tag, 1+len(payload)), byte(svc))
	return append(b, payload...)
}

type up struct {
	svc     localring.Service
	payload []byte
}

// down is a Down: an entry of the domain's stream and the position of the
// entry before it in the stream (zero for the first), so that a node
// applies the stream without holes.
type down struct {
	prev  localring.DomainOrder
	entry Entry
	// restart marks a regular configuration that the active gateway
	// injects once more for a member of its local ring whose position,
	// prev, is in another history than its own (see the package comment,
	// "Members of another history"): the member installs a
	// transitional configuration of its site alone, then this one, and
	// goes on with the site's stream. A Down carries it as the mark 8 in
	// the byte after the entry, on a regular configuration only.
	restart bool
}

// have opens a regular configuration of the local ring at every node: the
// last position the node applied, the configuration that position is in,
// and whether it is the active gateway.
type have struct {
	ring  uint64 // the local ring's RingID.Seq
	epoch uint64 // the handover epoch in it (Site.Handover); sent only when not 0
	last  localring.DomainOrder
	// conf is the id of the configuration entry (regular or transitional)
	// last is in, "" when nothing is applied: two parts of a site whose
	// local ring split may have numbered the same positions in federation
	// rings of their own, and a member of the site must not take the
	// one's history for the other's (Site.holds).
	conf   string
	active bool
	// marked is how far the marks (EntrySafe) its sender applied since
	// its last regular configuration that continues none let out (the
	// highest Through), zero when none did or when last is a position it
	// injected and has not applied yet: two parts of a site may hold the
	// same positions in the same configuration and yet have let out
	// different messages held behind Safe ones (Site.marksApart). Sent
	// after the epoch (then sent as 0 too), only when not zero.
	marked localring.DomainOrder
}

// apart tells the site that its sender, the member of the Have phase of
// the local ring's configuration ring (and epoch) that holds the highest
// position, at last in configuration conf, does not hold the active
// gateway's position in its log: its history is another one than the
// active gateway's, and every member at that position leaves the phase
// (Site.apart).
type apart struct {
	ring  uint64
	epoch uint64 // sent only when not 0
	last  localring.DomainOrder
	conf  string
}

// seenMsg tells the site where the nodes of its local ring first
// delivered its sender's pending Ups, as far as the sender knows (Site's
// pendingUp.firsts), and which member it last knew as the site's active
// gateway: a new gateway term delivers the Ups it holds in doubt in its
// predecessor's order (Site.inDoubt). A sender sends one after its
// Agains, before its Have, at every regular configuration.
type seenMsg struct {
	gw   string // the last member whose Have said it was the active gateway, "" if none
	gwAt termAt // where: that Have's ring and handover epoch
	ups  []seenUp
}

// seenUp is one of a seenMsg's Ups: its sender is the message's.
type seenUp struct {
	inc, seq uint64
	firsts   []first
}

// relayMsg tells the site where gateways of the site first delivered
// pending Ups of other senders than the message's, as far as its sender
// knows (pendingUp.firsts; only the places of the gateways it knows were
// named: see Site.relay). A node sends one after its Seen, before its
// Have, at every regular configuration: a new gateway term may not have
// the sender's Seen (the sender is away), nor have been where its
// predecessor had the Up. A bridge older than it takes it for no bridge
// message of its own and ignores it (its kind is new).
type relayMsg struct {
	ups []relayUp
}

// relayUp is one of a relayMsg's Ups.
type relayUp struct {
	sender   localring.NodeID
	inc, seq uint64
	firsts   []first
}

// first is where a node of the site first delivered an Up or an Again of
// it: a place of the site's local ring. left says that the node left the
// configuration of that place (it was not in the transitional
// configuration that ended it where the delivery was seen): it may have
// left before it got the message, and had it first at a later place.
type first struct {
	node string
	at   localring.Order
	left bool
}

// better reports whether f says more surely than g where their node first
// had the Up: a node seen to deliver it in a configuration it did not
// leave had it there or before; of two places of the same kind, the
// earlier is the first (a node's rings are numbered upwards).
func (f first) better(g first) bool {
	if f.left != g.left {
		return !f.left
	}
	return f.at.Less(g.at)
}

// heldMsg tells the site that its sender applied the domain's stream up
// to last, in the local ring's regular configuration ring: a node sends
// one when it holds a Safe message back (see the package comment, "Safe
// delivery across sites").
type heldMsg struct {
	ring uint64
	last localring.DomainOrder
}

// localMsg is a decoded bridge message of the local ring: one of its
// fields is set. again is an Up its sender announces again, with its
// origin, in a new regular configuration of the local ring, for members
// that were not there when it was sent.
type localMsg struct {
	up    *up
	down  *down
	have  *have
	again *fedUp
	held  *heldMsg
	apart *apart
	seen  *seenMsg
	relay *relayMsg
	terms *termsMsg
}

// termsMsg is its sender's word on its own gateway terms (Site.terms):
// of the places where a Have of it said it was the site's active
// gateway, at or after since (its bridge's first regular configuration)
// and before upto (the start of its term if it is the active gateway,
// else the configuration it sends this in), those after sub submitted no
// Up; sub is the last of them in a term that did (zero if none did). A
// node sends one before its Have, at every regular configuration with
// Ups pending: a new gateway term takes the gateway before it for its
// predecessor, whose order the Ups in doubt take, unless that one
// submitted none (Site.predecessor), which only its own node knows for
// sure where it settled a ring in a part of the site without the new
// term's node. A bridge older than it takes it for no bridge message
// and ignores it.
type termsMsg struct {
	since, sub, upto termAt
}

// fedUp is an Up on the federation ring.
type fedUp struct {
	// ring is the federation ring (RingID.Seq) the gateway submitted it
	// in: a copy the ring carried over into a later one is not numbered
	// (the gateway submits every pending Up again in each ring, in
	// order, so that the domain delivers each origin's Ups in order).
	ring    uint64
	origin  Origin
	svc     localring.Service
	payload []byte
}

// syncMsg opens a regular federation configuration (ring): the last
// position the site holds. A Sync the federation delivers in a later ring
// (it was queued while the ring ended) counts for nothing.
type syncMsg struct {
	site  string
	ring  uint64
	last  localring.DomainOrder
	trans string // the federation's transitional configuration the site came through to this ring, if any
	// conf is the id of the configuration (regular or transitional) last
	// holds a place in: two components of a split federation may number
	// alike, and a catch-up must not take the one's history for the
	// other's.
	conf string
	// hold is set when the site still waits for the catch-up answer of an
	// earlier ring, which ended first: it holds back what it numbered
	// after hold.pos up to last, and any member that shares that history
	// may answer it (see Site.answerHold). Sent only when set, after conf;
	// a Sync without it has the layout of the bridges before it.
	hold hold
	// reg, for a site that came through the federation's transitional
	// configuration trans with messages of it, is the last place it
	// numbered in the regular configuration that trans follows: its
	// gateway's member saw messages safe there that the others got only
	// in trans, and they deliver those in the regular configuration too
	// (Site.numberedReg). Sent only when set, after hold, whose zero
	// position then stands for none.
	reg localring.DomainOrder
	// from, for a site that came through the federation's transitional
	// configuration trans, is the lowest position its log will still hold
	// when it answers the catch-ups of this ring (if it is the answerer):
	// every member knows from the Syncs alone whether a site behind will be
	// answered, and so whether the ring's regular configuration continues
	// the one before (Site.continuation). Sent only when set, after reg,
	// whose zero position then stands for none.
	from localring.DomainOrder
	// root is the domain's configuration the regular configuration the
	// Sync names (named) is in: the first of the regular configurations
	// before it that it continues through one after the other
	// (DomainConf.Continues). A site behind, whose position is in an
	// earlier one of them, goes on with the others' stream once it caught
	// up, so every member knows from the Syncs alone whether the ring's
	// regular configuration continues the domain's (Site.continuation).
	// Sent only when it is not the named configuration itself (a ring
	// continued one before it), after from, whose zero position then
	// stands for none.
	root string
	// stub is the place of the last stub in the site's log (Entry.Elided,
	// Config.Elide), or of the last Up it delivered without a domain
	// position (Entry.InDoubt), which no answer carries either: the log
	// holds every message after it in full, and none before it for sure.
	// The ring's answerer is a site whose log holds every message it
	// answers in full (Site.answerer), so that a catch-up is not refused
	// for a stub while another site could answer it. Sent only when set,
	// after root, whose empty string then stands for none: a site that
	// never applied either sends the Sync of the bridges before stubs.
	stub localring.DomainOrder
	// floor is the highest position a member of the site holds in
	// another history than its active gateway's (Site.strays), if any:
	// the ring numbers after it as after base, so that its regular
	// configuration comes after that member's position, where the member
	// restarts (down.restart), and the ring does not continue the
	// domain's configuration (Site.continuation). Sent only when set,
	// after stub, whose zero position then stands for none.
	floor localring.DomainOrder
	// blocked says that the site holds back Safe messages that a node of
	// the domain's regular configuration at the site, out of its local
	// ring, never acked (Site.blocked): a mark of this ring cannot cover
	// them, so the ring does not continue the domain's configuration
	// (Site.continuation), and they are delivered in the transitional
	// configuration. Sent only when set, after floor, whose zero position
	// then stands for none.
	blocked bool
	// doubt says that the site's gateway term is in doubt with Ups in
	// doubt (Site.doubtID). Where it came through the federation's
	// transitional configuration trans, unless the ring continues the
	// domain's configuration, the site installs a transitional
	// configuration of its own instead of trans, to deliver them there
	// (Site.ownTrans), and every member leaves it out of trans's sites.
	// A site in doubt is not one an answer follows into the ring
	// (Site.entered): it may deliver them before it. Sent only when set,
	// after blocked, which is then sent clear when it is. A bridge older
	// than Site.entered, which set it only with trans, takes it from a
	// site without trans as before: such a site is in none of trans's
	// sites.
	doubt bool
	// doubtID is the digest of the Ups in doubt (Site.doubtID), sent
	// after doubt when it is set: every member names the site with it in
	// the ring's regular configuration if the site goes into it from its
	// base (DomainConf.Doubt). A bridge older than it sends none (a Sync
	// that ends at the doubt flag), and a new one reads such a Sync as
	// one with no digest.
	doubtID string
	doubtN  int // how many Ups doubtID names, sent after it
	// doubtUps are the Ups doubtID names, sent after doubtN where there
	// are at most maxDoubtUps: where the site's catch-up is refused in
	// the ring (it asked from a configuration of its own), every member
	// names them in its log's entry of the ring's regular configuration
	// (DoubtSite.Refused; Site.noteRefusedDoubt). A bridge older than
	// them drops such a Sync as malformed (trailing bytes).
	doubtUps []Origin
}

// maxDoubtUps bounds syncMsg.doubtUps: a term with more Ups in doubt
// sends their digest alone, as before.
const maxDoubtUps = 1024

// named returns the regular configuration a Sync names: the one the
// federation's transitional configuration it came through comes from, or
// the configuration of its position (which may be a transitional one).
func (s *syncMsg) named() string {
	if s.trans != "" {
		return transFrom(s.trans)
	}
	return s.conf
}

// hold is the position a waiting site holds (the last it injected before
// the entries it holds back), the configuration it is in, and whether it
// is in a federation transitional configuration the site came through and
// holds messages of (the case of Site.lookup's held).
type hold struct {
	pos  localring.DomainOrder
	conf string
	held bool
}

// ackMsg tells the federation ring's members that every member of site's
// local ring holds the domain's stream up to through, in federation ring
// ring (see the package comment, "Safe delivery across sites").
type ackMsg struct {
	site    string
	ring    uint64
	through localring.DomainOrder
}

// catchUp answers a site whose Sync named a position below the ring's
// base: entries after that position (Gap false), or Gap when the
// answering site's log does not reach back to it.
type catchUp struct {
	to      string
	from    localring.DomainOrder
	gap     bool
	entries []Entry
	// done, on a refusal, names the Ups in doubt the asking site's Sync
	// named (syncMsg.doubtUps) that the answerer's log holds ordered
	// (Site.doneUps), each with the configuration it was sent in: sent
	// after the gap byte, only when there are some (a bridge older than
	// it drops such a refusal as malformed, trailing bytes).
	done []doneUp
}

// doneUp is an Up in doubt of the asking site that a refusal names as
// ordered (catchUp.done): its origin, and the id of the regular
// configuration the answerer's log holds it sent in, with those it
// continues, as far as that log tells them.
type doneUp struct {
	origin Origin
	confs  []string
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendPos(b []byte, p localring.DomainOrder) []byte {
	b = binary.AppendUvarint(b, p.Seq)
	return binary.AppendUvarint(b, p.Ring)
}

func appendOrigin(b []byte, o Origin) []byte {
	b = appendString(b, o.Site)
	b = appendString(b, string(o.ID.Sender))
	b = binary.AppendUvarint(b, o.ID.Inc)
	return binary.AppendUvarint(b, o.ID.Seq)
}

func appendEntry(b []byte, e *Entry) []byte {
	b = appendPos(b, e.Pos)
	b = append(b, byte(e.Kind))
	switch e.Kind {
	case EntryMessage:
		b = appendOrigin(b, e.Origin)
		b = append(b, byte(e.Svc))
		b = appendBytes(b, e.Payload)
	case EntryConfig:
		b = appendString(b, e.Conf.ID)
		// Flags in the kind byte: an entry without them has the layout
		// of the bridges before them.
		k := byte(e.Conf.Kind)
		if e.Conf.Continues != "" {
			k |= continuesFlag
		}
		if len(e.Conf.Beside) > 0 {
			k |= besideFlag
		}
		if len(e.Conf.Doubt) > 0 {
			k |= doubtFlag
		}
		if len(e.Conf.Gone) > 0 {
			k |= goneFlag
		}
		b = append(b, k)
		if e.Conf.Continues != "" {
			b = appendString(b, e.Conf.Continues)
		}
		if len(e.Conf.Beside) > 0 {
			b = binary.AppendUvarint(b, uint64(len(e.Conf.Beside)))
			for _, s := range e.Conf.Beside {
				b = appendString(b, s)
			}
		}
		if len(e.Conf.Doubt) > 0 {
			b = binary.AppendUvarint(b, uint64(len(e.Conf.Doubt)))
			for _, d := range e.Conf.Doubt {
				id := d.ID
				if d.Refused {
					id = "!" + strings.TrimPrefix(id, "~")
				}
				b = appendString(appendString(b, d.Site), id)
				b = binary.AppendUvarint(b, uint64(d.N))
				if d.Refused {
					for _, o := range d.Ups {
						b = appendOrigin(b, o)
					}
				}
			}
		}
		if len(e.Conf.Gone) > 0 {
			b = binary.AppendUvarint(b, uint64(len(e.Conf.Gone)))
			for _, o := range e.Conf.Gone {
				b = appendOrigin(b, o)
			}
		}
		b = binary.AppendUvarint(b, uint64(len(e.Conf.Sites)))
		for _, s := range e.Conf.Sites {
			b = appendString(b, s)
		}
	case EntrySafe:
		b = appendPos(b, e.Through)
	}
	return b
}

// restartMark is the mark of a Down that restarts a member of another
// history (down.restart), in the byte after the entry.
const restartMark = 8

// encodeRestart returns the Down of e, a regular configuration, that
// restarts the member at position prev (down.restart).
func encodeRestart(tag uint32, prev localring.DomainOrder, e *Entry) []byte {
	return append(encodeDown(tag, prev, e), restartMark)
}

func encodeDown(tag uint32, prev localring.DomainOrder, e *Entry) []byte {
	b := appendEntry(appendPos(localHeader(kindDown, tag, 64+len(e.Payload)), prev), e)
	if e.Kind == EntryMessage && (e.FedTrans || e.Elided || e.InDoubt) {
		var f byte
		if e.FedTrans {
			f |= 1
		}
		if e.Elided {
			f |= 2
		}
		if e.InDoubt {
			f |= 4
		}
		b = append(b, f)
	}
	return b
}

func encodeHave(tag uint32, h *have) []byte {
	b := binary.AppendUvarint(localHeader(kindHave, tag, 32+len(h.conf)), h.ring)
	b = appendPos(b, h.last)
	b = appendFlag(b, h.active)
	b = appendString(b, h.conf)
	if h.epoch > 0 || !h.marked.IsZero() {
		b = binary.AppendUvarint(b, h.epoch)
	}
	if !h.marked.IsZero() {
		b = appendPos(b, h.marked)
	}
	return b
}

func encodeApart(tag uint32, a *apart) []byte {
	b := binary.AppendUvarint(localHeader(kindApart, tag, 32+len(a.conf)), a.ring)
	b = appendPos(b, a.last)
	b = appendString(b, a.conf)
	if a.epoch > 0 {
		b = binary.AppendUvarint(b, a.epoch)
	}
	return b
}

func encodeFedUp(u *fedUp) []byte { return appendUp([]byte{kindFedUp}, u) }

func encodeHeld(tag uint32, h *heldMsg) []byte {
	b := binary.AppendUvarint(localHeader(kindHeld, tag, 32), h.ring)
	return appendPos(b, h.last)
}

func encodeTerms(tag uint32, m *termsMsg) []byte {
	b := localHeader(kindTerms, tag, 24)
	for _, at := range []termAt{m.since, m.sub, m.upto} {
		b = binary.AppendUvarint(b, at.ring)
		b = binary.AppendUvarint(b, at.epoch)
	}
	return b
}

func encodeAck(a *ackMsg) []byte {
	b := appendString([]byte{kindAck}, a.site)
	b = binary.AppendUvarint(b, a.ring)
	return appendPos(b, a.through)
}

func encodeAgain(tag uint32, u *fedUp) []byte {
	return appendUp(localHeader(kindAgain, tag, 64+len(u.payload)), u)
}

func encodeSeen(tag uint32, m *seenMsg) []byte {
	msgs, _ := encodeSeens(tag, m, int(^uint(0)>>1))
	return msgs[0]
}

// encodeSeens returns the Seens that carry m's Ups, in order, as few as
// fit in max bytes each (every one names m's gateway; one with no Up
// when none fits), and how many Ups did not fit even alone: they are
// left out.
func encodeSeens(tag uint32, m *seenMsg, max int) ([][]byte, int) {
	head := appendString(localHeader(kindSeen, tag, 32), m.gw)
	head = binary.AppendUvarint(head, m.gwAt.ring)
	head = binary.AppendUvarint(head, m.gwAt.epoch)
	return split(head, len(m.ups), max, true, func(b []byte, i int) []byte {
		u := &m.ups[i]
		b = binary.AppendUvarint(b, u.inc)
		b = binary.AppendUvarint(b, u.seq)
		return appendFirsts(b, u.firsts)
	})
}

func encodeRelay(tag uint32, m *relayMsg) []byte {
	msgs, _ := encodeRelays(tag, m, int(^uint(0)>>1))
	return msgs[0]
}

// encodeRelays returns the Relays that carry m's Ups, as encodeSeens
// does a Seen's (none when no Up fits).
func encodeRelays(tag uint32, m *relayMsg, max int) ([][]byte, int) {
	return split(localHeader(kindRelay, tag, 8), len(m.ups), max, len(m.ups) == 0, func(b []byte, i int) []byte {
		u := &m.ups[i]
		b = appendString(b, string(u.sender))
		b = binary.AppendUvarint(b, u.inc)
		b = binary.AppendUvarint(b, u.seq)
		return appendFirsts(b, u.firsts)
	})
}

// split returns messages of head, a count and items (item appends item
// i), the n items in order, as many in each as fit in max bytes, and the
// number of items that do not fit alone, left out. When no item is sent
// it returns one message with none if empty is set, else none.
func split(head []byte, n, max int, empty bool, item func(b []byte, i int) []byte) ([][]byte, int) {
	var msgs [][]byte
	var body []byte // the items of the message being filled
	count, tooLarge := 0, 0
	flush := func() {
		b := binary.AppendUvarint(slices.Clip(head), uint64(count))
		msgs = append(msgs, append(b, body...))
		body, count = body[:0], 0
	}
	var one []byte
	for i := range n {
		one = item(one[:0], i)
		switch {
		case len(head)+uvarintLen(uint64(count+1))+len(body)+len(one) <= max:
		case len(head)+uvarintLen(1)+len(one) > max:
			tooLarge++
			continue
		default:
			flush()
		}
		body = append(body, one...)
		count++
	}
	if count > 0 || len(msgs) == 0 && empty {
		flush()
	}
	return msgs, tooLarge
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return len(binary.AppendUvarint(b[:0], v))
}

func appendFirsts(b []byte, firsts []first) []byte {
	b = binary.AppendUvarint(b, uint64(len(firsts)))
	for _, f := range firsts {
		b = appendString(b, f.node)
		b = binary.AppendUvarint(b, f.at.Ring)
		b = binary.AppendUvarint(b, f.at.Seq)
		b = binary.AppendUvarint(b, uint64(f.at.Index))
		b = appendFlag(b, f.left)
	}
	return b
}

func appendUp(b []byte, u *fedUp) []byte {
	b = binary.AppendUvarint(b, u.ring)
	b = appendOrigin(b, u.origin)
	b = append(b, byte(u.svc))
	return append(b, u.payload...)
}

func encodeSync(s *syncMsg) []byte {
	b := appendString([]byte{kindSync}, s.site)
	b = binary.AppendUvarint(b, s.ring)
	b = appendPos(b, s.last)
	b = appendString(b, s.trans)
	b = appendString(b, s.conf)
	if s.hold.pos.IsZero() && s.reg.IsZero() && s.from.IsZero() && s.root == "" && s.stub.IsZero() && s.floor.IsZero() && !s.blocked && !s.doubt {
		return b
	}
	b = appendPos(b, s.hold.pos)
	b = appendString(b, s.hold.conf)
	b = appendFlag(b, s.hold.held)
	if s.reg.IsZero() && s.from.IsZero() && s.root == "" && s.stub.IsZero() && s.floor.IsZero() && !s.blocked && !s.doubt {
		return b
	}
	b = appendPos(b, s.reg)
	if s.from.IsZero() && s.root == "" && s.stub.IsZero() && s.floor.IsZero() && !s.blocked && !s.doubt {
		return b
	}
	b = appendPos(b, s.from)
	if s.root == "" && s.stub.IsZero() && s.floor.IsZero() && !s.blocked && !s.doubt {
		return b
	}
	b = appendString(b, s.root)
	if s.stub.IsZero() && s.floor.IsZero() && !s.blocked && !s.doubt {
		return b
	}
	b = appendPos(b, s.stub)
	if s.floor.IsZero() && !s.blocked && !s.doubt {
		return b
	}
	b = appendPos(b, s.floor)
	if !s.blocked && !s.doubt {
		return b
	}
	b = appendFlag(b, s.blocked)
	if !s.doubt {
		return b
	}
	if b = appendFlag(b, true); s.doubtID == "" {
		return b
	}
	b = binary.AppendUvarint(appendString(b, s.doubtID), uint64(s.doubtN))
	if len(s.doubtUps) > 0 {
		for _, o := range s.doubtUps {
			b = appendOrigin(b, o)
		}
	}
	return b
}

func appendFlag(b []byte, f bool) []byte {
	if f {
		return append(b, 1)
	}
	return append(b, 0)
}

func (r *reader) flag(what string) bool {
	switch r.byte1(what) {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail(what)
	return false
}

func encodeCatchUp(c *catchUp) []byte {
	b := appendString([]byte{kindCatchUp}, c.to)
	b = appendPos(b, c.from)
	if c.gap {
		b = append(b, 1)
		if len(c.done) > 0 {
			b = binary.AppendUvarint(b, uint64(len(c.done)))
			for _, d := range c.done {
				b = appendOrigin(b, d.origin)
				b = binary.AppendUvarint(b, uint64(len(d.confs)))
				for _, id := range d.confs {
					b = appendString(b, id)
				}
			}
		}
		return b
	}
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(len(c.entries)))
	for i := range c.entries {
		b = appendEntry(b, &c.entries[i])
	}
	return b
}

// reader decodes with a bounds check on every field; the first error
// sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte1(what string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail(what)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes(what string) []byte {
	n := r.uvarint(what)
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail(what + " length")
		return nil
	}
	p := slices.Clone(r.b[:n])
	r.b = r.b[n:]
	return p
}

func (r *reader) str(what string) string { return string(r.bytes(what)) }

func (r *reader) pos() localring.DomainOrder {
	return localring.DomainOrder{Seq: r.uvarint("position"), Ring: r.uvarint("position ring")}
}

func (r *reader) origin() Origin {
	return Origin{Site: r.str("origin site"), ID: localring.MessageID{
		Sender: localring.NodeID(r.str("origin sender")), Inc: r.uvarint("origin inc"), Seq: r.uvarint("origin seq")}}
}

func (r *reader) svc() localring.Service {
	s := localring.Service(r.byte1("service"))
	if r.err == nil && !s.Valid() {
		r.fail("service level")
	}
	return s
}

func (r *reader) entry() Entry {
	e := Entry{Pos: r.pos(), Kind: EntryKind(r.byte1("entry kind"))}
	switch {
	case r.err != nil:
	case e.Kind == EntryMessage:
		e.Origin = r.origin()
		e.Svc = r.svc()
		e.Payload = r.bytes("payload")
	case e.Kind == EntryConfig:
		e.Conf.ID = r.str("configuration id")
		k := r.byte1("configuration kind")
		e.Conf.Kind = localring.ConfKind(k &^ (continuesFlag | besideFlag | doubtFlag | goneFlag))
		if r.err == nil && e.Conf.Kind != localring.Regular && e.Conf.Kind != localring.Transitional {
			r.fail("configuration kind")
		}
		if k&continuesFlag != 0 {
			if e.Conf.Continues = r.str("continued configuration"); r.err == nil && (e.Conf.Continues == "" || e.Conf.Kind != localring.Regular) {
				r.fail("continued configuration: only a regular configuration continues one, named")
			}
		}
		if k&besideFlag != 0 {
			if e.Conf.Beside = r.sites("site beside"); r.err == nil && (len(e.Conf.Beside) == 0 || e.Conf.Kind != localring.Transitional) {
				r.fail("sites beside: only a transitional configuration names some")
			}
		}
		if k&doubtFlag != 0 {
			n := r.uvarint("sites in doubt count")
			if n > uint64(len(r.b)) {
				r.fail("sites in doubt count")
			}
			for i := uint64(0); i < n && r.err == nil; i++ {
				d := DoubtSite{Site: r.str("site in doubt"), ID: r.str("site in doubt's digest")}
				if d.N = int(r.uvarint("site in doubt's Ups")); r.err == nil && (d.ID == "" || d.N == 0) {
					r.fail("site in doubt: a digest of no Up")
				}
				if r.err == nil && strings.HasPrefix(d.ID, "!") {
					d.Refused, d.ID = true, "~"+d.ID[1:]
					if uint64(d.N) > uint64(len(r.b)) {
						r.fail("site in doubt's Ups")
					}
					for j := 0; j < d.N && r.err == nil; j++ {
						d.Ups = append(d.Ups, r.origin())
					}
				}
				e.Conf.Doubt = append(e.Conf.Doubt, d)
			}
			if r.err == nil && (len(e.Conf.Doubt) == 0 || e.Conf.Kind != localring.Regular) {
				r.fail("sites in doubt: only a regular configuration names some")
			}
		}
		if k&goneFlag != 0 {
			n := r.uvarint("Ups gone count")
			if n == 0 || n > uint64(len(r.b)) || e.Conf.Kind != localring.Transitional {
				r.fail("Ups gone: only a transitional configuration names some")
			}
			for i := uint64(0); i < n && r.err == nil; i++ {
				e.Conf.Gone = append(e.Conf.Gone, r.origin())
			}
		}
		e.Conf.Sites = r.sites("site")
	case e.Kind == EntrySafe:
		e.Through = r.pos()
	default:
		r.fail("entry kind")
	}
	return e
}

// sites reads a count and that many site names.
func (r *reader) sites(what string) []string {
	n := r.uvarint(what + " count")
	if n > uint64(len(r.b)) {
		r.fail(what + " count")
	}
	var sites []string
	for i := uint64(0); i < n && r.err == nil; i++ {
		sites = append(sites, r.str(what))
	}
	return sites
}

func (r *reader) fedUp() *fedUp {
	u := &fedUp{ring: r.uvarint("ring")}
	u.origin = r.origin()
	u.svc = r.svc()
	if r.err == nil {
		u.payload = slices.Clone(r.b)
		r.b = nil
	}
	return u
}

// seen reads a seenMsg: every count is at most the bytes left, and every
// place is one (a zero Order is none).
func (r *reader) seen() *seenMsg {
	m := &seenMsg{gw: r.str("gateway"), gwAt: termAt{ring: r.uvarint("gateway's ring"), epoch: r.uvarint("gateway's epoch")}}
	if r.err == nil && (m.gw == "") != m.gwAt.isZero() {
		r.fail("a Seen names a gateway exactly when it names its ring")
	}
	n := r.uvarint("Up count")
	if n > uint64(len(r.b)) {
		r.fail("Up count")
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		u := seenUp{inc: r.uvarint("incarnation"), seq: r.uvarint("seq")}
		u.firsts = r.firsts()
		m.ups = append(m.ups, u)
	}
	return m
}

// relay reads a relayMsg, as seen reads a seenMsg; every Up names its
// sender.
func (r *reader) relay() *relayMsg {
	m := &relayMsg{}
	n := r.uvarint("Up count")
	if n > uint64(len(r.b)) {
		r.fail("Up count")
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		u := relayUp{sender: localring.NodeID(r.str("sender")), inc: r.uvarint("incarnation"), seq: r.uvarint("seq")}
		if r.err == nil && u.sender == "" {
			r.fail("a Relay names the sender of each Up")
		}
		u.firsts = r.firsts()
		m.ups = append(m.ups, u)
	}
	return m
}

// terms reads a termsMsg: its places in order (since <= sub < upto, a
// zero sub none).
func (r *reader) terms() *termsMsg {
	at := func(what string) termAt {
		return termAt{ring: r.uvarint(what + "'s ring"), epoch: r.uvarint(what + "'s epoch")}
	}
	m := &termsMsg{since: at("first configuration"), sub: at("last term that submitted"), upto: at("end")}
	if r.err == nil && (m.upto.less(m.since) || !m.sub.isZero() && (m.sub.less(m.since) || !m.sub.less(m.upto))) {
		r.fail("a Terms names its places in order")
	}
	return m
}

// firsts reads the first deliveries of a Seen's or a Relay's Up.
func (r *reader) firsts() []first {
	var firsts []first
	k := r.uvarint("place count")
	if k > uint64(len(r.b)) {
		r.fail("place count")
	}
	for j := uint64(0); j < k && r.err == nil; j++ {
		f := first{node: r.str("node")}
		f.at.Ring, f.at.Seq = r.uvarint("place's ring"), r.uvarint("place's packet")
		if x := r.uvarint("place's index"); x < 1<<32 {
			f.at.Index = uint32(x)
		} else {
			r.fail("place's index")
		}
		f.left = r.flag("left flag")
		if r.err == nil && (f.at.IsZero() || f.node == "") {
			r.fail("a Seen or a Relay names a node and a place for each first delivery")
		}
		firsts = append(firsts, f)
	}
	return firsts
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	return r.err
}

// FedService returns the service level at which a driver submits p, a
// federation message of Ready.Fed: Safe for an Up and an Ack, Agreed for
// a Sync or a catch-up answer. See the package comment ("Service levels")
// for why Agreed is enough for those two: no site numbers them, and what
// a site does on them depends on its own deliveries alone. An Ack is
// numbered like an Up (its mark takes its place), for the same reason.
func FedService(p []byte) localring.Service {
	if len(p) > 0 && (p[0] == kindSync || p[0] == kindCatchUp) {
		return localring.Agreed
	}
	return localring.Safe
}

// The send classes (localring.Node.SubmitClass) of the federation ring's
// messages: FedClass gives each message of Ready.Fed its own.
const (
	// FedControlClass carries the Syncs and catch-up answers, which end a
	// failover's Sync phase and its catch-up.
	FedControlClass = 0
	// FedDataClass carries the Ups and Acks.
	FedDataClass = 1
)

// FedClass returns the send class at which a driver submits p, a
// federation message of Ready.Fed: FedControlClass for a Sync or a
// catch-up answer, FedDataClass for an Up or an Ack.
//
// An Up or an Ack names the ring it was submitted in and counts for
// nothing in another one (Stats.Carried), so FedDataClass is ring-bound
// (federation.RingConfig: localring.Config.RingBoundClasses): the member
// drops what it still queues of it when a new ring is installed, and a
// driver drops what it still holds of it for the member at a regular
// federation configuration (RingBound). Carried over, those Safe copies
// went out first in the new ring, and every member's Sync waited behind
// them until they were safe, two rotations (gateway/hiersim
// TestTakeoverTimeline, seed 194: the gateways' Ups and Acks queued while
// the ring had lost its token held the Sync phase up 0.65 s). The member
// also sends the tighter control class first at each token visit.
//
// No order between the two classes is relied on: a Sync or an answer
// counts only in the ring it is delivered in, and the bridge submits the
// Ups and Acks of a ring only once its Syncs and owed answers are
// delivered. Each class keeps its submission order (the answer to a
// catch-up carried over comes before the next ring's Sync; each origin's
// Ups in order).
func FedClass(p []byte) int {
	if FedService(p) == localring.Agreed {
		return FedControlClass
	}
	return FedDataClass
}

// RingBound reports whether p, a federation message of Ready.Fed, is of
// the ring-bound FedDataClass. A driver that holds such messages for the
// federation member when the member installs a regular configuration
// drops them (before calling FedInstall): they were asked for in the ring
// that ended (the bridge submits its Ups again once the new ring
// settled), and reaching the member after its installation, they would
// go out first in the new ring, as copies carried over would.
func RingBound(p []byte) bool { return FedClass(p) == FedDataClass }

// isLocal reports whether b is a bridge message of the local ring, of
// any domain, by its kind.
func isLocal(b []byte) bool {
	return len(b) > 0 && slices.Contains([]byte{kindUp, kindDown, kindHave, kindAgain, kindHeld, kindApart, kindSeen, kindRelay, kindTerms}, b[0])
}

// localTag returns the domain tag of a local ring message of the bridge.
func localTag(b []byte) (uint32, error) {
	switch {
	case len(b) == 0:
		return 0, fmt.Errorf("%w: empty", ErrMalformed)
	case !isLocal(b):
		return 0, fmt.Errorf("%w: kind %#x on the local ring", ErrMalformed, b[0])
	case len(b) < 1+tagLen:
		return 0, fmt.Errorf("%w: %d bytes, shorter than a local message's kind and domain tag", ErrMalformed, len(b))
	}
	return binary.BigEndian.Uint32(b[1:]), nil
}

// decodeLocal decodes a bridge message delivered by the local ring and
// returns its domain's tag.
func decodeLocal(b []byte) (uint32, localMsg, error) {
	tag, err := localTag(b)
	if err != nil {
		return 0, localMsg{}, err
	}
	m, err := decodeLocalBody(b[0], b[1+tagLen:])
	return tag, m, err
}

// decodeLocalBody decodes what follows a local message's kind and tag.
func decodeLocalBody(kind byte, body []byte) (localMsg, error) {
	r := &reader{b: body}
	switch kind {
	case kindUp:
		x := &up{svc: r.svc()}
		if r.err == nil {
			x.payload = slices.Clone(r.b)
			r.b = nil
		}
		return localMsg{up: x}, r.done()
	case kindDown:
		d := &down{prev: r.pos()}
		d.entry = r.entry()
		if r.err == nil && len(r.b) > 0 {
			f := r.byte1("marks")
			switch e := &d.entry; {
			case f == restartMark:
				d.restart = true
				if r.err == nil && (e.Kind != EntryConfig || e.Conf.Kind != localring.Regular) {
					r.fail("the restart mark is sent only on a regular configuration")
				}
			default:
				e.FedTrans, e.Elided, e.InDoubt = f&1 != 0, f&2 != 0, f&4 != 0
				if r.err == nil && (f == 0 || f > 4 || e.Kind != EntryMessage) {
					r.fail("marks are sent only as 1 to 4, on a message, or as 8 on a regular configuration")
				}
			}
		}
		return localMsg{down: d}, r.done()
	case kindHave:
		h := &have{ring: r.uvarint("ring"), last: r.pos()}
		h.active = r.flag("active flag")
		h.conf = r.str("configuration")
		if r.err == nil && h.last.IsZero() != (h.conf == "") {
			r.fail("a Have names a configuration exactly when it names a position")
		}
		if r.err == nil && len(r.b) > 0 {
			h.epoch = r.uvarint("epoch")
			switch {
			case r.err == nil && len(r.b) > 0:
				if h.marked = r.pos(); r.err == nil && (h.marked.IsZero() || h.last.Less(h.marked)) {
					r.fail("a Have names marks only when not zero, at or before its position")
				}
			case r.err == nil && h.epoch == 0:
				r.fail("epoch 0 is not sent alone")
			}
		}
		return localMsg{have: h}, r.done()
	case kindApart:
		a := &apart{ring: r.uvarint("ring"), last: r.pos(), conf: r.str("configuration")}
		if r.err == nil && (a.last.IsZero() || a.conf == "") {
			r.fail("an Apart names a position and its configuration")
		}
		if r.err == nil && len(r.b) > 0 {
			if a.epoch = r.uvarint("epoch"); a.epoch == 0 {
				r.fail("epoch 0 is not sent")
			}
		}
		return localMsg{apart: a}, r.done()
	case kindAgain:
		return localMsg{again: r.fedUp()}, r.done()
	case kindHeld:
		h := &heldMsg{ring: r.uvarint("ring"), last: r.pos()}
		return localMsg{held: h}, r.done()
	case kindSeen:
		return localMsg{seen: r.seen()}, r.done()
	case kindRelay:
		return localMsg{relay: r.relay()}, r.done()
	case kindTerms:
		return localMsg{terms: r.terms()}, r.done()
	}
	return localMsg{}, fmt.Errorf("%w: kind %#x on the local ring", ErrMalformed, kind)
}

// decodeFed decodes a bridge message delivered by the federation ring.
func decodeFed(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	r := &reader{b: b[1:]}
	switch b[0] {
	case kindFedUp:
		u := r.fedUp()
		return u, r.done()
	case kindSync:
		s := &syncMsg{site: r.str("site"), ring: r.uvarint("ring"), last: r.pos()}
		s.trans = r.str("transitional configuration")
		s.conf = r.str("configuration")
		if r.err == nil && len(r.b) > 0 {
			s.hold.pos = r.pos()
			s.hold.conf = r.str("held position's configuration")
			s.hold.held = r.flag("held position's transitional flag")
			switch {
			case r.err == nil && len(r.b) > 0:
				s.reg = r.pos()
				if r.err == nil && len(r.b) > 0 {
					s.from = r.pos()
					if r.err == nil && len(r.b) > 0 {
						s.root = r.str("domain configuration")
						if r.err == nil && len(r.b) > 0 {
							s.stub = r.pos()
							if r.err == nil && len(r.b) > 0 {
								s.floor = r.pos()
								if r.err == nil && len(r.b) > 0 {
									s.blocked = r.flag("blocked flag")
									if r.err == nil && len(r.b) > 0 {
										if s.doubt = r.flag("doubt flag"); r.err == nil && !s.doubt {
											r.fail("a clear doubt flag is not sent")
										}
										if r.err == nil && len(r.b) > 0 {
											if s.doubtID = r.str("doubt id"); r.err == nil && s.doubtID == "" {
												r.fail("an empty doubt id is not sent")
											}
											if s.doubtN = int(r.uvarint("Ups in doubt")); r.err == nil && s.doubtN == 0 {
												r.fail("a doubt id of no Up is not sent")
											}
											if r.err == nil && len(r.b) > 0 {
												if uint64(s.doubtN) > uint64(len(r.b)) || s.doubtN > maxDoubtUps {
													r.fail("Ups in doubt named")
												}
												for j := 0; j < s.doubtN && r.err == nil; j++ {
													s.doubtUps = append(s.doubtUps, r.origin())
												}
											}
										}
									} else if r.err == nil && !s.blocked {
										r.fail("a clear blocked flag is not sent")
									}
								} else if r.err == nil && s.floor.IsZero() {
									r.fail("a zero floor is not sent")
								}
							} else if r.err == nil && s.stub.IsZero() {
								r.fail("a zero stub place is not sent")
							}
						}
						if r.err == nil && (s.root == "" && s.stub.IsZero() && s.floor.IsZero() && !s.blocked && !s.doubt || s.root != "" && s.root == s.named()) {
							r.fail("a domain configuration that is the one named is not sent")
						}
					} else if r.err == nil && s.from.IsZero() {
						r.fail("a zero log start is not sent")
					}
				}
				if r.err == nil && s.reg.IsZero() && s.from.IsZero() && s.root == "" && s.stub.IsZero() && s.floor.IsZero() && !s.blocked && !s.doubt {
					r.fail("a zero regular place is not sent")
				}
				if r.err == nil && s.hold.pos.IsZero() && (s.hold.conf != "" || s.hold.held) {
					r.fail("a held position without its place")
				}
			case r.err == nil && s.hold.pos.IsZero():
				r.fail("a zero held position is not sent")
			}
		}
		return s, r.done()
	case kindCatchUp:
		c := &catchUp{to: r.str("site"), from: r.pos(), gap: r.byte1("gap") == 1}
		if c.gap && r.err == nil && len(r.b) > 0 {
			n := r.uvarint("done count")
			if n == 0 || n > uint64(len(r.b)) {
				r.fail("done count")
			}
			for i := uint64(0); i < n && r.err == nil; i++ {
				d := doneUp{origin: r.origin()}
				k := r.uvarint("done configuration count")
				if k == 0 || k > uint64(len(r.b)) {
					r.fail("done configuration count")
				}
				for j := uint64(0); j < k && r.err == nil; j++ {
					d.confs = append(d.confs, r.str("done configuration"))
				}
				c.done = append(c.done, d)
			}
		}
		if !c.gap {
			n := r.uvarint("entry count")
			if n > uint64(len(r.b)) {
				r.fail("entry count")
			}
			for i := uint64(0); i < n && r.err == nil; i++ {
				c.entries = append(c.entries, r.entry())
			}
		}
		return c, r.done()
	case kindAck:
		a := &ackMsg{site: r.str("site"), ring: r.uvarint("ring"), through: r.pos()}
		return a, r.done()
	}
	return nil, fmt.Errorf("%w: kind %#x on the federation ring", ErrMalformed, b[0])
}
