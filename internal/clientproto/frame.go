package clientproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unsafe"
)

// Protocol constants (docs/PROTOCOL.md, "Framing" and "Hello").
const (
	// Magic opens the Hello and Welcome bodies: "ATLL".
	Magic uint32 = 0x41544C4C
	// Version1 is the first protocol version.
	Version1 uint16 = 1
	// Version2 adds credit-based flow control: the Welcome's window_msgs
	// and window_bytes bound the Multicast and Send requests a client
	// has unanswered (docs/PROTOCOL.md, "Back-pressure and flow control").
	Version2 uint16 = 2
	// Version3 lets the agent hold the OK of an accepted Multicast or
	// Send whose message comes back to the session (the client is a
	// member of one of its groups) until it writes the session's next
	// other frame, at most a quarter of the window's messages or bytes:
	// the OK and the delivery then reach the client in one write, and the
	// client wakes once (docs/PROTOCOL.md, "Versioning"). Frames are
	// those of version 2.
	Version3 uint16 = 3
	// MinVersion and MaxVersion are the versions this package speaks.
	MinVersion, MaxVersion = Version1, Version3
	// MaxHelloFrame bounds the length of a frame before the Welcome: a
	// peer that is not an Atoll client (an HTTP request, say) is refused
	// after four bytes.
	MaxHelloFrame = 4096
	// MaxFrame bounds the length of every frame of version 1 (type and
	// body): a 1 MiB message to 1,024 groups fits.
	MaxFrame = 2 << 20
	// LengthSize is the size of the length prefix.
	LengthSize = 4
)

// Type is a frame's type. Types below 0x80 go from the client to the
// agent; the others from the agent to the client.
type Type uint8

// Frame types.
const (
	// Client to agent.
	TypeHello      Type = 0x01
	TypeJoin       Type = 0x02
	TypeLeave      Type = 0x03
	TypeMulticast  Type = 0x04
	TypeSend       Type = 0x05
	TypeFlush      Type = 0x06
	TypeListGroups Type = 0x07
	TypeGetView    Type = 0x08
	TypePing       Type = 0x09

	// Agent to client.
	TypeWelcome   Type = 0x81
	TypeOK        Type = 0x82
	TypeError     Type = 0x83
	TypeView      Type = 0x84
	TypeMessage   Type = 0x85
	TypeLeft      Type = 0x86
	TypeWarning   Type = 0x87
	TypeGroupList Type = 0x88
	TypeViewReply Type = 0x89
	TypePong      Type = 0x8A
	TypeGoodbye   Type = 0x8F
)

var typeNames = map[Type]string{
	TypeHello: "hello", TypeJoin: "join", TypeLeave: "leave", TypeMulticast: "multicast",
	TypeSend: "send", TypeFlush: "flush", TypeListGroups: "list-groups", TypeGetView: "get-view",
	TypePing: "ping", TypeWelcome: "welcome", TypeOK: "ok", TypeError: "error", TypeView: "view",
	TypeMessage: "message", TypeLeft: "left", TypeWarning: "warning", TypeGroupList: "group-list",
	TypeViewReply: "view-reply", TypePong: "pong", TypeGoodbye: "goodbye",
}

func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "type(0x" + strconv.FormatUint(uint64(t), 16) + ")"
}

// Known reports whether t is a frame type of version 1.
func (t Type) Known() bool { _, ok := typeNames[t]; return ok }

// IsRequest reports whether t is a request: a client frame that carries a
// request id and gets exactly one reply.
func (t Type) IsRequest() bool { return t >= TypeJoin && t <= TypePing }

// Code is an error code of Error, Warning and Goodbye frames. Programs
// branch on it; the text that comes with it is for people.
type Code uint16

// Error codes.
const (
	// CodeBadName: a group, client or member name is empty, too long, or
	// holds whitespace or control characters (client names also ':').
	CodeBadName Code = 1
	// CodeNotMember: a leave of a group the client did not join.
	CodeNotMember Code = 2
	// CodeTooLarge: the message does not fit in one ring message.
	CodeTooLarge Code = 3
	// CodeDenied: the group's ACL does not allow this client to join or
	// send.
	CodeDenied Code = 4
	// CodeShuttingDown: the agent is stopping; it accepts no more
	// requests.
	CodeShuttingDown Code = 5
	// CodeBackpressure: too much is waiting to be sent; retry later.
	CodeBackpressure Code = 6
	// CodeProtocol: a malformed or unexpected frame; the connection ends.
	CodeProtocol Code = 7
	// CodeVersion: no protocol version in common; the connection ends.
	CodeVersion Code = 8
	// CodeNameInUse: another session of the agent uses the client name.
	CodeNameInUse Code = 9
	// CodeSlowConsumer: the client does not read its frames fast enough
	// (a Warning), or did not and was disconnected (a Goodbye).
	CodeSlowConsumer Code = 10
	// CodeInvalid: an argument is out of range (service level, number of
	// groups).
	CodeInvalid Code = 11
	// CodeInternal: the agent failed; the text says how.
	CodeInternal Code = 12
	// CodeSentElsewhere: a message of the client (an Error with req 0:
	// op, group, seq) was ordered, if at all, in a configuration of a
	// federation domain that the client's agent left when its site was
	// cut off: the members that stayed there may have delivered it, this
	// client's views do not, and the agent does not send it again.
	CodeSentElsewhere Code = 13
)

var codeNames = [...]string{"", "bad_name", "not_member", "too_large", "denied", "shutting_down",
	"backpressure", "protocol", "version", "name_in_use", "slow_consumer", "invalid", "internal", "sent_elsewhere"}

func (c Code) String() string {
	if int(c) < len(codeNames) && c > 0 {
		return codeNames[c]
	}
	return "code(" + strconv.Itoa(int(c)) + ")"
}

// Reason says why a group view changed (View frames).
const (
	ReasonJoin       uint8 = 1
	ReasonLeave      uint8 = 2
	ReasonDisconnect uint8 = 3
	ReasonNetwork    uint8 = 4
)

// Flag bits.
const (
	// FlagPointToPoint marks a Message frame of a point-to-point message:
	// it carries To instead of Groups.
	FlagPointToPoint uint8 = 1 << 0
	// FlagTransitional marks a transitional view.
	FlagTransitional uint8 = 1 << 0
	// FlagLast marks the last GroupList frame of a reply.
	FlagLast uint8 = 1 << 0
	// FlagFound says a ViewReply holds a view.
	FlagFound uint8 = 1 << 0
)

// View is a group view as View and ViewReply frames carry it.
type View struct {
	Group   string
	ID      string
	Flags   uint8 // FlagTransitional
	Reason  uint8 // ReasonJoin...ReasonNetwork; 0 in transitional views
	Members []string
	Joined  []string
	Left    []string
}

// GroupEntry is one group of a GroupList frame.
type GroupEntry struct {
	Group   string
	Members uint32
	ViewID  string
}

// Frame is one decoded frame. Type says which fields are used:
//
//	Hello      MinVersion, MaxVersion, Flags, Name (the requested client name, "" to let the agent choose)
//	Join       Req, Group
//	Leave      Req, Group
//	Multicast  Req, Svc, MsgType, Groups, Payload
//	Send       Req, Svc, MsgType, To, Payload
//	Flush, ListGroups, Ping   Req
//	GetView    Req, Group
//	Welcome    Version, Flags, Name (the member name "node:client"), Node, MaxMessage, MaxFrame, QueueFrames,
//	           and from Version2 on WindowMsgs, WindowBytes
//	OK         Req, Seq
//	Error      Req, Code, Op, Seq, Group, Text
//	View       View
//	Message    Flags8 (FlagPointToPoint), Svc, MsgType, Sender, Seq, Order, MsgID, Groups or To, Payload
//	Left       Group
//	Warning    Code, Queued, Limit, Text
//	GroupList  Req, Flags8 (FlagLast), Entries
//	ViewReply  Req, Flags8 (FlagFound), View (when found)
//	Pong       Req
//	Goodbye    Code, Text
type Frame struct {
	Type Type
	Req  uint32

	MinVersion, MaxVersion, Version uint16
	Flags                           uint32 // Hello and Welcome
	Flags8                          uint8  // Message, GroupList, ViewReply
	Name, Node                      string
	MaxMessage, MaxFrame            uint32
	QueueFrames                     uint32
	WindowMsgs, WindowBytes         uint32 // Welcome, version 2 and later

	Group   string
	Svc     uint8
	MsgType uint16
	Groups  []string
	To      string
	Payload []byte

	Sender string
	Seq    uint64
	Order  uint64
	MsgID  string
	// MsgIDBytes, when set, is encoded instead of MsgID: an encoder that
	// formats ids per message (the agent) spares a string each. Parse
	// never sets it.
	MsgIDBytes []byte

	Code          Code
	Op            Type
	Text          string
	View          View
	Queued, Limit uint32

	Entries []GroupEntry
}

// ErrMalformed is wrapped by every error of Parse and Reader.
var ErrMalformed = errors.New("clientproto: malformed frame")

// ---- encoding ----

// Append appends f, length prefix included, to b.
func Append(b []byte, f *Frame) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, byte(f.Type))
	switch f.Type {
	case TypeHello:
		b = binary.BigEndian.AppendUint32(b, Magic)
		b = binary.BigEndian.AppendUint16(b, f.MinVersion)
		b = binary.BigEndian.AppendUint16(b, f.MaxVersion)
		b = binary.BigEndian.AppendUint32(b, f.Flags)
		b = appendStr8(b, f.Name)
	case TypeJoin, TypeLeave, TypeGetView:
		b = binary.BigEndian.AppendUint32(b, f.Req)
		b = appendStr8(b, f.Group)
	case TypeMulticast:
		b = binary.BigEndian.AppendUint32(b, f.Req)
		b = append(b, f.Svc)
		b = binary.BigEndian.AppendUint16(b, f.MsgType)
		b = appendList(b, f.Groups)
		b = appendBytes32(b, f.Payload)
	case TypeSend:
		b = binary.BigEndian.AppendUint32(b, f.Req)
		b = append(b, f.Svc)
		b = binary.BigEndian.AppendUint16(b, f.MsgType)
		b = appendStr8(b, f.To)
		b = appendBytes32(b, f.Payload)
	case TypeFlush, TypeListGroups, TypePing, TypePong:
		b = binary.BigEndian.AppendUint32(b, f.Req)
	case TypeWelcome:
		b = binary.BigEndian.AppendUint32(b, Magic)
		b = binary.BigEndian.AppendUint16(b, f.Version)
		b = binary.BigEndian.AppendUint32(b, f.Flags)
		b = appendStr8(b, f.Name)
		b = appendStr8(b, f.Node)
		b = binary.BigEndian.AppendUint32(b, f.MaxMessage)
		b = binary.BigEndian.AppendUint32(b, f.MaxFrame)
		b = binary.BigEndian.AppendUint32(b, f.QueueFrames)
		if f.Version >= Version2 {
			b = binary.BigEndian.AppendUint32(b, f.WindowMsgs)
			b = binary.BigEndian.AppendUint32(b, f.WindowBytes)
		}
	case TypeOK:
		b = binary.BigEndian.AppendUint32(b, f.Req)
		b = binary.BigEndian.AppendUint64(b, f.Seq)
	case TypeError:
		b = binary.BigEndian.AppendUint32(b, f.Req)
		b = binary.BigEndian.AppendUint16(b, uint16(f.Code))
		b = append(b, byte(f.Op))
		b = binary.BigEndian.AppendUint64(b, f.Seq)
		b = appendStr8(b, f.Group)
		b = appendStr16(b, f.Text)
	case TypeView:
		b = appendView(b, &f.View)
	case TypeMessage:
		b = append(b, f.Flags8, f.Svc)
		b = binary.BigEndian.AppendUint16(b, f.MsgType)
		b = appendStr8(b, f.Sender)
		b = binary.BigEndian.AppendUint64(b, f.Seq)
		b = binary.BigEndian.AppendUint64(b, f.Order)
		if f.MsgIDBytes != nil {
			b = appendBytes8(b, f.MsgIDBytes)
		} else {
			b = appendStr8(b, f.MsgID)
		}
		if f.Flags8&FlagPointToPoint != 0 {
			b = appendStr8(b, f.To)
		} else {
			b = appendList(b, f.Groups)
		}
		b = appendBytes32(b, f.Payload)
	case TypeLeft:
		b = appendStr8(b, f.Group)
	case TypeWarning:
		b = binary.BigEndian.AppendUint16(b, uint16(f.Code))
		b = binary.BigEndian.AppendUint32(b, f.Queued)
		b = binary.BigEndian.AppendUint32(b, f.Limit)
		b = appendStr16(b, f.Text)
	case TypeGroupList:
		b = binary.BigEndian.AppendUint32(b, f.Req)
		b = append(b, f.Flags8)
		b = binary.BigEndian.AppendUint32(b, uint32(len(f.Entries)))
		for i := range f.Entries {
			e := &f.Entries[i]
			b = appendStr8(b, e.Group)
			b = binary.BigEndian.AppendUint32(b, e.Members)
			b = appendStr16(b, e.ViewID)
		}
	case TypeViewReply:
		b = binary.BigEndian.AppendUint32(b, f.Req)
		b = append(b, f.Flags8)
		if f.Flags8&FlagFound != 0 {
			b = appendView(b, &f.View)
		}
	case TypeGoodbye:
		b = binary.BigEndian.AppendUint16(b, uint16(f.Code))
		b = appendStr16(b, f.Text)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-LengthSize))
	return b
}

// appendStr8 appends a string of at most 255 bytes; longer strings are
// cut (callers validate names before encoding them).
func appendStr8(b []byte, s string) []byte {
	if len(s) > 255 {
		s = s[:255]
	}
	return append(append(b, byte(len(s))), s...)
}

// appendBytes8 is appendStr8 of bytes.
func appendBytes8(b, s []byte) []byte {
	if len(s) > 255 {
		s = s[:255]
	}
	return append(append(b, byte(len(s))), s...)
}

// appendStr16 appends a string of at most 65,535 bytes, cutting longer
// ones (texts only).
func appendStr16(b []byte, s string) []byte {
	if len(s) > 0xFFFF {
		s = s[:0xFFFF]
	}
	return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...)
}

func appendBytes32(b, p []byte) []byte {
	return append(binary.BigEndian.AppendUint32(b, uint32(len(p))), p...)
}

func appendList(b []byte, l []string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(l)))
	for _, s := range l {
		b = appendStr8(b, s)
	}
	return b
}

func appendView(b []byte, v *View) []byte {
	b = appendStr8(b, v.Group)
	b = appendStr16(b, v.ID)
	b = append(b, v.Flags, v.Reason)
	b = appendList(b, v.Members)
	b = appendList(b, v.Joined)
	return appendList(b, v.Left)
}

// ---- decoding ----

// Parse decodes one frame from b: its type and body, without the length
// prefix. The frame's strings are copies; Payload aliases b.
func Parse(b []byte) (Frame, error) {
	var f Frame
	err := parse(&f, b, nil)
	return f, err
}

// parse is Parse into f, which must be zero, with the names of members and
// groups taken from names when it is not nil.
func parse(f *Frame, b []byte, names *names) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty frame (no type byte)", ErrMalformed)
	}
	f.Type = Type(b[0])
	r := reader{b: b[1:], t: f.Type, names: names}
	switch f.Type {
	case TypeHello:
		r.magic()
		f.MinVersion = r.u16("min_version")
		f.MaxVersion = r.u16("max_version")
		f.Flags = r.u32("flags")
		f.Name = r.str8("name")
	case TypeJoin, TypeLeave, TypeGetView:
		f.Req = r.u32("req")
		f.Group = r.str8("group")
	case TypeMulticast:
		f.Req = r.u32("req")
		f.Svc = r.u8("svc")
		f.MsgType = r.u16("msg_type")
		f.Groups = r.nameList("groups")
		f.Payload = r.bytes32("payload")
	case TypeSend:
		f.Req = r.u32("req")
		f.Svc = r.u8("svc")
		f.MsgType = r.u16("msg_type")
		f.To = r.str8("to")
		f.Payload = r.bytes32("payload")
	case TypeFlush, TypeListGroups, TypePing, TypePong:
		f.Req = r.u32("req")
	case TypeWelcome:
		r.magic()
		f.Version = r.u16("version")
		f.Flags = r.u32("flags")
		f.Name = r.str8("member")
		f.Node = r.str8("node")
		f.MaxMessage = r.u32("max_message")
		f.MaxFrame = r.u32("max_frame")
		f.QueueFrames = r.u32("queue_frames")
		if f.Version >= Version2 {
			f.WindowMsgs = r.u32("window_msgs")
			f.WindowBytes = r.u32("window_bytes")
		}
	case TypeOK:
		f.Req = r.u32("req")
		f.Seq = r.u64("seq")
	case TypeError:
		f.Req = r.u32("req")
		f.Code = Code(r.u16("code"))
		f.Op = Type(r.u8("op"))
		f.Seq = r.u64("seq")
		f.Group = r.str8("group")
		f.Text = r.str16("text")
	case TypeView:
		r.view(&f.View)
	case TypeMessage:
		f.Flags8 = r.flags("flags", FlagPointToPoint)
		f.Svc = r.u8("svc")
		f.MsgType = r.u16("msg_type")
		f.Sender = r.name("sender")
		f.Seq = r.u64("seq")
		f.Order = r.u64("order")
		f.MsgID = r.msgID()
		if f.Flags8&FlagPointToPoint != 0 {
			f.To = r.name("to")
		} else {
			f.Groups = r.nameList("groups")
		}
		f.Payload = r.bytes32("payload")
	case TypeLeft:
		f.Group = r.str8("group")
	case TypeWarning:
		f.Code = Code(r.u16("code"))
		f.Queued = r.u32("queued")
		f.Limit = r.u32("limit")
		f.Text = r.str16("text")
	case TypeGroupList:
		f.Req = r.u32("req")
		f.Flags8 = r.flags("flags", FlagLast)
		// Each entry takes at least 7 bytes.
		n := r.count("entries", 7)
		if n > 0 {
			f.Entries = make([]GroupEntry, n)
		}
		for i := 0; i < n && r.err == nil; i++ {
			e := &f.Entries[i]
			e.Group = r.str8("entries.group")
			e.Members = r.u32("entries.members")
			e.ViewID = r.str16("entries.view_id")
		}
	case TypeViewReply:
		f.Req = r.u32("req")
		f.Flags8 = r.flags("flags", FlagFound)
		if f.Flags8&FlagFound != 0 {
			r.view(&f.View)
		}
	case TypeGoodbye:
		f.Code = Code(r.u16("code"))
		f.Text = r.str16("text")
	default:
		return fmt.Errorf("%w: unknown frame type 0x%02x", ErrMalformed, b[0])
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail("", "%d bytes after the last field", len(r.b))
	}
	return r.err
}

type reader struct {
	b     []byte
	t     Type
	err   error
	names *names
}

// names holds the member and group names a Reader has decoded, so that a
// stream of messages among the same members and groups does not allocate
// its names again and again.
type names struct {
	m      map[string]string
	recent [maxRecent]string // the last names get returned, compared before m is looked up
	next   int               // the entry of recent replaced next
	share  bool              // nameList returns last for the same names (Reader.SetShareLists)
	last   []string          // the last list nameList made
	ids    []byte            // the block the last message ids were copied into (id)
}

// maxRecent is how many of the names it returned last names.get compares
// a name with before it looks it up in its map: the senders of a ring of a
// few nodes and their groups, whose names come again and again. Looking
// them up in the map was about 3 % of a client's CPU at full load through
// a ring of three.
const maxRecent = 4

// idBlock is the size of the blocks a Reader copies message ids into: a
// message's id (node/incarnation/counter, about 30 bytes) is unique, so
// it cannot be shared as names are, and a string of its own for each
// message was the one allocation left per message a client receives
// with WithMessageReuse.
const idBlock = 1 << 10

// id returns b (a str8's bytes: at most 255) as a string in the current
// block of ids, starting a new block when b does not fit. A block's bytes
// are written once, before the string that holds them exists, and never
// again: the strings are as immutable as any. An id kept holds its block
// (idBlock bytes).
func (n *names) id(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(n.ids)-len(n.ids) < len(b) {
		n.ids = make([]byte, 0, idBlock)
	}
	start := len(n.ids)
	n.ids = append(n.ids, b...)
	return unsafe.String(&n.ids[start], len(b))
}

// msgID reads a message's id, a str8: in the Reader's blocks of ids
// (names.id) when it has some.
func (r *reader) msgID() string {
	if r.names == nil {
		return r.str8("msg_id")
	}
	p := r.take("msg_id", int(r.u8("msg_id")))
	if r.err != nil {
		return ""
	}
	return r.names.id(p)
}

// maxNames bounds the names kept: past it they are forgotten and learnt
// again.
const maxNames = 4096

func (n *names) get(b []byte) string {
	for _, s := range n.recent {
		if s == string(b) {
			return s
		}
	}
	s, ok := n.m[string(b)]
	if !ok {
		if n.m == nil || len(n.m) >= maxNames {
			n.m = make(map[string]string)
		}
		s = string(b)
		n.m[s] = s
	}
	n.recent[n.next] = s
	n.next = (n.next + 1) % maxRecent
	return s
}

// name reads a str8 that names a member or group.
func (r *reader) name(field string) string {
	if r.names == nil {
		return r.str8(field)
	}
	p := r.take(field, int(r.u8(field)))
	if r.err != nil {
		return ""
	}
	return r.names.get(p)
}

// nameList reads a list of names (name).
func (r *reader) nameList(field string) []string {
	n := r.count(field, 1)
	if n == 0 || r.err != nil {
		return nil
	}
	if r.names != nil && r.names.share && n == len(r.names.last) {
		save, same := r.b, true
		for _, s := range r.names.last {
			if string(r.take(field, int(r.u8(field)))) != s || r.err != nil {
				same = false
				break
			}
		}
		if r.err != nil {
			return nil
		}
		if same {
			return r.names.last
		}
		r.b = save
	}
	l := make([]string, n)
	for i := range l {
		l[i] = r.name(field)
	}
	if r.err != nil {
		return nil
	}
	if r.names != nil && r.names.share {
		r.names.last = l
	}
	return l
}

func (r *reader) fail(field, format string, args ...any) {
	if r.err == nil {
		where := r.t.String() + " frame"
		if field != "" {
			where += ": " + field
		}
		r.err = fmt.Errorf("%w: %s: %s", ErrMalformed, where, fmt.Sprintf(format, args...))
	}
	r.b = nil
}

func (r *reader) need(field string, n int) bool {
	if r.err != nil {
		return false
	}
	if len(r.b) < n {
		r.fail(field, "truncated: %d bytes left, %d needed", len(r.b), n)
		return false
	}
	return true
}

// take consumes the next n bytes of the frame and returns them, or
// returns nil, having failed, when fewer are left.
func (r *reader) take(field string, n int) []byte {
	if !r.need(field, n) {
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8(field string) uint8 {
	if p := r.take(field, 1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16(field string) uint16 {
	if p := r.take(field, 2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32(field string) uint32 {
	if p := r.take(field, 4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64(field string) uint64 {
	if p := r.take(field, 8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *reader) magic() {
	if m := r.u32("magic"); r.err == nil && m != Magic {
		r.fail("magic", "0x%08x, want 0x%08x (\"ATLL\"): the peer does not speak the Atoll client protocol", m, Magic)
	}
}

// flags reads a flag byte and refuses bits outside known.
func (r *reader) flags(field string, known uint8) uint8 {
	v := r.u8(field)
	if r.err == nil && v&^known != 0 {
		r.fail(field, "unknown bits 0x%02x", v&^known)
	}
	return v
}

func (r *reader) str8(field string) string { return string(r.take(field, int(r.u8(field)))) }

func (r *reader) str16(field string) string { return string(r.take(field, int(r.u16(field)))) }

func (r *reader) bytes32(field string) []byte {
	n := r.u32(field)
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)) {
		r.fail(field, "length %d exceeds the %d bytes left", n, len(r.b))
		return nil
	}
	return r.take(field, int(n))
}

// count reads a u32 item count whose items take at least min bytes each,
// so that a bogus count cannot make the decoder allocate more than its
// input.
func (r *reader) count(field string, min int) int {
	n := r.u32(field)
	if r.err != nil {
		return 0
	}
	if uint64(n)*uint64(min) > uint64(len(r.b)) {
		r.fail(field, "count %d exceeds what the %d bytes left can hold", n, len(r.b))
		return 0
	}
	return int(n)
}

func (r *reader) list(field string) []string {
	n := r.count(field, 1)
	if n == 0 || r.err != nil {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = r.str8(field)
	}
	if r.err != nil {
		return nil
	}
	return l
}

func (r *reader) view(v *View) {
	v.Group = r.str8("view.group")
	v.ID = r.str16("view.id")
	v.Flags = r.flags("view.flags", FlagTransitional)
	v.Reason = r.u8("view.reason")
	v.Members = r.list("view.members")
	v.Joined = r.list("view.joined")
	v.Left = r.list("view.left")
}
