package client

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/atoll-gcs/atoll/groups"
	cp "github.com/atoll-gcs/atoll/internal/clientproto"
	"github.com/atoll-gcs/atoll/localring"
)

// Service is a message's service level, as in Spread. The ring delivers
// every level in one total order; Safe also waits until every member's
// agent holds the message. See package groups for what each level
// promises.
type Service uint8

// Service levels; the same values as localring's.
const (
	Unreliable Service = 1 + iota
	Reliable
	FIFO
	Causal
	Agreed
	Safe
)

// Valid reports whether s is one of the six service levels.
func (s Service) Valid() bool { return localring.Service(s).Valid() }

func (s Service) String() string { return localring.Service(s).String() }

// MarshalText encodes the service level as its name.
func (s Service) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseService parses a service level's name ("agreed").
func ParseService(s string) (Service, error) {
	svc, err := localring.ParseService(s)
	if err != nil {
		return 0, fmt.Errorf("client: unknown service level %q: use unreliable, reliable, fifo, causal, agreed or safe", s)
	}
	return Service(svc), nil
}

// Reason says why a group's view changed.
type Reason uint8

// Reasons: the agent's group layer's (package groups), which the
// protocol carries as they are.
const (
	// ReasonJoin: members joined.
	ReasonJoin = Reason(groups.ReasonJoin)
	// ReasonLeave: a member left (Leave).
	ReasonLeave = Reason(groups.ReasonLeave)
	// ReasonDisconnect: a member's session ended, or its agent crashed and
	// came back.
	ReasonDisconnect = Reason(groups.ReasonDisconnect)
	// ReasonNetwork: the ring changed: a partition, a merge, an agent
	// that vanished.
	ReasonNetwork = Reason(groups.ReasonNetwork)
)

func (r Reason) String() string { return groups.Reason(r).String() }

// MarshalText encodes the reason as its name.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText decodes a reason's name, as MarshalText writes it. Any
// other text is an error, the number MarshalText writes for a reason
// without a name ("reason(9)") included: a View leaves the zero reason
// of a transitional view out of its JSON.
func (r *Reason) UnmarshalText(b []byte) error {
	for _, v := range []Reason{ReasonJoin, ReasonLeave, ReasonDisconnect, ReasonNetwork} {
		if v.String() == string(b) {
			*r = v
			return nil
		}
	}
	return fmt.Errorf("client: unknown view change reason %q: want join, leave, disconnect or network", b)
}

// View is one view of a group: its members, oldest first, so Members[0]
// is a natural leader. Every member receives the same views with the same
// ids in the same order, and a message in the same view at every member.
type View struct {
	Group string `json:"group"`
	// ID names the view: the same id has the same members everywhere.
	ID string `json:"id"`
	// Members are "node:client" names, ordered by join time.
	Members []string `json:"members"`
	// Joined and Left say what changed since the previous regular view
	// (empty in transitional views).
	Joined []string `json:"joined,omitempty"`
	Left   []string `json:"left,omitempty"`
	// Reason says why the view changed (zero in transitional views).
	Reason Reason `json:"reason,omitzero"`
	// Transitional views come first at a ring change: they list the
	// members that move on together; messages delivered until the next
	// regular view are delivered in the transitional one.
	Transitional bool `json:"transitional"`
}

// Leader returns the oldest member, or "" for an empty view.
func (v *View) Leader() string {
	if len(v.Members) == 0 {
		return ""
	}
	return v.Members[0]
}

// Message is a multicast or point-to-point message received.
type Message struct {
	// Sender is the sending member, "node:client".
	Sender string `json:"sender"`
	// Groups are the destination groups of a multicast; To is the
	// destination of a point-to-point message. One of the two is set.
	Groups []string `json:"groups,omitempty"`
	To     string   `json:"to,omitempty"`
	Svc    Service  `json:"svc"`
	// Type is the application's 16-bit message type.
	Type uint16 `json:"type"`
	// Seq is the sender agent's sequence number of the message.
	Seq uint64 `json:"seq"`
	// Order is the message's position in the total order of the ring it
	// was sent in (localring.Order.Position, the number EVS traces write):
	// it grows along the messages of one ring and starts again after a
	// configuration change; 0 where it would exceed 2^53, and where there
	// is none: a federation domain's message that its sender's site
	// delivers in its transitional configuration without the place the
	// other sites gave it (its gateway died as the site was cut off).
	Order uint64 `json:"order"`
	// ID is the ring message's id, "node/incarnation/counter". The IDs
	// of the messages the client reads share blocks of 1 KiB, so an ID
	// kept long holds its block (clone it with strings.Clone to keep it
	// alone).
	ID string `json:"id"`
	// Payload is the application's data, the message's own: the client
	// copies payloads of up to 4 KiB into shared 32 KiB blocks, so a
	// small payload kept long holds its block (copy it to keep it alone).
	Payload []byte `json:"payload"`
}

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	// EventView: a new view of a group the client is in (View).
	EventView EventKind = 1 + iota
	// EventMessage: a message for the client (Message).
	EventMessage
	// EventLeft: the client's own leave of Group took effect: nothing more
	// comes from the group.
	EventLeft
	// EventError: a request failed after it was accepted, or one nobody
	// waits for (a Multicast, a Send) failed; Err is an *Error that says
	// which (Op, Group, Seq) and why (Code). With CodeSentElsewhere it
	// tells of a message ordered, if at all, where this client's views
	// are not (see the code).
	EventError
	// EventWarning: the agent warns that this client does not read fast
	// enough (Err, an *Error with CodeSlowConsumer): read Events faster
	// or be disconnected.
	EventWarning
)

var eventNames = [...]string{"", "view", "message", "left", "error", "warning"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) && k > 0 {
		return eventNames[k]
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Event is something the agent tells the client, in the order it
// happened.
type Event struct {
	Kind    EventKind
	View    *View    // EventView
	Message *Message // EventMessage
	Group   string   // EventLeft; EventError when a group is concerned
	Err     error    // EventError, EventWarning
}

// Code is an error code of the protocol (docs/PROTOCOL.md): what a
// program branches on, with CodeOf or errors.Is against the Err values.
type Code uint16

// Error codes.
const (
	CodeBadName      = Code(cp.CodeBadName)
	CodeNotMember    = Code(cp.CodeNotMember)
	CodeTooLarge     = Code(cp.CodeTooLarge)
	CodeDenied       = Code(cp.CodeDenied)
	CodeShuttingDown = Code(cp.CodeShuttingDown)
	CodeBackpressure = Code(cp.CodeBackpressure)
	CodeProtocol     = Code(cp.CodeProtocol)
	CodeVersion      = Code(cp.CodeVersion)
	CodeNameInUse    = Code(cp.CodeNameInUse)
	CodeSlowConsumer = Code(cp.CodeSlowConsumer)
	CodeInvalid      = Code(cp.CodeInvalid)
	CodeInternal     = Code(cp.CodeInternal)
	// CodeSentElsewhere: an EventError for a message of this client
	// (Op, Group, Seq) that its agent's federation domain ordered, if at
	// all, in a configuration the agent had left when its site was cut
	// off from the domain. There the message counts as failed (docs/
	// EVS.md, 2.4): the members that stayed in that configuration may
	// have delivered it, no view of this client delivers it, and the
	// agent does not send it again. Flush counts it as done; send it
	// again if the members must have it (they may get it twice).
	CodeSentElsewhere = Code(cp.CodeSentElsewhere)
)

func (c Code) String() string { return cp.Code(c).String() }

// Error is an error the agent reported, or one the client found before
// asking the agent (a bad name, a message too large, a full send queue).
type Error struct {
	Code Code
	// Op is the request that failed: "join", "leave", "multicast",
	// "send", ... ("" when none: a goodbye).
	Op string
	// Group is the group concerned, if any.
	Group string
	// Seq is the sequence number of the message concerned, if any.
	Seq uint64
	// Text explains the error for people.
	Text string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("client: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		if e.Group != "" {
			b.WriteString(" " + strconv.Quote(e.Group))
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Code.String())
	if e.Text != "" {
		b.WriteString(": " + strings.TrimPrefix(e.Text, "groups: "))
	}
	return b.String()
}

// Is makes errors.Is(err, ErrDenied) (and the other Err values) match any
// *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Op == "" && t.Text == "" && t.Group == ""
}

// Values to compare errors with, errors.Is(err, client.ErrDenied): they
// match every *Error with their code.
var (
	ErrBadName       = &Error{Code: CodeBadName}
	ErrNotMember     = &Error{Code: CodeNotMember}
	ErrTooLarge      = &Error{Code: CodeTooLarge}
	ErrDenied        = &Error{Code: CodeDenied}
	ErrShuttingDown  = &Error{Code: CodeShuttingDown}
	ErrBackpressure  = &Error{Code: CodeBackpressure}
	ErrProtocol      = &Error{Code: CodeProtocol}
	ErrVersion       = &Error{Code: CodeVersion}
	ErrNameInUse     = &Error{Code: CodeNameInUse}
	ErrSlowConsumer  = &Error{Code: CodeSlowConsumer}
	ErrInvalid       = &Error{Code: CodeInvalid}
	ErrSentElsewhere = &Error{Code: CodeSentElsewhere}
)

// ErrClosed is returned by the methods of a Client after Close.
var ErrClosed = errors.New("client: closed")

// CodeOf returns the code of an *Error in err's chain, or 0.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// GroupInfo is one group as Groups lists it.
type GroupInfo struct {
	Group   string `json:"group"`
	Members int    `json:"members"`
	ViewID  string `json:"view_id"`
}

func opName(t cp.Type) string {
	switch t {
	case 0:
		return ""
	case cp.TypeListGroups:
		return "groups"
	case cp.TypeGetView:
		return "view"
	}
	return t.String()
}

func errorOf(f *cp.Frame) *Error {
	return &Error{Code: Code(f.Code), Op: opName(f.Op), Group: f.Group, Seq: f.Seq, Text: f.Text}
}
