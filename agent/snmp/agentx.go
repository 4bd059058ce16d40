package snmp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/posteo/go-agentx/pdu"
	"github.com/posteo/go-agentx/value"

	"github.com/atoll-gcs/atoll/agent"
)

// The AgentX protocol (RFC 2741) as a subagent speaks it, over one
// connection to the master agent. The PDUs the subagent sends are encoded
// by go-agentx's pdu package; the session itself (reading, dispatching,
// closing) is here, because go-agentx v0.2.1's Client panics, taking the
// whole process down, on a PDU it does not know (the testSet of an
// snmpset with a read-write community) and on a read error other than
// EOF; it reads a PDU with single Read calls, which may return part of
// one; and it shares its session map between goroutines without a lock.
// Everything the master sends is decoded here, its length checked first.

const (
	headerSize = 20
	// maxPayload bounds a PDU from the master: a request for a few
	// hundred OIDs takes a few kilobytes.
	maxPayload = 1 << 20
	// defaultPriority is RFC 2741's default registration priority.
	defaultPriority = 127
)

// SNMP error-status values the subagent answers with (RFC 3416).
const (
	errGenErr      pdu.Error = 5
	errNotWritable pdu.Error = 17
)

// header is a decoded AgentX PDU header.
type header struct {
	version byte
	typ     pdu.Type
	flags   pdu.Flags
	session uint32
	trans   uint32
	packet  uint32
	length  uint32
	order   binary.ByteOrder // the PDU's byte order, from its flags
}

// readPDU reads one PDU: its header and payload.
func readPDU(r io.Reader) (header, []byte, error) {
	var b [headerSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return header{}, nil, err
	}
	h := header{version: b[0], typ: pdu.Type(b[1]), flags: pdu.Flags(b[2]), order: binary.LittleEndian}
	if h.flags&pdu.FlagNetworkByteOrder != 0 {
		h.order = binary.BigEndian
	}
	h.session, h.trans, h.packet = h.order.Uint32(b[4:]), h.order.Uint32(b[8:]), h.order.Uint32(b[12:])
	h.length = h.order.Uint32(b[16:])
	if h.version != 1 {
		return h, nil, fmt.Errorf("AgentX PDU of version %d from the master agent; only version 1 (RFC 2741) exists", h.version)
	}
	if h.length > maxPayload || h.length%4 != 0 {
		return h, nil, fmt.Errorf("AgentX %s PDU from the master agent announces a payload of %d bytes: not a multiple of 4 up to %d", h.typ, h.length, maxPayload)
	}
	payload := make([]byte, h.length)
	if _, err := io.ReadFull(r, payload); err != nil {
		return h, nil, err
	}
	return h, payload, nil
}

var errShort = errors.New("truncated")

// decodeOID decodes an AgentX object identifier at the start of b and
// returns the rest of b.
func decodeOID(b []byte, order binary.ByteOrder) (oid value.OID, include bool, rest []byte, err error) {
	if len(b) < 4 {
		return nil, false, nil, errShort
	}
	n, prefix, inc := int(b[0]), b[1], b[2]
	if len(b) < 4+4*n {
		return nil, false, nil, errShort
	}
	if prefix != 0 {
		oid = append(oid, 1, 3, 6, 1, uint32(prefix))
	}
	for i := range n {
		oid = append(oid, order.Uint32(b[4+4*i:]))
	}
	return oid, inc != 0, b[4+4*n:], nil
}

// searchRange is one range of a Get, GetNext or GetBulk: from (included
// when include), up to to (excluded; empty for no bound).
type searchRange struct {
	from    value.OID
	include bool
	to      value.OID
}

// decodeRanges decodes a SearchRangeList.
func decodeRanges(b []byte, order binary.ByteOrder) ([]searchRange, error) {
	var out []searchRange
	for len(b) > 0 {
		var r searchRange
		var err error
		if r.from, r.include, b, err = decodeOID(b, order); err != nil {
			return nil, err
		}
		if r.to, _, b, err = decodeOID(b, order); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// skipContext skips the context of a PDU that has one.
func skipContext(h *header, b []byte) ([]byte, bool) {
	if h.flags&pdu.FlagNonDefaultContext == 0 {
		return b, true
	}
	if len(b) < 4 {
		return nil, false
	}
	n := int(h.order.Uint32(b))
	n = 4 + (n+3)/4*4
	if n > len(b) || n < 4 {
		return nil, false
	}
	return b[n:], true
}

// session is one AgentX session with the master agent.
type session struct {
	conn    net.Conn
	id      uint32 // given by the master in its answer to Open
	packet  uint32 // the last packet id the subagent used
	timeout time.Duration
	snaps   *snapshots
}

// send writes one PDU with the session's id.
func (s *session) send(h *pdu.Header, p pdu.Packet) error {
	h.SessionID = s.id
	b, err := (&pdu.HeaderPacket{Header: h, Packet: p}).MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode AgentX %s PDU: %w", p.Type(), err)
	}
	s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	if _, err := s.conn.Write(b); err != nil {
		return fmt.Errorf("send AgentX %s PDU: %w", p.Type(), err)
	}
	return nil
}

// request sends p and reads the master's answer, which must come next
// (the subagent asks only while no request of the master is pending: at
// Open and Register).
func (s *session) request(p pdu.Packet) (header, error) {
	s.packet++
	if err := s.send(&pdu.Header{PacketID: s.packet}, p); err != nil {
		return header{}, err
	}
	s.conn.SetReadDeadline(time.Now().Add(s.timeout))
	defer s.conn.SetReadDeadline(time.Time{})
	h, b, err := readPDU(s.conn)
	if err != nil {
		return h, fmt.Errorf("read the answer to AgentX %s: %w", p.Type(), err)
	}
	if h.typ != pdu.TypeResponse || h.packet != s.packet {
		return h, fmt.Errorf("the master agent answered AgentX %s with %s (packet %d, want a response to %d)", p.Type(), h.typ, h.packet, s.packet)
	}
	if len(b) < 8 {
		return h, fmt.Errorf("the master agent's response to AgentX %s is truncated", p.Type())
	}
	if e := pdu.Error(h.order.Uint16(b[4:])); e != pdu.ErrorNone {
		return h, &masterError{op: p.Type(), code: e}
	}
	return h, nil
}

// masterError is the master agent's refusal of a request.
type masterError struct {
	op   pdu.Type
	code pdu.Error
}

func (e *masterError) Error() string {
	msg := fmt.Sprintf("the master agent refused AgentX %s: %s", e.op, e.code)
	if e.code == pdu.ErrorDuplicateRegistration {
		msg += fmt.Sprintf(" (another subagent serves %s there already: a second Atoll agent on this host with the same master?)", Root)
	}
	return msg
}

// open opens the session and registers ATOLL-MIB's subtree.
func (s *session) open(descr string) error {
	o := &pdu.Open{}
	o.Timeout.Duration = s.timeout
	o.ID.SetIdentifier(Root)
	o.Description.Text = descr
	h, err := s.request(o)
	if err != nil {
		return err
	}
	s.id = h.session
	r := &pdu.Register{}
	r.Timeout.Priority = defaultPriority
	r.Subtree.SetIdentifier(Root)
	_, err = s.request(r)
	return err
}

// shutdown closes the session, telling the master the subagent shuts
// down (best effort: the master answers, but nothing waits for it).
func (s *session) shutdown() {
	s.packet++
	s.send(&pdu.Header{PacketID: s.packet}, &pdu.Close{Reason: pdu.ReasonShutdown})
	s.conn.Close()
}

// serve answers the master's requests until the connection fails, the
// master closes the session or ctx ends (nil then).
func (s *session) serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.conn.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		h, b, err := readPDU(s.conn)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the master agent closed the connection")
			}
			return err
		}
		if h.typ == pdu.TypeClose {
			return errors.New("the master agent closed the session")
		}
		resp, err := s.handle(ctx, &h, b)
		if err != nil {
			return err
		}
		if resp == nil {
			continue
		}
		rh := &pdu.Header{TransactionID: h.trans, PacketID: h.packet}
		if err := s.send(rh, resp); err != nil {
			return err
		}
	}
}

// handle answers one request of the master; nil when it needs no answer.
// An error ends the session.
func (s *session) handle(ctx context.Context, h *header, b []byte) (*pdu.Response, error) {
	resp := &pdu.Response{}
	switch h.typ {
	case pdu.TypeGet, pdu.TypeGetNext, pdu.TypeGetBulk:
	case pdu.TypeTestSet:
		// Every object is read-only: refuse the first varbind.
		resp.Error, resp.Index = errNotWritable, 1
		return resp, nil
	case pdu.TypeCommitSet, pdu.TypeUndoSet:
		resp.Error = errGenErr // never after a refused testSet
		return resp, nil
	case pdu.TypeCleanupSet, pdu.TypeResponse:
		return nil, nil // cleanupSet has no answer; a late response is ignored
	default:
		resp.Error = pdu.ErrorParse
		return resp, nil
	}
	b, ok := skipContext(h, b)
	if !ok {
		return nil, fmt.Errorf("malformed AgentX %s PDU from the master agent: truncated context", h.typ)
	}
	if h.flags&pdu.FlagNonDefaultContext != 0 {
		resp.Error = pdu.ErrorUnsupportedContext // registered in the default context only
		return resp, nil
	}
	var nonRep, maxRep int
	if h.typ == pdu.TypeGetBulk {
		if len(b) < 4 {
			return nil, fmt.Errorf("malformed AgentX %s PDU from the master agent: truncated", h.typ)
		}
		nonRep, maxRep = int(h.order.Uint16(b)), int(h.order.Uint16(b[2:]))
		b = b[4:]
	}
	ranges, err := decodeRanges(b, h.order)
	if err != nil {
		return nil, fmt.Errorf("malformed AgentX %s PDU from the master agent: %w", h.typ, err)
	}
	v, ok := s.snaps.view(ctx, h.typ, ranges)
	if !ok {
		resp.Error, resp.Index = errGenErr, 1
		return resp, nil
	}
	switch h.typ {
	case pdu.TypeGet:
		for _, r := range ranges {
			vb := v.get(r.from)
			resp.Variables.Add(vb.oid, vb.typ, vb.val)
		}
	case pdu.TypeGetNext:
		for _, r := range ranges {
			vb := v.next(r)
			resp.Variables.Add(vb.oid, vb.typ, vb.val)
		}
	case pdu.TypeGetBulk:
		for _, vb := range v.bulk(ranges, nonRep, maxRep) {
			resp.Variables.Add(vb.oid, vb.typ, vb.val)
		}
	}
	return resp, nil
}

// groupsTimeout bounds the wait for the agent's group table, well within
// the session's timeout at the master.
const groupsTimeout = 2 * time.Second

// needsGroups reports whether a request reaches the group layer.
func needsGroups(typ pdu.Type, ranges []searchRange) bool {
	for _, r := range ranges {
		if typ == pdu.TypeGet && hasPrefix(r.from, groupArc) ||
			typ != pdu.TypeGet && slices.Compare(r.from, groupEnd) < 0 && (len(r.to) == 0 || slices.Compare(r.to, groupArc) > 0) {
			return true
		}
	}
	return false
}

// snapshots reads the source for the requests and keeps what it read for
// a while (Config.CacheFor), so that a walk reads one consistent snapshot
// and a table of thousands of groups is built once, not once per row. It
// reads the group table only for requests that reach it. One session at a
// time uses it.
type snapshots struct {
	src    Source
	ttl    time.Duration
	log    *slog.Logger
	at     time.Time
	groups bool // cur holds the group layer
	cur    *mibView
}

// view returns the snapshot for a request. It fails when the agent does
// not answer for its groups (it is stopping, or its loop is stuck): that
// request fails with genErr, the session goes on.
func (c *snapshots) view(ctx context.Context, typ pdu.Type, ranges []searchRange) (*mibView, bool) {
	needGroups := needsGroups(typ, ranges)
	if c.cur != nil && time.Since(c.at) < c.ttl && (c.groups || !needGroups) {
		return c.cur, true
	}
	at := time.Now()
	st := c.src.Status()
	var groups []agent.GroupInfo
	if needGroups {
		gctx, cancel := context.WithTimeout(ctx, groupsTimeout)
		defer cancel()
		var err error
		if groups, err = c.src.Groups(gctx); err != nil {
			c.log.Debug("AgentX: cannot read the agent's groups; the request fails with genErr", "err", err)
			return nil, false
		}
		if groups == nil {
			groups = []agent.GroupInfo{}
		}
	}
	c.at, c.groups, c.cur = at, needGroups, &mibView{vbs: instances(&st, groups)}
	return c.cur, true
}

// mibView is ATOLL-MIB's instances for one request.
type mibView struct{ vbs []varbind }

// get returns oid's instance, or noSuchInstance/noSuchObject.
func (v *mibView) get(oid value.OID) varbind {
	i, found := slices.BinarySearchFunc(v.vbs, oid, func(vb varbind, o value.OID) int { return slices.Compare(vb.oid, o) })
	switch {
	case found:
		return v.vbs[i]
	case isObject(oid):
		return varbind{oid, pdu.VariableTypeNoSuchInstance, nil}
	}
	return varbind{oid, pdu.VariableTypeNoSuchObject, nil}
}

// next returns the first instance in r, or endOfMibView.
func (v *mibView) next(r searchRange) varbind {
	i, found := slices.BinarySearchFunc(v.vbs, r.from, func(vb varbind, o value.OID) int { return slices.Compare(vb.oid, o) })
	if found && !r.include {
		i++
	}
	if i < len(v.vbs) && (len(r.to) == 0 || slices.Compare(v.vbs[i].oid, r.to) < 0) {
		return v.vbs[i]
	}
	return varbind{r.from, pdu.VariableTypeEndOfMIBView, nil}
}

// bulk answers a GetBulk (RFC 2741 7.2.3.3): the first nonRep ranges
// once, the others up to maxRep times each, stopping early when all of
// them reached their end.
func (v *mibView) bulk(ranges []searchRange, nonRep, maxRep int) []varbind {
	nonRep = min(nonRep, len(ranges))
	var out []varbind
	for _, r := range ranges[:nonRep] {
		out = append(out, v.next(r))
	}
	rep := slices.Clone(ranges[nonRep:])
	for range maxRep {
		ended := true
		for j := range rep {
			vb := v.next(rep[j])
			out = append(out, vb)
			if vb.typ != pdu.VariableTypeEndOfMIBView {
				rep[j].from, rep[j].include, ended = vb.oid, false, false
			}
		}
		if ended {
			break
		}
	}
	return out
}
