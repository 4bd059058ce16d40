package groups

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/atoll-gcs/atoll/localring"
)

// The wire format of group messages inside ring payloads. Every group
// message starts with a magic byte and a kind:
//
//	magic  0xA7
//	kind   1 join, 2 leave, 3 disconnect, 4 acl, 5 multicast, 6 unicast, 7 report
//
// Requests and messages (kinds 1–6) continue with
//
//	epoch  8 bytes, big endian: the sender's state epoch when it handed the
//	       message to the ring (patched in place, see Node.pump)
//	seq    uvarint: the sender node's sequence number
//	client str8: the sending client
//
// and then, by kind:
//
//	join, leave  group str8
//	disconnect   nothing
//	acl          group str8, acl
//	multicast    type u16, count uvarint (1..MaxGroupsPerMessage), groups str8..., data (the rest)
//	unicast      type u16, to str8 ("node:client"), data (the rest)
//
// A report (kind 7) carries one node's part of a state exchange:
//
//	conf   str8: the regular configuration of the exchange
//	part   uvarint, last byte (0 or 1)
//	groups count uvarint, each: name str8, count uvarint (>= 1), each member: client str8, stamp
//	ops    count uvarint, each: kind byte, client str8, group str8 (not for disconnect), acl (acl only)
//	acls   count uvarint, each: group str8, stamp, acl
//
// with stamp = four uvarints: the ring, packet sequence number and index
// of a localring.Order (the index below 2^32), then sub;
// acl = three lists (join, send, admin), each a count uvarint (at
// most MaxACLPatterns) of str8 patterns, and str8 = one length byte and
// that many bytes. Integers are canonical (minimal uvarints, 0 or 1 for
// flags) and names are checked as the API checks them, so that a payload
// that decodes re-encodes to the same bytes.

const wireMagic = 0xA7

type kind uint8

const (
	kindJoin kind = 1 + iota
	kindLeave
	kindDisconnect
	kindACL
	kindMulticast
	kindUnicast
	kindReport
)

var kindNames = [...]string{"", "join", "leave", "disconnect", "acl", "multicast", "unicast", "report", "stub"}

func (k kind) String() string {
	if int(k) < len(kindNames) && k > 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func (k kind) isOp() bool { return k >= kindJoin && k <= kindACL }

// epochAt is the offset of the epoch in requests and messages.
const epochAt = 2

// wireMsg is one decoded group message.
type wireMsg struct {
	kind   kind
	epoch  uint64
	seq    uint64
	client string
	group  string   // join, leave, acl
	acl    ACL      // acl
	mtype  uint16   // multicast, unicast
	groups []string // multicast
	to     string   // unicast
	data   []byte   // multicast, unicast
	rep    *report  // report

	ci *clientInfo // the sender's client, when parsing found it known (parseWireInto's clients)
}

// stamp orders members by join time and ACLs by age: the ring order of the
// request that made them, and for requests applied together at a state
// exchange, their rank there.
type stamp struct {
	order localring.Order
	sub   uint64
}

func (a stamp) less(b stamp) bool {
	if c := a.order.Compare(b.order); c != 0 {
		return c < 0
	}
	return a.sub < b.sub
}

// stampSize is the most bytes a stamp takes on the wire.
const stampSize = 4 * binary.MaxVarintLen64

func appendStamp(b []byte, st stamp) []byte {
	b = binary.AppendUvarint(b, st.order.Ring)
	b = binary.AppendUvarint(b, st.order.Seq)
	b = binary.AppendUvarint(b, uint64(st.order.Index))
	return binary.AppendUvarint(b, st.sub)
}

func (r *reader) stamp() stamp {
	var st stamp
	st.order.Ring = r.uvarint()
	st.order.Seq = r.uvarint()
	if i := r.uvarint(); i > math.MaxUint32 {
		r.fail("stamp index %d above 2^32", i)
	} else {
		st.order.Index = uint32(i)
	}
	st.sub = r.uvarint()
	return st
}

// report is one node's part of a state exchange: its own members, the
// requests of its own clients it accepted in a transitional configuration
// (applied after the exchange), and every ACL it knows.
type report struct {
	conf   string
	part   uint64
	last   bool
	groups []reportGroup
	ops    []wireMsg // kind, client, group and acl only
	acls   []reportACL
	// groupParts holds the groups of each part received, after groups,
	// in a report onReport assembles.
	groupParts [][]reportGroup
}

type reportGroup struct {
	name    string
	members []reportMember
}

type reportMember struct {
	client string
	st     stamp
}

type reportACL struct {
	group string
	st    stamp
	acl   ACL
}

// IsGroupPayload reports whether a ring payload is a group message (it may
// still be malformed).
func IsGroupPayload(p []byte) bool { return len(p) >= 2 && p[0] == wireMagic }

// IsReport reports whether a ring payload is a node's report of a state
// exchange rather than a client's request or message: a driver that holds
// back client traffic while a configuration settles lets reports through.
func IsReport(p []byte) bool { return IsGroupPayload(p) && kind(p[1]) == kindReport }

// appendHeader encodes a multicast or point-to-point message m after b
// without its data, which follows the header in the encoding (append).
func (m *wireMsg) appendHeader(b []byte) []byte {
	b = append(b, wireMagic, byte(m.kind))
	b = binary.BigEndian.AppendUint64(b, m.epoch)
	b = binary.AppendUvarint(b, m.seq)
	b = appendStr8(b, m.client)
	b = binary.BigEndian.AppendUint16(b, m.mtype)
	if m.kind == kindUnicast {
		return appendStr8(b, m.to)
	}
	b = binary.AppendUvarint(b, uint64(len(m.groups)))
	for _, g := range m.groups {
		b = appendStr8(b, g)
	}
	return b
}

// MulticastRoom is the room MulticastIn needs before a payload for the
// header of a multicast of client to groups: at most this many bytes.
func MulticastRoom(client string, groups []string) int {
	n := 2 + 8 + binary.MaxVarintLen64 + 1 + len(client) + 2 + binary.MaxVarintLen64
	for _, g := range groups {
		n += 1 + len(g)
	}
	return n
}

// append encodes m after b.
func (m *wireMsg) append(b []byte) []byte {
	b = append(b, wireMagic, byte(m.kind))
	if m.kind == kindReport {
		return m.rep.append(b)
	}
	b = binary.BigEndian.AppendUint64(b, m.epoch)
	b = binary.AppendUvarint(b, m.seq)
	b = appendStr8(b, m.client)
	switch m.kind {
	case kindJoin, kindLeave:
		b = appendStr8(b, m.group)
	case kindACL:
		b = appendStr8(b, m.group)
		b = appendACL(b, &m.acl)
	case kindMulticast:
		b = binary.BigEndian.AppendUint16(b, m.mtype)
		b = binary.AppendUvarint(b, uint64(len(m.groups)))
		for _, g := range m.groups {
			b = appendStr8(b, g)
		}
		b = append(b, m.data...)
	case kindUnicast:
		b = binary.BigEndian.AppendUint16(b, m.mtype)
		b = appendStr8(b, m.to)
		b = append(b, m.data...)
	}
	return b
}

func (rep *report) append(b []byte) []byte {
	b = appendStr8(b, rep.conf)
	b = binary.AppendUvarint(b, rep.part)
	if rep.last {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(rep.groups)))
	for _, g := range rep.groups {
		b = appendStr8(b, g.name)
		b = binary.AppendUvarint(b, uint64(len(g.members)))
		for _, m := range g.members {
			b = appendStr8(b, m.client)
			b = appendStamp(b, m.st)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(rep.ops)))
	for i := range rep.ops {
		op := &rep.ops[i]
		b = append(b, byte(op.kind))
		b = appendStr8(b, op.client)
		if op.kind != kindDisconnect {
			b = appendStr8(b, op.group)
		}
		if op.kind == kindACL {
			b = appendACL(b, &op.acl)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(rep.acls)))
	for i := range rep.acls {
		a := &rep.acls[i]
		b = appendStr8(b, a.group)
		b = appendStamp(b, a.st)
		b = appendACL(b, &a.acl)
	}
	return b
}

// reportMemberSize is an upper bound of one member's encoding.
func reportMemberSize(client string) int { return 1 + len(client) + stampSize }

func appendStr8(b []byte, s string) []byte {
	if len(s) > 255 {
		panic(fmt.Sprintf("groups: encoding a %d-byte name", len(s))) // checked by every caller
	}
	return append(append(b, byte(len(s))), s...)
}

func appendACL(b []byte, a *ACL) []byte {
	for _, l := range [...][]string{a.Join, a.Send, a.Admin} {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, p := range l {
			b = appendStr8(b, p)
		}
	}
	return b
}

func aclSize(a *ACL) int {
	n := 3 * binary.MaxVarintLen64
	for _, l := range [...][]string{a.Join, a.Send, a.Admin} {
		for _, p := range l {
			n += 1 + len(p)
		}
	}
	return n
}

// parseWire decodes a group message. The result may reference p (the data
// of messages), which must not change afterwards.
func parseWire(p []byte) (wireMsg, error) { return parseWireIntern(p, nil, nil) }

// parseWireIntern is parseWire that takes group names from known and the
// client's name from clients (when not nil): it returns the stored copy of
// a name it knows, so that decoding a message of a known client to known
// groups allocates no names.
func parseWireIntern(p []byte, known func([]byte) (string, bool), clients map[string]*clientInfo) (wireMsg, error) {
	return parseWireInto(p, known, clients, nil)
}

// parseWireInto is parseWireIntern that reads a multicast's groups into
// gs (a list of its own when gs is nil): the caller that passes gs copies
// them before it passes gs again.
func parseWireInto(p []byte, known func([]byte) (string, bool), clients map[string]*clientInfo, gs []string) (wireMsg, error) {
	r := reader{b: p, known: known, clients: clients}
	var m wireMsg
	if r.byte() != wireMagic {
		return m, fmt.Errorf("%w: not a group message", ErrMalformed)
	}
	m.kind = kind(r.byte())
	if m.kind == kindReport {
		rep := new(report)
		rep.parse(&r)
		if r.err == nil && len(r.b) != 0 {
			r.fail("%d trailing bytes after a report", len(r.b))
		}
		m.rep = rep
		return m, r.done()
	}
	if m.kind < kindJoin || m.kind > kindUnicast {
		r.fail("unknown kind %d", m.kind)
		return m, r.done()
	}
	m.epoch = r.u64()
	m.seq = r.uvarint()
	m.client, m.ci = r.clientInfo()
	switch m.kind {
	case kindJoin, kindLeave:
		m.group = r.name(MaxGroupName, true, "group")
	case kindACL:
		m.group = r.name(MaxGroupName, true, "group")
		m.acl = r.acl()
	case kindMulticast:
		m.mtype = r.u16()
		n := r.count(MaxGroupsPerMessage)
		if r.err == nil && n == 0 {
			r.fail("a multicast without groups")
		}
		if r.err == nil {
			m.groups = gs[:0]
			if gs == nil {
				m.groups = make([]string, 0, n)
			}
			for i := 0; i < n && r.err == nil; i++ {
				m.groups = append(m.groups, r.group())
			}
		}
		m.data = r.rest()
	case kindUnicast:
		m.mtype = r.u16()
		m.to = r.str8()
		if r.err == nil {
			if _, _, err := SplitMember(m.to); err != nil {
				r.fail("bad destination %q", m.to)
			}
		}
		m.data = r.rest()
	case kindDisconnect:
		if r.err == nil && len(r.b) != 0 {
			r.fail("%d trailing bytes", len(r.b))
		}
	}
	if m.kind.isOp() && m.kind != kindDisconnect && r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return m, r.done()
}

func (rep *report) parse(r *reader) {
	rep.conf = r.str8()
	if r.err == nil && rep.conf == "" {
		r.fail("a report without a configuration")
	}
	rep.part = r.uvarint()
	switch r.byte() {
	case 0:
	case 1:
		rep.last = true
	default:
		r.fail("bad last flag")
	}
	n := r.count(len(r.b))
	if r.err == nil && n > 0 {
		rep.groups = make([]reportGroup, 0, n) // count bounds n by the bytes left
	}
	for i := 0; i < n && r.err == nil; i++ {
		g := reportGroup{name: r.name(MaxGroupName, true, "group")}
		k := r.count(len(r.b))
		if r.err == nil && k == 0 {
			r.fail("group %q without members", g.name)
		}
		if r.err == nil && k > 0 {
			g.members = make([]reportMember, 0, k)
		}
		for j := 0; j < k && r.err == nil; j++ {
			g.members = append(g.members, reportMember{client: r.name(MaxClientName, false, "client"), st: r.stamp()})
		}
		rep.groups = append(rep.groups, g)
	}
	n = r.count(len(r.b))
	for i := 0; i < n && r.err == nil; i++ {
		op := wireMsg{kind: kind(r.byte())}
		if !op.kind.isOp() {
			r.fail("unknown request kind %d", op.kind)
			break
		}
		op.client = r.name(MaxClientName, false, "client")
		if op.kind != kindDisconnect {
			op.group = r.name(MaxGroupName, true, "group")
		}
		if op.kind == kindACL {
			op.acl = r.acl()
		}
		rep.ops = append(rep.ops, op)
	}
	n = r.count(len(r.b))
	for i := 0; i < n && r.err == nil; i++ {
		a := reportACL{group: r.name(MaxGroupName, true, "group"), st: r.stamp()}
		a.acl = r.acl()
		rep.acls = append(rep.acls, a)
	}
}

// reader decodes with a sticky error: after the first failure every read
// returns zero values.
type reader struct {
	b       []byte
	err     error
	known   func([]byte) (string, bool)
	clients map[string]*clientInfo
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
	r.b = nil
}

func (r *reader) done() error { return r.err }

// take consumes the next n bytes and returns them, or returns nil, having
// failed, when fewer are left.
func (r *reader) take(n int) []byte {
	if len(r.b) < n {
		r.fail("truncated: %d bytes left, %d needed", len(r.b), n)
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) byte() byte {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if p := r.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	if n != uvarintLen(v) {
		r.fail("non-minimal varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// count reads a count of items that each take at least one byte, so that
// a bogus count cannot make the decoder allocate more than the input.
func (r *reader) count(max int) int {
	v := r.uvarint()
	if r.err != nil {
		return 0
	}
	if v > uint64(max) || v > uint64(len(r.b)) {
		r.fail("count %d too large", v)
		return 0
	}
	return int(v)
}

func (r *reader) str8() string { return string(r.take(int(r.byte()))) }

func (r *reader) name(max int, colonOK bool, what string) string {
	s := r.str8()
	if r.err == nil && !validName(s, max, colonOK) {
		r.fail("bad %s name %q", what, s)
	}
	return s
}

// group reads a group name, taking the stored copy of a known one.
func (r *reader) group() string {
	if r.known != nil && len(r.b) > 0 && int(r.b[0]) < len(r.b) {
		if s, ok := r.known(r.b[1 : 1+int(r.b[0])]); ok {
			r.b = r.b[1+len(s):]
			return s
		}
	}
	return r.name(MaxGroupName, true, "group")
}

// clientInfo reads a client name, taking the stored copy of a known one,
// which it returns too (nil for a name it does not know).
func (r *reader) clientInfo() (string, *clientInfo) {
	if r.clients != nil && len(r.b) > 0 && int(r.b[0]) < len(r.b) {
		if c := r.clients[string(r.b[1:1+int(r.b[0])])]; c != nil {
			r.b = r.b[1+len(c.name):]
			return c.name, c
		}
	}
	return r.name(MaxClientName, false, "client"), nil
}

func (r *reader) acl() ACL {
	var a ACL
	for _, l := range [...]*[]string{&a.Join, &a.Send, &a.Admin} {
		n := r.count(MaxACLPatterns)
		for i := 0; i < n && r.err == nil; i++ {
			*l = append(*l, r.name(MaxPattern, true, "pattern"))
		}
	}
	return a
}

func (r *reader) rest() []byte {
	if r.err != nil {
		return nil
	}
	b := r.b
	r.b = nil
	return b
}
