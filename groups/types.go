package groups

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/atoll-gcs/atoll/localring"
)

// Limits on names and messages.
const (
	// MaxGroupName is the longest group name, in bytes.
	MaxGroupName = 128
	// MaxClientName is the longest client name, in bytes.
	MaxClientName = 64
	// MaxGroupsPerMessage is the most destination groups one multicast may
	// name.
	MaxGroupsPerMessage = 1024
)

// Errors callers branch on with errors.Is. The package returns them
// wrapped in an *Error that says which operation, client and group.
var (
	// ErrBadName: a group, client or member name is empty, too long, or
	// holds whitespace or control characters (client names also ':').
	ErrBadName = errors.New("groups: bad name")
	// ErrNotMember: a client left a group it is not a member of, or sent
	// a point-to-point message to a member of no group.
	ErrNotMember = errors.New("groups: not a member")
	// ErrTooLarge: the message does not fit in one ring message.
	ErrTooLarge = errors.New("groups: message too large")
	// ErrDenied: the group's ACL does not allow the join, the message or
	// the ACL change.
	ErrDenied = errors.New("groups: denied by the group's ACL")
	// ErrBackpressure: too many of this node's messages wait to be sent;
	// retry after some are delivered.
	ErrBackpressure = errors.New("groups: send queue full; wait for deliveries")
	// ErrBadService: the service level is not one of localring's six.
	ErrBadService = errors.New("groups: unknown service level")
	// ErrMalformed: a ring payload that starts like a group message does
	// not decode.
	ErrMalformed = errors.New("groups: malformed group message")
)

// Error is the error of one request: what was asked, by which client, for
// which group, and why it failed (Err, one of the sentinel errors above,
// possibly wrapped with detail).
type Error struct {
	Op     string // "join", "leave", "disconnect", "acl", "multicast", "send"
	Client string // the local client's name
	Group  string // the group, "" when none applies
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("groups: ")
	b.WriteString(e.Op)
	if e.Group != "" {
		b.WriteString(" ")
		b.WriteString(strconv.Quote(e.Group))
	}
	if e.Client != "" {
		b.WriteString(" by ")
		b.WriteString(strconv.Quote(e.Client))
	}
	b.WriteString(": ")
	b.WriteString(strings.TrimPrefix(e.Err.Error(), "groups: "))
	return b.String()
}

// Unwrap returns the cause, so that errors.Is(err, ErrDenied) works.
func (e *Error) Unwrap() error { return e.Err }

// Reason says why a view changed.
type Reason uint8

const (
	// ReasonJoin: members joined with a join request.
	ReasonJoin Reason = 1 + iota
	// ReasonLeave: a member left with a leave request.
	ReasonLeave
	// ReasonDisconnect: a member's client disconnected from its node, or
	// its node is known to have crashed (it came back with a new
	// incarnation).
	ReasonDisconnect
	// ReasonNetwork: the ring's configuration changed: a partition, a
	// merge, or a node that left for a reason the ring cannot tell.
	ReasonNetwork
)

var reasonNames = [...]string{"", "join", "leave", "disconnect", "network"}

func (r Reason) String() string {
	if r > 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// View is one view of a group: its members when it was delivered, oldest
// first (Members[0] is the natural leader), and how it differs from the
// previous regular view this node delivered.
type View struct {
	Group string
	// ID names the view. The same id has the same members, in the same
	// order, at every node that delivers it.
	ID string
	// Members are "node:client" names ordered by join time: the ring order
	// of their joins, and for members that met in a merge, the order of
	// the joins in their own partitions (ties broken by name).
	Members []string
	// Joined lists the members that are new since the previous regular
	// view (a member whose node restarted counts as new even when its name
	// is the same); Left lists the names of the previous regular view that
	// are gone. Both are empty in transitional views.
	Joined, Left []string
	// Reason says why the view changed. Transitional views have
	// ReasonNetwork.
	Reason Reason
	// Transitional views list the members that move on together through a
	// configuration change: the previous regular view's members whose
	// nodes are in the ring's transitional configuration. Messages
	// delivered in the transitional configuration are delivered in it.
	Transitional bool
}

// Message is a multicast or point-to-point message.
type Message struct {
	// ID is the ring message that carried it (unique forever).
	ID localring.MessageID
	// Seq is the sender node's sequence number for the message: it stays
	// the same when the node has to send the message again (see "Sending"
	// in the package documentation), so it names the message from the
	// client's point of view. Multicast and Send return it.
	Seq uint64
	// Sender is the sending member's "node:client" name.
	Sender string
	Svc    localring.Service
	// Type is the application's 16-bit message type.
	Type uint16
	// Groups are the destination groups of a multicast, in the order the
	// sender gave them; To is the destination member of a point-to-point
	// message. Exactly one of the two is set.
	Groups []string
	To     string
	// Payload is the application's data. It belongs to the receiver of
	// the event and must not be modified (it may be shared by several
	// events).
	Payload []byte
	// Conf is the ring configuration the message was sent in (EventSent)
	// or delivered in (EventDeliver); SentElsewhere on
	// EventSentElsewhere.
	Conf string
	// Order is the message's place in the ring's total order (zero on
	// EventSent).
	Order localring.Order
	// Stub says the node got only a stub of the message (see Stub): it
	// goes to no client, Payload is empty, and DataHash is the hash of
	// the data for the trace (its CRC-32C in the upper 32 bits, its
	// length in the lower: internal/tracemap.Hash).
	Stub     bool
	DataHash uint64
}

// EventKind says what an Event reports.
type EventKind uint8

const (
	// EventConf: the ring installed a configuration (Conf). Views and
	// messages that follow belong to it.
	EventConf EventKind = 1 + iota
	// EventView: a view of a group (View), for the local members in To.
	EventView
	// EventSent: one of this node's messages (Msg) was sent in Msg.Conf and
	// will be delivered at every node that stays connected. Traces record
	// it as the send.
	EventSent
	// EventDeliver: a message (Msg) is delivered, to the local clients in
	// To (possibly none: the event also reaches nodes without recipients,
	// so that traces and counters see the ring's whole order). Err is set,
	// and To empty, when a group's ACL denied the message.
	EventDeliver
	// EventLeft: Client's own leave of Group took effect (Spread's
	// self-leave): it receives nothing more from the group.
	EventLeft
	// EventReject: a request of Client (a join, leave or ACL change of
	// Group, or the message Seq) was refused when it was ordered; Err says
	// why (errors.Is with ErrDenied, ErrNotMember).
	EventReject
	// EventSentElsewhere: one of this node's messages (Msg, Msg.Conf
	// SentElsewhere) was ordered, if at all, in a configuration this node
	// had left, where it counts as failed (EVS.md 2.4): the members that
	// stayed there may have delivered it, none of this node's views does,
	// and the node does not send it again. It stands where EventSent
	// would, so that the sender's driver knows the message's fate; traces
	// write no line for it (EVS.md 1.4: no send in a configuration the
	// node left).
	EventSentElsewhere
)

var eventNames = [...]string{"", "conf", "view", "sent", "deliver", "left", "reject", "sent elsewhere"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) && k > 0 {
		return eventNames[k]
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Event is something local clients, traces or the operator must see, in
// the order the node produced it.
type Event struct {
	Kind EventKind
	Conf *localring.Configuration // EventConf
	View *View                    // EventView
	Msg  *Message                 // EventSent, EventDeliver, EventSentElsewhere
	// To lists the local clients (names without the node) that receive a
	// view or a message.
	To     []string
	Client string // EventLeft, EventReject
	Group  string // EventLeft, EventReject
	Seq    uint64 // EventReject of a message
	Err    error  // EventReject; EventDeliver of a denied message
}

// Submit is a ring message the driver must hand to the ring node
// (localring.Node.Submit) in the order Ready returns them. When the ring
// refuses one with back-pressure, the driver keeps it and the ones after
// it and retries later, in order; it never drops or reorders them.
type Submit struct {
	Svc     localring.Service
	Payload []byte
	// Class is the local ring send class the driver submits it in
	// (localring.Node.SubmitClass). The group layer leaves it 0; the
	// agent sets it for a federation domain's messages on the local ring
	// (package qos).
	Class int
}

// Ready is what a Node produced since the last call to Ready.
type Ready struct {
	Submits []Submit
	Events  []Event
}

// SentElsewhere, as the configuration of a ring's EventSend, says that
// the message was delivered, if at all, in a configuration this node
// left, where it counts as failed (EVS.md 2.4): a federation domain's
// view tells it so of an Up its site dropped as ordered in such a
// configuration (gateway/bridge Entry.Gone). The Node drops the message
// and reports it with an EventSentElsewhere: sent again, it would be a
// second copy wherever the first was delivered; reported sent, its send
// would be in a configuration other than the node's (EVS.md 1.4). No
// configuration has this id.
const SentElsewhere = "(elsewhere)"

// Stats counts what a node did; all counters only grow.
type Stats struct {
	Delivered uint64 // multicasts and point-to-point messages delivered
	Denied    uint64 // messages an ACL denied
	Ops       uint64 // joins, leaves, disconnects and ACL changes applied or refused
	Views     uint64 // views computed, for all groups
	// Discarded counts group messages the ring delivered while this node
	// was exchanging group state, or that were sent before the last state
	// exchange: every node discards them, and their senders send them
	// again.
	Discarded uint64
	Resent    uint64 // this node's messages sent again after a discard
	// Elsewhere counts this node's messages told sent in a configuration
	// this node had left (SentElsewhere): dropped, neither sent again
	// nor reported sent (EventSentElsewhere).
	Elsewhere uint64
	Exchanges uint64 // state exchanges completed
	Malformed uint64 // group payloads that did not decode
	Foreign   uint64 // ring payloads that are not group messages
	// Stubs counts the stubs delivered (Message.Stub); StubRecipients
	// those that had local recipients, which got nothing: lost messages
	// (never, if the site's gateway decides with Needs).
	Stubs, StubRecipients uint64
}

// validName reports whether s is a valid group (colonOK) or client name.
func validName(s string, max int, colonOK bool) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			ascii = false
			break
		}
		if c <= ' ' || c == 0x7f || (c == ':' && !colonOK) {
			return false
		}
	}
	if ascii {
		return true
	}
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f || unicode.IsSpace(r) || (r == ':' && !colonOK) || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// The rule for group names, one for the topology file, clients and the
// agent: 1 to MaxGroupName ASCII letters, digits, '.', '_', ':' and '-',
// beginning with a letter or a digit. Nothing a path, a shell or a
// terminal treats specially ("../../etc", "*", control characters), and
// no Unicode: names appear in logs, metrics, ACLs and file names, where
// look-alike characters would deceive. Being ASCII, their length in bytes
// is their length in characters. Patterns (the topology file's groups and
// their ACLs) may also hold '*' (any run of characters) and '?' (any one),
// and begin with them.
const (
	// GroupNameSyntax is the rule for group names as a regular
	// expression.
	GroupNameSyntax = `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`
	// GroupPatternSyntax is the rule for group name patterns.
	GroupPatternSyntax = `^[A-Za-z0-9*?][A-Za-z0-9._:*?-]{0,127}$`
	// GroupNameRule says the rule to people, for error messages.
	GroupNameRule = "use 1 to 128 ASCII letters, digits, '.', '_', ':' and '-', beginning with a letter or a digit"
)

// ValidGroupName reports whether s may name a group (GroupNameRule). The
// ring itself carries any name of printable UTF-8 without whitespace (the
// rule of earlier versions), so that nodes of different versions agree on
// the group state; this rule is enforced where names enter: clients, the
// agent and the topology file.
func ValidGroupName(s string) bool { return validGroupName(s, false) }

// ValidGroupPattern reports whether s is a group name or a pattern of
// them, with '*' and '?' (GroupPatternSyntax).
func ValidGroupPattern(s string) bool { return validGroupName(s, true) }

func validGroupName(s string, pattern bool) bool {
	if len(s) == 0 || len(s) > MaxGroupName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case pattern && (c == '*' || c == '?'):
		case i > 0 && (c == '.' || c == '_' || c == ':' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// ValidClientName reports whether s may name a client: 1 to MaxClientName
// bytes of printable UTF-8 without whitespace or ':'.
func ValidClientName(s string) bool { return validName(s, MaxClientName, false) }

// MemberName returns the "node:client" name of a member.
func MemberName(node localring.NodeID, client string) string {
	return string(node) + ":" + client
}

// SplitMember splits a "node:client" member name.
func SplitMember(member string) (node localring.NodeID, client string, err error) {
	i := strings.LastIndexByte(member, ':')
	if i <= 0 || !ValidClientName(member[i+1:]) || len(member) > 255 {
		return "", "", fmt.Errorf("%w: member %q: want node:client", ErrBadName, member)
	}
	return localring.NodeID(member[:i]), member[i+1:], nil
}
