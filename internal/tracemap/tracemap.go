// Package tracemap maps ring and group events to the lines of EVS.md's
// trace, once for every writer of traces: the agent (--trace), the ring
// simulator (localring/sim), its group runs and the group layer's tests.
// Writers own the output (a file, a slice); this package only decides what
// a line says, so that traces of agents and simulators compare and the
// checker (package evs) judges them all alike.
//
// The mapping:
//
//   - a configuration install is an install line (conf object);
//   - a send or delivery is a send or deliver line with the message id,
//     the service level, the groups (group messages), the payload's Hash
//     and, on deliveries of Agreed and Safe messages, the order number;
//   - a group view is a view line (evs.View writes joined and left also
//     when empty), with a reason only for regular views;
//   - protocol notices (token lost, gather) and group rejections have no
//     line.
//
// Numbers stay exact for readers with 53-bit numbers (JavaScript,
// jq): `order` is localring.Order.Position, the position within the ring
// the message was sent in (see localring's "The trace's order field": it
// is omitted past 2^43 packets in one ring, where it would stop being
// exact), and `inc` is an incarnation from seal.NextIncarnation, which
// counts microseconds and stays below 2^53 until the year 2255. A writer
// of a federation domain of the hierarchy, where messages have a
// localring.DomainOrder, maps the event here and replaces the line's Order
// with DomainOrder(o); evs.Options.DomainOrder then checks it across
// configurations.
package tracemap

import (
	"hash/crc32"
	"strconv"

	"github.com/atoll-gcs/atoll/evs"
	"github.com/atoll-gcs/atoll/groups"
	"github.com/atoll-gcs/atoll/localring"
)

// Proc names the process whose events are mapped: the fields every line of
// its trace carries.
type Proc struct {
	Node   string // the node id from the topology
	Inc    uint64 // the node's incarnation
	Domain string // "site/<name>" or "fed/<name>"
}

func (p Proc) line(ev string) evs.Event {
	return evs.Event{Ev: ev, Node: p.Node, Inc: p.Inc, Domain: p.Domain}
}

// Ring returns the trace line of a ring event, and false for events that
// have none (protocol notices).
func (p Proc) Ring(e *localring.Event) (evs.Event, bool) {
	switch e.Kind {
	case localring.EventInstall:
		return p.Install(e.Conf), true
	case localring.EventSend:
		return p.message(evs.EvSend, &e.Msg, nil), true
	case localring.EventDeliver:
		return p.message(evs.EvDeliver, &e.Msg, nil), true
	}
	return evs.Event{}, false
}

// Group returns the trace line of a group layer event, and false for
// events that have none (rejections, messages sent elsewhere).
func (p Proc) Group(e *groups.Event) (evs.Event, bool) {
	switch e.Kind {
	case groups.EventConf:
		return p.Install(e.Conf), true
	case groups.EventSent, groups.EventDeliver:
		m := e.Msg
		ev := evs.EvSend
		if e.Kind == groups.EventDeliver {
			ev = evs.EvDeliver
		}
		rm := localring.Message{ID: m.ID, Svc: m.Svc, Payload: m.Payload, Conf: m.Conf, Order: m.Order}
		l := p.message(ev, &rm, m.Groups)
		if m.Stub {
			// The node got a stub: the hash of the data it stands for.
			l.Hash = strconv.FormatUint(m.DataHash, 16)
		}
		return l, true
	case groups.EventView:
		return p.View(e.View), true
	}
	return evs.Event{}, false
}

// Install returns the install line of a configuration.
func (p Proc) Install(c *localring.Configuration) evs.Event {
	l := p.line(evs.EvInstall)
	l.Conf = &evs.Conf{ID: c.ID, Kind: c.Kind.String(), Members: c.MemberIDs()}
	l.ConfID = c.ID
	return l
}

// View returns the view line of a group view.
func (p Proc) View(v *groups.View) evs.Event {
	l := p.line(evs.EvView)
	l.Group = v.Group
	l.View = &evs.View{ID: v.ID, Members: v.Members, Joined: v.Joined, Left: v.Left, Transitional: v.Transitional}
	if !v.Transitional {
		l.View.Reason = v.Reason.String()
	}
	return l
}

func (p Proc) message(ev string, m *localring.Message, groups []string) evs.Event {
	l := p.line(ev)
	l.ConfID = m.Conf
	l.Msg = m.ID.String()
	l.Svc = m.Svc.String()
	l.Groups = groups
	l.Hash = Hash(m.Payload)
	if ev == evs.EvDeliver && m.Svc >= localring.Agreed {
		l.Order = Order(m.Order)
	}
	return l
}

// Order returns the trace's order number of a ring delivery: its position
// in the ring (localring.Order.Position), or 0 (no order field) where that
// would not be exact for a 53-bit reader.
func Order(o localring.Order) uint64 {
	n, _ := o.Position()
	return n
}

// DomainOrder returns the trace's order number of a delivery in a
// federation domain (localring.DomainOrder.Position), or 0 (no order field)
// where that would not be exact for a 53-bit reader.
func DomainOrder(o localring.DomainOrder) uint64 {
	n, _ := o.Position()
	return n
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Hash is the trace's hash of a payload: its CRC-32C and its length, in
// hex, so that a checker sees corrupted and truncated payloads.
func Hash(b []byte) string {
	return strconv.FormatUint(uint64(crc32.Checksum(b, castagnoli))<<32|uint64(uint32(len(b))), 16)
}
