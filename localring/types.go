package localring

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// NodeID is a node's stable id from the topology file, e.g. "fra-1".
type NodeID string

// Member is one process in a ring: a node id and the incarnation of that
// node's current run. A restarted node is a new member.
type Member struct {
	ID  NodeID
	Inc uint64
}

func (m Member) String() string { return fmt.Sprintf("%s#%d", m.ID, m.Inc) }

// RingID identifies a ring: a sequence number that grows with every new ring
// and the representative (smallest node id) that created it, and, in a ring
// whose member ids several processes speak for one after the other
// (Config.SharedIDs), the representative's incarnation.
type RingID struct {
	Seq uint64
	Rep NodeID
	// RepInc is the representative's incarnation when its ring's config
	// sets SharedIDs, else 0. Two incarnations of one id may run at once
	// there (a site's old gateway, paused, and its successor); RepInc
	// tells a process which rings it formed itself. It is not part of the
	// id's text: the incarnations' sequence number lanes
	// (Config.RingSeqLanes) keep their rings' numbers apart.
	RepInc uint64
}

// String renders r as "seq:rep", the form of EVS trace configuration ids
// ("r:" or "t:" before it).
func (r RingID) String() string { return fmt.Sprintf("%d:%s", r.Seq, r.Rep) }

// Service is the delivery guarantee requested for a message. The ring
// delivers every level below Safe in the total (Agreed) order, which
// implies the weaker orders; Safe additionally waits until every member of
// the configuration holds the message.
type Service uint8

// The service levels, weakest first.
const (
	Unreliable Service = 1 + iota
	Reliable
	FIFO
	Causal
	Agreed
	Safe
)

var serviceNames = [...]string{"", "unreliable", "reliable", "fifo", "causal", "agreed", "safe"}

// Valid reports whether s is one of the six service levels, Unreliable to
// Safe.
func (s Service) Valid() bool { return s >= Unreliable && s <= Safe }

func (s Service) String() string {
	if s.Valid() {
		return serviceNames[s]
	}
	return "service(" + strconv.Itoa(int(s)) + ")"
}

// ParseService parses a service level name as String prints it.
func ParseService(s string) (Service, error) {
	for i, n := range serviceNames {
		if i > 0 && strings.EqualFold(n, s) {
			return Service(i), nil
		}
	}
	return 0, fmt.Errorf("localring: unknown service level %q (want unreliable, reliable, fifo, causal, agreed or safe)", s)
}

// ConfKind tells regular from transitional configurations.
type ConfKind uint8

// The kinds of configuration.
const (
	Regular ConfKind = 1 + iota
	Transitional
)

func (k ConfKind) String() string {
	switch k {
	case Regular:
		return "reg"
	case Transitional:
		return "trans"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Configuration is a membership the application sees installed. A regular
// configuration is a ring; the transitional configuration that precedes it
// lists the members that come from the same old ring as this node.
type Configuration struct {
	// ID is "r:<ringseq>:<rep>" for a regular configuration and
	// "t:<ringseq>:<rep>/<oldseq>:<oldrep>" for a transitional one, where the
	// first ring is the regular configuration that follows.
	ID      string
	Kind    ConfKind
	Ring    RingID
	Members []Member // sorted by id
}

// MemberIDs returns the members' node ids.
func (c *Configuration) MemberIDs() []string {
	ids := make([]string, len(c.Members))
	for i, m := range c.Members {
		ids[i] = string(m.ID)
	}
	return ids
}

// Configuration ids follow one convention, which the EVS checker reads
// too (evs: parseConfID): "r:<ring>" names the regular configuration of
// ring <ring> (RingID.String), "t:<next>/<old>" the transitional
// configuration between the regular configurations of rings old and next.
// Layers above the ring (the bridge) take ids apart and build them with
// the functions below, never by hand.

// RegularConfID returns the id of ring r's regular configuration.
func RegularConfID(r RingID) string { return FormatRegularConfID(r.String()) }

// FormatRegularConfID returns the id of the regular configuration of the
// ring named ring (RingID.String, or as ParseRegularConfID returns it).
func FormatRegularConfID(ring string) string { return "r:" + ring }

// ParseRegularConfID returns the ring named by a regular configuration's
// id; ok is false for an id of another form.
func ParseRegularConfID(id string) (ring string, ok bool) { return strings.CutPrefix(id, "r:") }

// FormatTransitionalConfID returns the id of the transitional
// configuration from the regular configuration of ring old into that of
// ring next (rings named as ParseRegularConfID returns them).
func FormatTransitionalConfID(next, old string) string { return "t:" + next + "/" + old }

// ParseTransitionalConfID returns the rings named by a transitional
// configuration's id: the ring it leads into and the ring whose regular
// configuration it comes from. ok is false for an id of another form.
func ParseTransitionalConfID(id string) (next, old string, ok bool) {
	t, ok := strings.CutPrefix(id, "t:")
	if !ok {
		return "", "", false
	}
	return strings.Cut(t, "/")
}

func transConfID(next, old RingID) string {
	return FormatTransitionalConfID(next.String(), old.String())
}

// MessageID names a message uniquely forever: the sender, its incarnation
// and the sender's message counter.
type MessageID struct {
	Sender NodeID
	Inc    uint64
	Seq    uint64
}

func (id MessageID) String() string {
	// One allocation: a trace writes this for every message it has a
	// line of (internal/tracemap), where the concatenation of the
	// formatted numbers took three.
	var buf [64]byte
	b := append(buf[:0], id.Sender...)
	b = append(b, '/')
	b = strconv.AppendUint(b, id.Inc, 10)
	b = append(b, '/')
	b = strconv.AppendUint(b, id.Seq, 10)
	return string(b)
}

// Message is one delivered or sent application message.
type Message struct {
	ID  MessageID
	Svc Service
	// Payload is the message. The application may keep a delivered
	// Payload for as long as it likes: the node never reuses or writes
	// the memory it points into. It must not modify it either: it may be
	// part of a packet the node keeps for retransmission, or, at the
	// sender, the slice given to Submit.
	Payload []byte
	// Conf is the id of the configuration it was sent or delivered in.
	Conf string
	// Order is the message's place in the ring's total order (see Order).
	// Zero on send events.
	Order Order
}

// EventKind says what an Event reports.
type EventKind uint8

const (
	// EventInstall: a configuration was installed (Conf).
	EventInstall EventKind = 1 + iota
	// EventSend: one of this node's messages was sent in a configuration
	// (Msg): from now on the ring is responsible for it.
	EventSend
	// EventDeliver: a message is delivered to the application (Msg).
	EventDeliver
	// EventTokenLost: the token did not come back in time (Reason).
	EventTokenLost
	// EventGather: the node started the membership protocol (Reason).
	EventGather
	// EventSuperseded: a newer incarnation of this node's id is running, so
	// this node stopped for good (Reason); see Node.Fence. The driver must
	// exit: two incarnations of one id are never members together.
	EventSuperseded
	// EventEvict: a member is being taken out of the ring because it keeps
	// failing to receive multicasts or its multicasts keep not arriving
	// (Reason names it and the cause; Evicted is the member).
	EventEvict
	// EventReadmit: a member taken out as one end of a cut link is let
	// back in before its quarantine ran out, as the two ends hear each
	// other again (Reason names both; Evicted is the member).
	EventReadmit
)

func (k EventKind) String() string {
	switch k {
	case EventInstall:
		return "install"
	case EventSend:
		return "send"
	case EventDeliver:
		return "deliver"
	case EventTokenLost:
		return "token-lost"
	case EventGather:
		return "gather"
	case EventSuperseded:
		return "superseded"
	case EventEvict:
		return "evict"
	case EventReadmit:
		return "readmit"
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Event is something the application or the operator must see, in the
// order the node produced it: installs and deliveries in EVS order, with
// protocol notices in between.
type Event struct {
	Kind    EventKind
	Conf    *Configuration // EventInstall
	Msg     Message        // EventSend and EventDeliver
	Reason  string         // EventTokenLost, EventGather, EventSuperseded, EventEvict and EventReadmit
	Evicted Member         // EventEvict and EventReadmit
}

// Packet is a packet the driver must send: to every ring member (To == "")
// or to one node. The driver must not modify Data.
type Packet struct {
	To   NodeID
	Data []byte
}

// Ready is what a node produced since the last call to Ready.
type Ready struct {
	Packets []Packet
	Events  []Event
}

// Stats counts what a node did; all counters only grow.
type Stats struct {
	PacketsIn, PacketsOut           uint64
	Malformed                       uint64 // packets that failed to decode
	ForeignRing                     uint64 // packets of another ring, ignored
	DuplicateMcast                  uint64 // message packets received twice
	DuplicateTokens                 uint64 // duplicate or stale tokens dropped (Config.TokenCopies' copies among them)
	Retransmits                     uint64 // packets this node retransmitted on request
	RetransmitRequests              uint64 // sequence numbers this node asked for
	GapRequests                     uint64 // of them, asked for at the first visit as gaps in a sender's visit (Config.RequestGaps)
	Nacks                           uint64 // sequence numbers this node asked their senders for by nack (Config.NackDelay)
	NackRunsSkipped                 uint64 // observations of missing packets not nacked: more than MaxNackRun were still missing
	NackAnswers                     uint64 // packets this node sent answering other members' nacks
	TokenNacks                      uint64 // times this node told its predecessor the token did not come (Config.NackDelay)
	TokenNackResends                uint64 // tokens this node sent again at once on its successor's token nack
	TokenRetransmits                uint64
	EarlyTokenRetransmits           uint64 // of them, sent when a pass took longer than my passes' timing says, before TokenRetransmit (Config.NackDelay)
	TokenLosses                     uint64
	Gathers                         uint64 // times the membership protocol started
	Reforms                         uint64 // membership rounds started by Reform
	RingsInstalled                  uint64
	MessagesSent, MessagesDelivered uint64
	RecoveryPackets                 uint64 // old-ring packets resent during recovery
	Fenced                          uint64 // membership packets of superseded incarnations refused
	FenceNotices                    uint64 // notices sent to superseded incarnations that they are (noticeFenced)
	Superseded                      uint64 // 1 once a newer incarnation of this node id was seen
	StallHolds                      uint64 // rotations the representative slowed down while a packet stayed missing
	BusyHolds                       uint64 // tokens the representative kept for a fuller rotation (Config.BusyRotation)
	Evictions                       uint64 // members this node saw taken out for failing to receive (or be received)
	Readmissions                    uint64 // members taken out as one end of a cut link and let back in early, as the link healed (EventReadmit)
	WindowCuts                      uint64 // times the node halved its window because rotations slowed (Config.AdaptWindow)
	LongIDs                         uint64 // membership packets refused for naming a node id above Config.MaxIDBytes (ErrIDTooLong)
	DroppedAtInstall                uint64 // queued messages of Config.RingBoundClasses dropped unsent at a new ring's installation

	// Rotation is the distribution of token rotation times in the
	// operational state: the time between two tokens this node accepted
	// on the same ring (its own hold included).
	Rotation Histogram
}

// RotationBounds are the upper bounds of the buckets of
// Stats.Rotation: from 100 µs (a small idle LAN ring) to 10 s (a loaded
// WAN ring).
var RotationBounds = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Histogram counts durations in the buckets of RotationBounds.
type Histogram struct {
	Count uint64        `json:"count"`  // observations
	Sum   time.Duration `json:"sum_ns"` // their sum
	// Buckets[i] counts the observations of at most RotationBounds[i] and
	// more than RotationBounds[i-1] (not cumulative); longer ones count
	// in Count only.
	Buckets [len(RotationBounds)]uint64 `json:"buckets"`
}

// observe counts d.
func (h *Histogram) observe(d time.Duration) {
	h.Count++
	h.Sum += d
	for i, b := range RotationBounds {
		if d <= b {
			h.Buckets[i]++
			return
		}
	}
}

// sortMembers sorts by id (and incarnation, for determinism).
func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int {
		if c := strings.Compare(string(a.ID), string(b.ID)); c != 0 {
			return c
		}
		switch {
		case a.Inc < b.Inc:
			return -1
		case a.Inc > b.Inc:
			return 1
		}
		return 0
	})
}
