package localring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Wire format. Every packet starts with a version byte and a type byte and
// ends with a CRC-32C of everything before it, checked before any field is
// parsed; integers are big-endian fixed width, counts and lengths are
// uvarints, and strings (node ids) are a uvarint length followed by the
// bytes. Packet
// security (authentication, encryption, replay protection) wraps these bytes
// in localring/seal before they reach the network; the core sees and
// produces plain packets.

// wireVersion names this layout. Version 2 added the members' arus and
// the eviction record to the token, version 3 the representative's
// incarnation to ring ids (a uvarint after the node id, 0 unless the ring
// sets Config.SharedIDs), version 4 the fence notice, version 5 the
// join's list of the members its sender does not hear; an older node's
// packets are refused as malformed with both versions named, instead of
// being misread.
const wireVersion = 5

type packetType uint8

const (
	ptMcast  packetType = 1 // a regular or recovery message packet
	ptToken  packetType = 2 // the regular token
	ptJoin   packetType = 3 // a join message of the membership protocol
	ptCommit packetType = 4 // the commit token
	ptMerge  packetType = 5 // the representative's merge-detect message
	ptWake   packetType = 6 // asks an idle representative to release the token
	ptIdle   packetType = 7 // the representative holds the token of an idle ring
	ptFence  packetType = 8 // tells a superseded incarnation that a newer one exists
	ptNack   packetType = 9 // asks the senders of packets a member misses for them (Config.NackDelay)
	// ptTokenNack tells a member that its successor got packets of the
	// visit after its own but no token (Config.NackDelay)
	ptTokenNack packetType = 10
)

func (t packetType) String() string {
	switch t {
	case ptMcast:
		return "mcast"
	case ptToken:
		return "token"
	case ptJoin:
		return "join"
	case ptCommit:
		return "commit"
	case ptMerge:
		return "merge-detect"
	case ptWake:
		return "wake"
	case ptIdle:
		return "idle"
	case ptFence:
		return "fence"
	case ptNack:
		return "nack"
	case ptTokenNack:
		return "token-nack"
	}
	return fmt.Sprintf("type-%d", uint8(t))
}

const (
	maxNodeIDLen = 64
	maxMembers   = 1024 // members of one ring; bounds decoder allocations
	maxRTR       = 4096 // retransmission requests on one token
	maxEntries   = 1023 // messages packed into one packet
)

// ErrMalformed wraps every decoding error: the packet is counted and dropped.
var ErrMalformed = errors.New("localring: malformed packet")

// mcast flags.
const (
	mcastRecovery = 1 << 0 // the body is an old-ring packet carried during recovery
)

// entry flags: fragmentation of messages larger than a packet.
const (
	fragMore = 1 << 0 // more fragments of this message follow
	fragCont = 1 << 1 // this entry continues an earlier fragment
)

// entry is one message, or one fragment of a message, in an mcast packet.
type entry struct {
	msgID uint64 // the sender's per-incarnation message counter
	svc   Service
	flags uint8
	data  []byte
}

// mcast is a message packet of one ring. Every node allocates one per
// packet it sends or receives; delivered shares flags' word, which keeps
// the struct at 224 bytes, a size class below 240 (TestMcastSize).
type mcast struct {
	ring      RingID
	seq       uint64
	sender    Member
	flags     uint8
	delivered bool
	entries   []entry // when not a recovery packet
	inner     []byte  // the encoded old-ring mcast, for a recovery packet
	raw       []byte  // the packet as received or sent, for retransmission
	// one stores the entries of the common packets: one message, or the
	// end of one and the start of the next (a message that does not fit
	// the rest of a packet is split, token.go's sendNew).
	one [2]entry
}

type token struct {
	ring    RingID
	to      NodeID // the member it is passed to: a token is never taken by another
	tokSeq  uint64 // incremented on every pass; rejects duplicate and stale tokens
	seq     uint64 // highest sequence number assigned on this ring
	aru     uint64 // all-received-up-to, lowered by any node missing messages
	aruID   NodeID // the node that last lowered aru, "" when aru == seq
	fcc     uint32 // packets (or bytes: Config.ByteWindow) sent in the last rotation (flow control count)
	backlog uint32 // sum of the nodes' queued packets at their last visit
	pending uint32 // recovery: nodes that still have old-ring packets to send
	install bool   // recovery done: install the new configuration
	rtr     []uint64
	// arus holds every member's aru at its last visit, in member order: the
	// failure-to-receive detector reads which members hold the lowest
	// missing packet and which do not (see watchStall).
	arus  []uint64
	evict *eviction // members being taken out of the ring, nil if none
}

// eviction travels on the token for one rotation, so that every member
// learns which members are being taken out and why before the node that
// started it gathers.
type eviction struct {
	by        NodeID // the member that started it; it gathers when the token is back
	cause     uint8  // causeMute or causeDeaf
	seq       uint64 // the packet that stayed missing
	rotations uint32 // rotations it stayed missing
	millis    uint32 // for how long
	members   []Member
}

// Causes of an eviction.
const (
	causeMute uint8 = 1 // the members' multicasts do not arrive at the others
	causeDeaf uint8 = 2 // the members do not receive the others' multicasts
)

type join struct {
	sender  Member
	ringSeq uint64 // the highest ring sequence number the sender knows
	proc    []Member
	fail    []Member
	unheard []Member // the members of proc whose joins the sender has not heard of late (cut pairs, membership.go)
}

type commitEntry struct {
	member        Member
	filled        bool
	oldRing       RingID
	aru           uint64 // the member's all-received-up-to on its old ring
	highSeq       uint64 // the highest sequence number it holds of its old ring
	highDelivered uint64 // the highest sequence number it delivered on its old ring
}

type commit struct {
	ring     RingID
	to       NodeID // the member it is passed to
	rotation uint8  // 1: members fill in their entries; 2: members enter recovery
	tokSeq   uint64
	entries  []commitEntry
}

type merge struct {
	ring   RingID
	sender Member
}

// ---- encoding ----

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendCRC ends a packet that starts at b[0].
func appendCRC(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// frameBody checks a packet's checksum and returns it without the checksum.
func frameBody(b []byte) ([]byte, error) {
	if len(b) < 6 {
		return nil, fmt.Errorf("%w: %d bytes is shorter than a header", ErrMalformed, len(b))
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(body):]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrMalformed)
	}
	return body, nil
}

func appendString(b []byte, s NodeID) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendMember(b []byte, m Member) []byte {
	b = appendString(b, m.ID)
	return binary.BigEndian.AppendUint64(b, m.Inc)
}

func appendRing(b []byte, r RingID) []byte {
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = appendString(b, r.Rep)
	return binary.AppendUvarint(b, r.RepInc)
}

func appendHeader(b []byte, t packetType) []byte { return append(b, wireVersion, byte(t)) }

// appendMcastHeader writes everything of an mcast packet before its body.
func appendMcastHeader(b []byte, ring RingID, seq uint64, sender Member, flags uint8) []byte {
	b = appendHeader(b, ptMcast)
	b = appendRing(b, ring)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = appendMember(b, sender)
	return append(b, flags)
}

func appendEntry(b []byte, e entry) []byte {
	b = binary.AppendUvarint(b, e.msgID)
	b = append(b, byte(e.svc), e.flags)
	b = binary.AppendUvarint(b, uint64(len(e.data)))
	return append(b, e.data...)
}

// entryOverhead is the most bytes an entry adds besides its data.
const entryOverhead = binary.MaxVarintLen64*2 + 2

func (m *mcast) append(b []byte) []byte {
	b = appendMcastHeader(b, m.ring, m.seq, m.sender, m.flags)
	if m.flags&mcastRecovery != 0 {
		b = binary.AppendUvarint(b, uint64(len(m.inner)))
		return appendCRC(append(b, m.inner...))
	}
	b = binary.AppendUvarint(b, uint64(len(m.entries)))
	for _, e := range m.entries {
		b = appendEntry(b, e)
	}
	return appendCRC(b)
}

func (t *token) append(b []byte) []byte {
	b = appendHeader(b, ptToken)
	b = appendRing(b, t.ring)
	b = appendString(b, t.to)
	b = binary.BigEndian.AppendUint64(b, t.tokSeq)
	b = binary.BigEndian.AppendUint64(b, t.seq)
	b = binary.BigEndian.AppendUint64(b, t.aru)
	b = appendString(b, t.aruID)
	b = binary.BigEndian.AppendUint32(b, t.fcc)
	b = binary.BigEndian.AppendUint32(b, t.backlog)
	b = binary.BigEndian.AppendUint32(b, t.pending)
	var flags byte
	if t.install {
		flags |= 1
	}
	if t.evict != nil {
		flags |= 2
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(t.rtr)))
	for _, s := range t.rtr {
		b = binary.BigEndian.AppendUint64(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(t.arus)))
	for _, a := range t.arus {
		b = binary.BigEndian.AppendUint64(b, a)
	}
	if e := t.evict; e != nil {
		b = appendString(b, e.by)
		b = append(b, e.cause)
		b = binary.BigEndian.AppendUint64(b, e.seq)
		b = binary.BigEndian.AppendUint32(b, e.rotations)
		b = binary.BigEndian.AppendUint32(b, e.millis)
		b = appendMembers(b, e.members)
	}
	return appendCRC(b)
}

func appendMembers(b []byte, ms []Member) []byte {
	b = binary.AppendUvarint(b, uint64(len(ms)))
	for _, m := range ms {
		b = appendMember(b, m)
	}
	return b
}

func (j *join) append(b []byte) []byte {
	b = appendHeader(b, ptJoin)
	b = appendMember(b, j.sender)
	b = binary.BigEndian.AppendUint64(b, j.ringSeq)
	b = appendMembers(b, j.proc)
	b = appendMembers(b, j.fail)
	return appendCRC(appendMembers(b, j.unheard))
}

func (c *commit) append(b []byte) []byte {
	b = appendHeader(b, ptCommit)
	b = appendRing(b, c.ring)
	b = appendString(b, c.to)
	b = append(b, c.rotation)
	b = binary.BigEndian.AppendUint64(b, c.tokSeq)
	b = binary.AppendUvarint(b, uint64(len(c.entries)))
	for _, e := range c.entries {
		b = appendMember(b, e.member)
		var f byte
		if e.filled {
			f = 1
		}
		b = append(b, f)
		b = appendRing(b, e.oldRing)
		b = binary.BigEndian.AppendUint64(b, e.aru)
		b = binary.BigEndian.AppendUint64(b, e.highSeq)
		b = binary.BigEndian.AppendUint64(b, e.highDelivered)
	}
	return appendCRC(b)
}

// appendTo encodes a merge-shaped packet (merge-detect or wake) of type t.
func (m *merge) appendTo(b []byte, t packetType) []byte {
	b = appendHeader(b, t)
	b = appendRing(b, m.ring)
	return appendCRC(appendMember(b, m.sender))
}

func (m *merge) append(b []byte) []byte {
	b = appendHeader(b, ptMerge)
	b = appendRing(b, m.ring)
	return appendCRC(appendMember(b, m.sender))
}

// ---- decoding ----

// reader decodes a packet; the first error sticks and every later read
// returns zero values, so parsers check err once at the end.
type reader struct {
	b   []byte
	off int
	err error
	// known, sorted by id, are members whose id strings nodeID returns
	// when the packet spells one of them, instead of a new string: the
	// ids in the packets of a node's own ring then cost no allocation.
	known []Member
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d of %d", ErrMalformed, what, r.off, len(r.b))
	}
}

func (r *reader) u8() uint8 {
	if r.err != nil || r.off+1 > len(r.b) {
		r.fail("truncated")
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) u32() uint32 {
	if r.err != nil || r.off+4 > len(r.b) {
		r.fail("truncated")
		return 0
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) u64() uint64 {
	if r.err != nil || r.off+8 > len(r.b) {
		r.fail("truncated")
		return 0
	}
	v := binary.BigEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.off += n
	return v
}

// count reads a uvarint count and checks it against max and against the
// bytes left (each item takes at least minSize bytes), so that a forged count
// never makes the decoder allocate.
func (r *reader) count(max, minSize int, what string) int {
	n := r.uvarint()
	if r.err != nil {
		return 0
	}
	if n > uint64(max) || n*uint64(minSize) > uint64(len(r.b)-r.off) {
		r.fail(fmt.Sprintf("%s count %d out of range", what, n))
		return 0
	}
	return int(n)
}

func (r *reader) bytes(max int) []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(r.b)-r.off) {
		r.fail(fmt.Sprintf("length %d out of range", n))
		return nil
	}
	v := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return v
}

func (r *reader) nodeID() NodeID {
	b := r.bytes(maxNodeIDLen)
	if id, ok := knownID(r.known, b); ok {
		return id
	}
	return NodeID(b)
}

// knownID returns the id of the member of known (sorted by id) that b
// spells, by binary search; the comparisons convert b without copying it.
func knownID(known []Member, b []byte) (NodeID, bool) {
	lo, hi := 0, len(known)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		switch id := known[h].ID; {
		case string(id) == string(b):
			return id, true
		case string(id) < string(b):
			lo = h + 1
		default:
			hi = h
		}
	}
	return "", false
}

func (r *reader) member() Member {
	id := r.nodeID()
	return Member{ID: id, Inc: r.u64()}
}

func (r *reader) ring() RingID {
	seq := r.u64()
	rep := r.nodeID()
	return RingID{Seq: seq, Rep: rep, RepInc: r.uvarint()}
}

func (r *reader) members() []Member {
	n := r.count(maxMembers, 9, "member")
	if n == 0 {
		return nil
	}
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = r.member()
	}
	return ms
}

func (r *reader) done() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail(fmt.Sprintf("%d trailing bytes", len(r.b)-r.off))
	}
	return r.err
}

// peekType checks the version and returns the packet type.
func peekType(b []byte) (packetType, error) {
	if len(b) < 2 {
		return 0, fmt.Errorf("%w: %d bytes is shorter than a header", ErrMalformed, len(b))
	}
	if b[0] != wireVersion {
		return 0, fmt.Errorf("%w: wire version %d, this node speaks %d", ErrMalformed, b[0], wireVersion)
	}
	return packetType(b[1]), nil
}

// IsMessagePacket reports whether pkt is a message packet (regular, or an
// old ring's carried in recovery), as opposed to a token or membership
// packet. A transport that queues may use it to keep the ring's control
// packets ahead of its messages. It looks at the header only and checks
// nothing else.
func IsMessagePacket(pkt []byte) bool {
	t, err := peekType(pkt)
	return err == nil && t == ptMcast
}

// PacketKind names the kind of pkt from its header ("mcast", "token",
// "join", "commit", "merge-detect", "wake", "idle", "fence", "nack", "token-nack"), for logs and
// tools that trace the protocol; it checks nothing else and returns
// "malformed" for a packet without a header this node speaks.
func PacketKind(pkt []byte) string {
	t, err := peekType(pkt)
	if err != nil {
		return "malformed"
	}
	return t.String()
}

// IsToken reports whether pkt is a regular token. A driver steps the
// message packets it has received before the tokens among them (Totem's
// rule: a node acts on the token only after the messages that arrived
// before it), so that it does not ask for messages it already holds. It
// looks at the header only and checks nothing else.
func IsToken(pkt []byte) bool {
	t, err := peekType(pkt)
	return err == nil && t == ptToken
}

// parseMcast decodes an mcast packet. The entries and inner body alias raw;
// the ids it names that are those of members of known (sorted by id, nil
// for none) share their strings.
func parseMcast(raw []byte, known []Member) (*mcast, error) {
	b, err := frameBody(raw)
	if err != nil {
		return nil, err
	}
	r := reader{b: b, off: 2, known: known}
	m := &mcast{raw: raw}
	m.ring = r.ring()
	m.seq = r.u64()
	m.sender = r.member()
	m.flags = r.u8()
	if m.flags&^mcastRecovery != 0 {
		r.fail("unknown mcast flags")
	}
	if m.flags&mcastRecovery != 0 {
		m.inner = r.bytes(len(b))
		if r.err == nil {
			if t, err := peekType(m.inner); err != nil || t != ptMcast {
				r.fail("recovery packet does not carry an mcast")
			}
		}
	} else {
		n := r.count(maxEntries, 4, "entry")
		switch {
		case n > len(m.one):
			m.entries = make([]entry, n)
		case n > 0:
			m.entries = m.one[:n]
		}
		for i := 0; i < n && r.err == nil; i++ {
			e := &m.entries[i]
			e.msgID = r.uvarint()
			e.svc = Service(r.u8())
			e.flags = r.u8()
			e.data = r.bytes(len(b))
			if r.err == nil && !e.svc.Valid() {
				r.fail(fmt.Sprintf("unknown service level %d", e.svc))
			}
			if e.flags&^(fragMore|fragCont) != 0 {
				r.fail("unknown entry flags")
			}
		}
	}
	if m.seq == 0 {
		r.fail("sequence number 0")
	}
	return m, r.done()
}

// parseToken decodes a token; the ids it names that are those of members
// of known (sorted by id, nil for none) share their strings.
func parseToken(raw []byte, known []Member) (*token, error) {
	t := &token{}
	if err := t.parse(raw, known); err != nil {
		return nil, err
	}
	return t, nil
}

// parse decodes a token into t, as parseToken; its slices and eviction
// are new ones, nothing of what t held before.
func (t *token) parse(raw []byte, known []Member) error {
	*t = token{}
	b, err := frameBody(raw)
	if err != nil {
		return err
	}
	r := reader{b: b, off: 2, known: known}
	t.ring = r.ring()
	t.to = r.nodeID()
	t.tokSeq = r.u64()
	t.seq = r.u64()
	t.aru = r.u64()
	t.aruID = r.nodeID()
	t.fcc = r.u32()
	t.backlog = r.u32()
	t.pending = r.u32()
	flags := r.u8()
	t.install = flags&1 != 0
	if flags&^3 != 0 {
		r.fail("unknown token flags")
	}
	n := r.count(maxRTR, 8, "retransmit request")
	if n > 0 {
		t.rtr = make([]uint64, n)
		for i := range t.rtr {
			t.rtr[i] = r.u64()
		}
	}
	if n := r.count(maxMembers, 8, "member aru"); n > 0 {
		t.arus = make([]uint64, n)
		for i := range t.arus {
			t.arus[i] = r.u64()
		}
	}
	if flags&2 != 0 {
		e := &eviction{by: r.nodeID(), cause: r.u8(), seq: r.u64(), rotations: r.u32(), millis: r.u32(), members: r.members()}
		if r.err == nil && (e.cause != causeMute && e.cause != causeDeaf || len(e.members) == 0 || e.by == "") {
			r.fail("bad eviction")
		}
		t.evict = e
	}
	if r.err == nil && t.aru > t.seq {
		r.fail("token aru above seq")
	}
	return r.done()
}

func parseJoin(raw []byte) (*join, error) {
	b, err := frameBody(raw)
	if err != nil {
		return nil, err
	}
	r := reader{b: b, off: 2}
	j := &join{}
	j.sender = r.member()
	j.ringSeq = r.u64()
	j.proc = r.members()
	j.fail = r.members()
	j.unheard = r.members()
	return j, r.done()
}

func parseCommit(raw []byte) (*commit, error) {
	b, err := frameBody(raw)
	if err != nil {
		return nil, err
	}
	r := reader{b: b, off: 2}
	c := &commit{}
	c.ring = r.ring()
	c.to = r.nodeID()
	c.rotation = r.u8()
	c.tokSeq = r.u64()
	n := r.count(maxMembers, 36, "commit entry")
	if n > 0 {
		c.entries = make([]commitEntry, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		e := &c.entries[i]
		e.member = r.member()
		e.filled = r.u8() == 1
		e.oldRing = r.ring()
		e.aru = r.u64()
		e.highSeq = r.u64()
		e.highDelivered = r.u64()
	}
	if r.err == nil && (c.rotation < 1 || c.rotation > 2) {
		r.fail(fmt.Sprintf("commit token rotation %d", c.rotation))
	}
	if r.err == nil && n == 0 {
		r.fail("commit token without members")
	}
	return c, r.done()
}

// fenceNotice tells the incarnations of newest.ID older than newest that
// they are superseded (see Node.noticeFenced).
type fenceNotice struct {
	sender Member
	newest Member
}

func (f *fenceNotice) append(b []byte) []byte {
	b = appendHeader(b, ptFence)
	b = appendMember(b, f.sender)
	return appendCRC(appendMember(b, f.newest))
}

func parseFence(raw []byte) (*fenceNotice, error) {
	b, err := frameBody(raw)
	if err != nil {
		return nil, err
	}
	r := reader{b: b, off: 2}
	f := &fenceNotice{}
	f.sender = r.member()
	f.newest = r.member()
	return f, r.done()
}

func parseMerge(raw []byte) (*merge, error) {
	b, err := frameBody(raw)
	if err != nil {
		return nil, err
	}
	r := reader{b: b, off: 2}
	m := &merge{}
	m.ring = r.ring()
	m.sender = r.member()
	return m, r.done()
}
