// Package sealed puts a local ring's UDP transport (localring/transport)
// and its packet sealing (localring/seal) behind driver.Transport, so that
// the ring driver addresses members by node id.
//
// Every packet is sealed on the way out and opened on the way in, in the
// receive goroutine (Recv), so that neither the driver nor the ring core
// ever sees an unauthenticated byte, and the decryption runs on another
// core than the ring's work. The sender of a received packet (Packet.From)
// is the node id whose seal sender id is in the authenticated header, never
// the source address; a packet from a node that is not a member of the
// site is dropped, counted and logged. The source address of a member's
// authenticated packets is where its unicast packets (tokens) go; until a
// member has been heard from, packets for it are multicast (the others
// ignore a packet addressed to someone else).
//
// Rejected packets are counted by the Sealer and logged at Warn, one line
// per source address per minute whatever the kind (with the number
// suppressed since), so that an operator at the default level sees every
// source of rejected packets.
package sealed

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/localring/transport"
)

// Config is what New needs.
type Config struct {
	// Transport carries the sealed datagrams. Required. The sealed
	// transport owns it from New on: Close closes it.
	Transport transport.Transport
	// Sealer seals this node's packets and opens the others'. Required.
	Sealer *seal.Sealer
	// Self is this node's id; Members may list it.
	Self localring.NodeID
	// Members are the node ids of the ring (the site's configured nodes):
	// the only senders whose packets are accepted, and the only ids Send
	// accepts.
	Members []localring.NodeID
	// Site names the site in the line about packets from a node that is
	// not a member, which tells the operator to add it to that site of the
	// topology file.
	Site string
	// Logger receives the lines about rejected packets. Default
	// slog.Default().
	Logger *slog.Logger
	// MismatchCause, when set, explains a packet rejected because its
	// header claims another ring configuration hash (seal.ErrConfig): its
	// result is logged as "cause" (the agent names the preset that
	// differs).
	MismatchCause func(peerHash uint64) string
}

// Transport is a UDP transport behind packet sealing; it implements
// driver.Transport. Send, SendAll and Flush are for one goroutine, Recv
// for another, the rest for any.
type Transport struct {
	tr        transport.Transport
	sealer    *seal.Sealer
	log       *slog.Logger
	site      string
	cause     func(uint64) string
	maxPacket int

	byID     map[localring.NodeID]*peer // fixed at New; values updated atomically
	bySender map[uint64]*peer

	sealBuf []byte              // sending goroutine
	rms     []transport.Message // Recv's raw datagrams

	rejectLog seal.Limiter[netip.Addr]
	closeOnce sync.Once

	n struct{ truncated, unknownSender atomic.Uint64 }
}

var _ driver.Transport = (*Transport)(nil)

// peer is what the transport knows about another member, from its
// authenticated packets.
type peer struct {
	id    localring.NodeID
	addr  atomic.Pointer[netip.AddrPort] // where its authenticated packets come from
	inc   atomic.Uint64                  // its incarnation, from those packets
	heard atomic.Int64                   // wall clock of its last packet, Unix ns
}

// Peer is what the transport knows about a member from its authenticated
// packets.
type Peer struct {
	// Addr is the source address of its last packet; zero before any.
	Addr netip.AddrPort
	// Incarnation is the incarnation in its last packet; 0 before any.
	Incarnation uint64
	// Heard is when its last packet arrived (wall clock); zero before any.
	Heard time.Time
}

// Stats counts the datagrams the transport dropped before opening them.
type Stats struct {
	// Truncated are datagrams longer than MaxPacket of the UDP transport
	// (or than the caller's buffer).
	Truncated uint64
	// UnknownSender are authenticated packets of a node that is not a
	// member: it has the ring's key but is missing from the topology's
	// node list of the site.
	UnknownSender uint64
}

// recvBatch is how many datagrams one ReadBatch reads at most.
const recvBatch = 64

// New returns the sealed transport over cfg.Transport.
func New(cfg Config) (*Transport, error) {
	switch {
	case cfg.Transport == nil:
		return nil, errors.New("sealed: Config.Transport is required")
	case cfg.Sealer == nil:
		return nil, errors.New("sealed: Config.Sealer is required")
	case cfg.Self == "":
		return nil, errors.New("sealed: Config.Self is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	raw := cfg.Transport.MaxPacket()
	t := &Transport{
		tr:        cfg.Transport,
		sealer:    cfg.Sealer,
		log:       cfg.Logger,
		site:      cfg.Site,
		cause:     cfg.MismatchCause,
		maxPacket: raw - cfg.Sealer.Overhead(),
		byID:      make(map[localring.NodeID]*peer),
		bySender:  make(map[uint64]*peer),
		sealBuf:   make([]byte, 0, raw),
		rms:       make([]transport.Message, recvBatch),
		rejectLog: seal.Limiter[netip.Addr]{Interval: time.Minute},
	}
	if t.maxPacket < 1 {
		return nil, fmt.Errorf("sealed: the transport's packets (%d bytes) do not hold the seal's %d bytes of overhead", raw, cfg.Sealer.Overhead())
	}
	for _, id := range cfg.Members {
		if id == cfg.Self || t.byID[id] != nil {
			continue
		}
		sid := seal.SenderID(string(id))
		if q := t.bySender[sid]; q != nil {
			return nil, fmt.Errorf("sealed: node ids %s and %s have the same seal sender id; rename one", q.id, id)
		}
		p := &peer{id: id}
		t.byID[id], t.bySender[sid] = p, p
	}
	buf := make([]byte, recvBatch*raw)
	for i := range t.rms {
		t.rms[i].Buf = buf[i*raw : (i+1)*raw : (i+1)*raw]
	}
	return t, nil
}

// MaxPacket is the UDP transport's largest datagram minus the seal's
// overhead.
func (t *Transport) MaxPacket() int { return t.maxPacket }

// LocalAddr is the UDP transport's local address.
func (t *Transport) LocalAddr() netip.AddrPort { return t.tr.LocalAddr() }

// Peer returns what the transport knows about member id.
func (t *Transport) Peer(id localring.NodeID) (Peer, bool) {
	p := t.byID[id]
	if p == nil {
		return Peer{}, false
	}
	var out Peer
	if ap := p.addr.Load(); ap != nil {
		out.Addr = *ap
	}
	out.Incarnation = p.inc.Load()
	if ns := p.heard.Load(); ns != 0 {
		out.Heard = time.Unix(0, ns)
	}
	return out, true
}

// Stats returns the transport's counters; the Sealer counts the rejected
// packets.
func (t *Transport) Stats() Stats {
	return Stats{Truncated: t.n.truncated.Load(), UnknownSender: t.n.unknownSender.Load()}
}

// Send seals pkt for member to: unicast to the address of its packets, or
// multicast while it has not been heard from.
func (t *Transport) Send(to localring.NodeID, pkt []byte) error {
	p := t.byID[to]
	if p == nil {
		return &driver.SendError{To: to, Err: errors.New("sealed: not a member of this ring (not in the site's node list)")}
	}
	if len(pkt) > t.maxPacket {
		return &driver.SendError{To: to, Err: tooLarge(len(pkt), t.maxPacket)}
	}
	sealed := t.sealer.Seal(t.sealBuf[:0], pkt)
	var err error
	if ap := p.addr.Load(); ap != nil {
		err = t.tr.Unicast(*ap, sealed)
	} else {
		err = t.tr.Multicast(sealed)
	}
	if err != nil {
		return &driver.SendError{To: to, Err: closedErr(err)}
	}
	return nil
}

// SendAll seals pkt for every member.
func (t *Transport) SendAll(pkt []byte) error {
	if len(pkt) > t.maxPacket {
		return tooLarge(len(pkt), t.maxPacket)
	}
	if err := t.tr.Multicast(t.sealer.Seal(t.sealBuf[:0], pkt)); err != nil {
		return fmt.Errorf("sealed: %w", closedErr(err))
	}
	return nil
}

func tooLarge(n, max int) error {
	return fmt.Errorf("sealed: packet of %d bytes, at most %d (the transport's MaxPacket minus the seal's overhead)", n, max)
}

// closedErr turns the UDP transport's ErrClosed into driver.ErrClosed.
func closedErr(err error) error {
	if errors.Is(err, transport.ErrClosed) {
		return driver.ErrClosed
	}
	return err
}

// Flush sends everything queued. A datagram the kernel refused is reported
// as a *driver.SendError for the member at that address, when known.
func (t *Transport) Flush() error {
	err := t.tr.Flush()
	if err == nil {
		return nil
	}
	var se *transport.SendError
	if errors.As(err, &se) {
		for _, p := range t.byID {
			if ap := p.addr.Load(); ap != nil && *ap == se.To {
				return &driver.SendError{To: p.id, Err: err}
			}
		}
	}
	return closedErr(err)
}

// Recv reads datagrams until at least one opens as a member's packet and
// fills ps with the payloads and their authenticated senders.
func (t *Transport) Recv(ps []driver.Packet) (int, error) {
	if len(ps) == 0 {
		return 0, nil
	}
	ms := t.rms[:min(len(ps), len(t.rms))]
	for {
		n, err := t.tr.ReadBatch(ms)
		if err != nil {
			return 0, closedErr(err)
		}
		now := time.Now()
		k := 0
		for i := range ms[:n] {
			m := &ms[i]
			if m.Truncated || m.N-t.sealer.Overhead() > cap(ps[k].Buf) {
				t.n.truncated.Add(1) // longer than the transport's or the caller's buffer
				continue
			}
			out, origin, err := t.sealer.Open(ps[k].Buf[:0], m.Payload())
			if err != nil {
				t.rejected(m, err, now)
				continue
			}
			p := t.bySender[origin.Sender]
			if p == nil {
				t.unknownSender(m, origin, now)
				continue
			}
			p.heardFrom(m.From, origin.Incarnation, now.UnixNano())
			ps[k].From, ps[k].N = p.id, len(out)
			k++
		}
		if k > 0 {
			return k, nil
		}
	}
}

func (p *peer) heardFrom(from netip.AddrPort, inc uint64, now int64) {
	if cur := p.addr.Load(); cur == nil || *cur != from {
		ap := new(netip.AddrPort) // only here: &from would move every call's from to the heap
		*ap = from
		p.addr.Store(ap)
	}
	if p.inc.Load() != inc {
		p.inc.Store(inc)
	}
	p.heard.Store(now)
}

// Close closes the UDP transport; a blocked Recv returns driver.ErrClosed.
func (t *Transport) Close() error {
	var err error
	t.closeOnce.Do(func() { err = t.tr.Close() })
	return err
}

// rejected logs a packet that failed to open (the Sealer counted it): one
// Warn line per source address per minute, whatever the kind.
func (t *Transport) rejected(m *transport.Message, err error, now time.Time) {
	var se *seal.Error
	kind := seal.Kind(0)
	if errors.As(err, &se) {
		kind = se.Kind
	}
	ok, more := t.rejectLog.Allow(m.From.Addr(), now)
	if !ok {
		return
	}
	attrs := []any{"peer", m.From, "kind", kind.String(), "detail", t.sealer.Diagnose(m.Payload(), err), "suppressed", more}
	switch kind {
	case seal.KindReplay:
		t.log.Warn("rejected a replayed packet: duplicated by the network, or replayed by someone who can reach the ring's port", attrs...)
	case seal.KindTruncated:
		t.log.Warn("rejected a packet too short to be an Atoll packet: another program sends to the ring's port, or the network truncates datagrams", attrs...)
	case seal.KindVersion:
		t.log.Warn("rejected a packet of another packet format version: another Atoll release, or another program sending to the ring's port", attrs...)
	case seal.KindWrongKey:
		t.log.Warn("rejected packets from a peer with another key: it cannot join this ring", attrs...)
	case seal.KindMismatch:
		if h, ok := seal.ConfigHashOf(m.Payload()); ok && t.cause != nil && errors.Is(err, seal.ErrConfig) {
			attrs = append(attrs, "cause", t.cause(h))
		}
		t.log.Warn("rejected packets from a peer with other ring settings: it cannot join this ring", attrs...)
	default:
		t.log.Warn("rejected a packet that failed authentication", attrs...)
	}
}

func (t *Transport) unknownSender(m *transport.Message, o seal.Origin, now time.Time) {
	t.n.unknownSender.Add(1)
	if ok, more := t.rejectLog.Allow(m.From.Addr(), now); ok {
		t.log.Warn("dropped packets of a node that is not in this site's node list; add it to site "+t.site+" of the topology file on every node, or stop it",
			"peer", m.From, "sender", fmt.Sprintf("%016x", o.Sender), "suppressed", more)
	}
}
