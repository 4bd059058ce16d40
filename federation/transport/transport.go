package transport

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/atoll-gcs/atoll/internal/pki"
	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
)

// Transport is one gateway's end of a federation ring over QUIC. It
// implements driver.Transport with the sites as member ids.
type Transport struct {
	cfg   *resolved
	alpn  string
	log   *slog.Logger
	peers map[string]*peer
	order []*peer // sorted by site

	udp     net.PacketConn
	ownUDP  bool
	qt      *quic.Transport
	ln      *quic.Listener
	qconf   *quic.Config
	in      chan inPacket
	ctx     context.Context
	cancel  context.CancelFunc
	closed  atomic.Bool
	closing chan struct{} // closed when Close starts: the writers flush and end their streams
	closeMu sync.Once
	wg      sync.WaitGroup

	stats counters

	// ringKeys are the keys of the live connections' sealed datagrams
	// (ModeUDP), by the key id of what they receive.
	ringMu   sync.RWMutex
	ringKeys map[uint64]*ringKeys
}

var _ driver.Transport = (*Transport)(nil)

// peer is another site: its current connection and its send queues,
// which outlive connections. Message packets (localring.IsMessagePacket)
// go to out, the ring's control packets (tokens, membership) to ctl,
// which the writers serve first and in stream mode send on a stream of
// their own, so a backlog of messages never delays or drops a token.
type peer struct {
	site    string
	allowed []string
	eps     []string
	dials   bool  // this side dials (its site sorts first)
	stripes int   // Peer.Stripes (0: Config.Stripes)
	rate    int64 // the path's bandwidth in bits/s (Peer.Bandwidth or Config.Bandwidth; 0: none)
	out     chan []byte
	ctl     chan []byte
	queued  atomic.Int64 // bytes in out
	// inOut counts the message packets in out by their hash (seed), so
	// that a copy of one still queued is not queued again (queue).
	seed  maphash.Seed
	outMu sync.Mutex
	inOut map[uint64]int
	mu    sync.Mutex
	cur   *conn
	// redialTo is, after Redial closed the connection, the index in eps
	// that dialLoop tries first (-1: none).
	redialTo atomic.Int32
}

// controlQueuePackets bounds a peer's control queue: a ring sends a
// handful of control packets per token visit, so this is only reached
// when the connection carries nothing.
const controlQueuePackets = 256

// conn is one established QUIC connection to a peer site.
type conn struct {
	qc   *quic.Conn
	ctl  *quic.Stream // the hello stream; in stream mode it carries the packets
	id   pki.Identity
	keys *ringKeys // the keys of sealed datagrams (ModeUDP), nil for a stripe or in the other modes
	addr net.Addr
	ep   string // the endpoint dialed, if this side dialed
	done <-chan struct{}

	stripes []*conn      // the stripes of this connection (guarded by the peer's mu)
	active  atomic.Int32 // how many of them may send (paceStripes; set under the peer's mu)
	// gate, when set, is closed when active or the stripes' ranks change,
	// waking the stripes that yield (guarded by the peer's mu).
	gate chan struct{}
}

type inPacket struct {
	from string
	data []byte
}

// New starts the transport: it listens on cfg.Listen (or cfg.Conn),
// accepts the peers' connections and dials those whose site sorts after
// its own. It returns at once; Connected reports which peers are up.
func New(cfg Config) (*Transport, error) {
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	t := &Transport{
		cfg:      r,
		alpn:     ALPN(r.Mode, r.ConfigHash),
		log:      r.Logger.With("ring_member", r.self.Site, "node", r.self.Node),
		peers:    map[string]*peer{},
		in:       make(chan inPacket, r.QueuePackets),
		closing:  make(chan struct{}),
		ringKeys: map[uint64]*ringKeys{},
	}
	for _, p := range r.Peers {
		pp := newPeer(p.Site, r.QueuePackets)
		pp.allowed, pp.eps = slices.Clone(p.Gateways), slices.Clone(p.Endpoints)
		pp.dials, pp.stripes, pp.rate = r.self.Site < p.Site, p.Stripes, cmp.Or(p.Bandwidth, r.Bandwidth)
		t.peers[p.Site] = pp
		t.order = append(t.order, pp)
	}
	slices.SortFunc(t.order, func(a, b *peer) int { return strings.Compare(a.site, b.site) })

	t.udp = r.Conn
	if t.udp == nil {
		t.udp, err = net.ListenPacket("udp", r.Listen)
		if err != nil {
			return nil, fmt.Errorf("transport: listen for the federation ring on %s: %w", r.Listen, err)
		}
		t.ownUDP = true
	}
	resetKey := statelessResetKey(r.Certificate)
	qconn := t.udp
	if r.Mode == ModeUDP {
		qconn = t.wrapRingConn(t.udp)
	}
	t.qt = &quic.Transport{Conn: qconn, StatelessResetKey: &resetKey}
	t.qconf = &quic.Config{
		HandshakeIdleTimeout:       r.HandshakeTimeout,
		MaxIdleTimeout:             r.IdleTimeout,
		KeepAlivePeriod:            r.KeepAlive,
		EnableDatagrams:            true, // stream mode sends its tokens as datagrams (tokenDatagram)
		MaxIncomingStreams:         1,    // the hello stream
		MaxIncomingUniStreams:      1,    // the peer's message stream (stream mode)
		InitialPacketSize:          initialPacketSize,
		MaxStreamReceiveWindow:     ReceiveWindow,
		MaxConnectionReceiveWindow: ReceiveWindow,
	}
	t.ln, err = t.qt.Listen(t.serverTLS(), t.qconf)
	if err != nil {
		t.closeUDP()
		return nil, fmt.Errorf("transport: listen: %w", err)
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.wg.Go(t.acceptLoop)
	for _, p := range t.order {
		switch {
		case p.dials:
			t.wg.Go(func() { t.dialLoop(p) })
		case r.Announce:
			t.announce(p)
		}
	}
	t.log.Info("federation transport listening", "addr", t.udp.LocalAddr().String(), "alpn", t.alpn, "mode", r.Mode.String(), "max_packet", r.MaxPacket)
	return t, nil
}

// statelessResetKey derives the key of stateless resets from the
// gateway's certificate, so that a gateway restarted with the same
// certificate resets its peers' connections to its previous incarnation at
// once instead of leaving them to time out.
func statelessResetKey(c tls.Certificate) quic.StatelessResetKey {
	h := sha256.New()
	h.Write([]byte("atoll federation stateless reset v1\x00"))
	if der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey); err == nil {
		h.Write(der)
	} else { // a key that cannot be exported (a hardware key): resets work within this process only
		var rnd [32]byte
		crand.Read(rnd[:])
		h.Write(rnd[:])
	}
	var k quic.StatelessResetKey
	copy(k[:], h.Sum(nil))
	return k
}

// Addr returns the local UDP address.
func (t *Transport) Addr() net.Addr { return t.udp.LocalAddr() }

// Self returns the identity this transport speaks for, from its
// certificate.
func (t *Transport) Self() pki.Identity { return t.cfg.self }

// ALPN returns the ALPN protocol name this transport speaks.
func (t *Transport) ALPN() string { return t.alpn }

// MaxPacket implements driver.Transport.
func (t *Transport) MaxPacket() int { return t.cfg.MaxPacket }

// Connected reports whether a connection to site is established, and the
// node id that speaks for it.
func (t *Transport) Connected(site string) (node string, ok bool) {
	p := t.peers[site]
	if p == nil {
		return "", false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return "", false
	}
	return p.cur.id.Node, true
}

// Redial closes the connection to site if this side dials it and the
// gateway at its other end is not the one of rank rank in the site's
// gateway list (Peer.Gateways): the ring heard of a newer incarnation of
// the site, started by that gateway, which cannot reach this side by
// itself (the site whose name sorts first dials). Without it, a
// connection to a gateway that was killed stays up until the idle
// timeout, and the site's new gateway is kept out of the ring that long.
// The dial loop dials again at once, first the endpoint of that gateway
// if each gateway has one of its own, else the one after the endpoint of
// the closed connection. It reports whether it closed a connection.
func (t *Transport) Redial(site string, rank int, why string) bool {
	p := t.peers[site]
	if p == nil || !p.dials || rank < 0 || rank >= len(p.allowed) {
		return false
	}
	p.mu.Lock()
	c := p.cur
	p.mu.Unlock()
	if c == nil || c.id.Node == p.allowed[rank] {
		return false
	}
	if len(p.eps) == len(p.allowed) {
		p.redialTo.Store(int32(rank))
	} else {
		p.redialTo.Store(int32(slices.Index(p.eps, c.ep) + 1))
	}
	t.stats.redials.Add(1)
	t.log.Info("federation: closing the connection to a peer gateway that no longer speaks for its site; dialing its successor", "site", site, "node", c.id.Node, "successor", p.allowed[rank], "why", why)
	c.qc.CloseWithError(codeStale, "this gateway no longer speaks for site "+site)
	return true
}

// Send implements driver.Transport: it queues pkt for the peer site to.
// A site that is not a peer, or has no connection now, is a
// *driver.SendError; a full queue drops the packet and counts it.
func (t *Transport) Send(to localring.NodeID, pkt []byte) error {
	if err := t.check(pkt); err != nil {
		return err
	}
	p := t.peers[string(to)]
	if p == nil {
		return &driver.SendError{To: to, Err: fmt.Errorf("transport: %s is not a site of this federation ring", to)}
	}
	if !t.queue(p, pkt) {
		return &driver.SendError{To: to, Err: errors.New("transport: no connection to the site's gateway")}
	}
	return nil
}

// SendAll implements driver.Transport: it queues pkt for every peer site
// that is connected now; the others miss it, as on a lossy network.
func (t *Transport) SendAll(pkt []byte) error {
	if err := t.check(pkt); err != nil {
		return err
	}
	for _, p := range t.order {
		t.queue(p, pkt)
	}
	return nil
}

func (t *Transport) check(pkt []byte) error {
	if t.closed.Load() {
		return driver.ErrClosed
	}
	if len(pkt) > t.cfg.MaxPacket {
		return fmt.Errorf("transport: packet of %d bytes, at most %d (MaxPacket)", len(pkt), t.cfg.MaxPacket)
	}
	return nil
}

// newPeer is the peer site with empty send queues (out of queuePackets
// packets) and no connection.
func newPeer(site string, queuePackets int) *peer {
	p := &peer{
		site:  site,
		out:   make(chan []byte, queuePackets),
		ctl:   make(chan []byte, controlQueuePackets),
		seed:  maphash.MakeSeed(),
		inOut: map[uint64]int{},
	}
	p.redialTo.Store(-1)
	return p
}

// queue copies pkt into p's send queue (control packets into the control
// queue); false if p has no connection. A message packet identical to one
// still in p's queue is not queued again (Stats.SendDuplicates): it is a
// retransmission the ring asked for because the token, which no message
// delays, overtook the queued original. On a path slower than the ring
// (a capped WAN link, its queue up to the driver's MaxBacklogBytes, about
// 4 s at 1 Mbit/s) a member asks for every packet of the queue once a
// rotation; queued again each time, the copies filled the queue, the
// path carried mostly copies, and its queue stayed full for tens of
// seconds after the load that built it ended (atoll bench isolation's
// gateway-killed phase after the saturating one: docs/BENCHMARKS.md).
func (t *Transport) queue(p *peer, pkt []byte) bool {
	p.mu.Lock()
	up := p.cur != nil
	p.mu.Unlock()
	if !up {
		t.stats.sendNoConn.Add(1)
		return false
	}
	toOut := localring.IsMessagePacket(pkt)
	if t.paced(p) && t.cfg.sealAll {
		toOut = !localring.IsToken(pkt)
	}
	if !toOut {
		select {
		case p.ctl <- slices.Clone(pkt):
		default:
			t.stats.controlDrops.Add(1)
		}
		return true
	}
	msg := localring.IsMessagePacket(pkt)
	if msg && !p.enqueued(pkt) {
		t.stats.sendDuplicates.Add(1)
		return true
	}
	p.queued.Add(int64(len(pkt)))
	select {
	case p.out <- slices.Clone(pkt):
	default:
		p.queued.Add(-int64(len(pkt)))
		if msg {
			p.dequeued(pkt)
		}
		t.stats.sendDrops.Add(1)
	}
	return true
}

// enqueued notes a message packet going into out; false if an identical
// one is there already.
func (p *peer) enqueued(pkt []byte) bool {
	h := maphash.Bytes(p.seed, pkt)
	p.outMu.Lock()
	defer p.outMu.Unlock()
	if p.inOut[h] > 0 {
		return false
	}
	p.inOut[h]++
	return true
}

// dequeued notes that pkt left out (a packet enqueued did not count: a
// control packet, in ModeUDP's out too, or one of no message).
func (p *peer) dequeued(pkt []byte) {
	h := maphash.Bytes(p.seed, pkt)
	p.outMu.Lock()
	defer p.outMu.Unlock()
	if n := p.inOut[h]; n > 1 {
		p.inOut[h] = n - 1
	} else if n == 1 {
		delete(p.inOut, h)
	}
}

// Backlog implements driver.BacklogReporter: the bytes of message packets
// queued for the connected peer with the most. The driver bounds the
// ring's sending by it, so that the queues hold what the connections
// carry (QUIC's congestion control) and do not overflow.
func (t *Transport) Backlog() int {
	n := int64(0)
	for _, p := range t.order {
		n = max(n, p.queued.Load())
	}
	return int(n)
}

var _ driver.BacklogReporter = (*Transport)(nil)

// BacklogBound returns the bound on Backlog the driver should keep
// (driver.Config.MaxBacklogBytes) for a ring whose flow-control window
// holds windowBytes per rotation. Over QUIC's congestion control it is
// the driver's default, which keeps the queues to what a lossy
// connection carries. When every peer is paced (ModeUDP with a declared
// bandwidth), the queues drain at that bandwidth, and a window sized
// from its bandwidth-delay product drains in a rotation: the bound is
// then at least the window, which the default would cap on a fast path
// (at 50 Mbit/s over a 300 ms rotation a site's third of the window is
// 625 KB, above the default's 512 KiB: BenchmarkRingWAN's ring carried
// 84 % of its window).
func (t *Transport) BacklogBound(windowBytes int) int {
	for _, p := range t.order {
		if !t.paced(p) {
			return driver.DefaultMaxBacklogBytes
		}
	}
	return max(driver.DefaultMaxBacklogBytes, windowBytes)
}

// took accounts for a message packet taken from p.out.
func (p *peer) took(pkt []byte) {
	p.queued.Add(-int64(len(pkt)))
	if localring.IsMessagePacket(pkt) {
		p.dequeued(pkt)
	}
}

// Flush implements driver.Transport. Packets are sent as they are queued,
// by one writer per connection, so there is nothing left to do.
func (t *Transport) Flush() error {
	if t.closed.Load() {
		return driver.ErrClosed
	}
	return nil
}

// Recv implements driver.Transport.
func (t *Transport) Recv(ps []driver.Packet) (int, error) {
	if len(ps) == 0 {
		return 0, nil
	}
	if t.closed.Load() {
		return 0, driver.ErrClosed
	}
	var p inPacket
	select {
	case p = <-t.in:
	case <-t.ctx.Done():
		return 0, driver.ErrClosed
	}
	i := 0
	for {
		ps[i].From = localring.NodeID(p.from)
		ps[i].N = copy(ps[i].Buf, p.data)
		i++
		if i == len(ps) {
			return i, nil
		}
		select {
		case p = <-t.in:
		default:
			return i, nil
		}
	}
}

// Close implements driver.Transport: it closes every connection and the
// socket (unless Config.Conn was given) and waits for its goroutines.
//
// Before closing the connections it gives what is queued for the peers —
// above all the join packets of Node.Leave, which the driver sends just
// before it closes the transport — at most closeFlushTimeout to reach
// them: the writers send their queues and end their streams, and the peer
// closes the connection once it has read the end of the control stream
// (everything before it arrived). A peer that does not answer within the
// bound (gone, or slower than the bound) is closed on anyway. QUIC's
// CONNECTION_CLOSE discards unsent and unacknowledged stream data, so
// closing at once lost the leave about half the time, and the others
// re-formed only after the token and consensus timeouts. In datagram mode
// the queued datagrams are sent but not acknowledged; the peer closes
// when it reads the end of the hello stream.
func (t *Transport) Close() error {
	t.closeMu.Do(func() {
		t.closed.Store(true)
		t.ln.Close()
		close(t.closing)
		deadline := time.NewTimer(closeFlushTimeout)
		for _, p := range t.order {
			p.mu.Lock()
			c := p.cur
			p.mu.Unlock()
			if c == nil {
				continue
			}
			select {
			case <-c.done:
			case <-deadline.C:
			}
		}
		deadline.Stop()
		t.cancel()
		for _, p := range t.order {
			p.mu.Lock()
			c := p.cur
			p.mu.Unlock()
			if c != nil {
				c.qc.CloseWithError(codeClosing, "gateway shutting down")
			}
		}
		t.wg.Wait()
		t.qt.Close()
		t.closeUDP()
		t.log.Info("federation transport closed")
	})
	return nil
}

// closeFlushTimeout bounds how long Close waits for the peers to receive
// what is queued for them (see Close): a few join intervals of a ring
// whose sites are within ~100 ms of each other, and short next to the
// token timeout a lost leave costs the others.
const closeFlushTimeout = 300 * time.Millisecond

// peerEndGrace is how long a datagram-mode reader still takes datagrams
// after the peer ended its hello stream: those sent before the end, which
// QUIC packs no later than it, reach the reader's queue at about the same
// time.
const peerEndGrace = 20 * time.Millisecond

// codePeerLeft closes a connection whose peer ended its control stream:
// it is closing and has sent everything (see Close).
const codePeerLeft quic.ApplicationErrorCode = 0x3

func (t *Transport) closeUDP() {
	if t.ownUDP {
		t.udp.Close()
	}
}

// Application error codes of CONNECTION_CLOSE.
const (
	codeClosing  quic.ApplicationErrorCode = 0x0
	codeReplaced quic.ApplicationErrorCode = 0x1
	codeProtocol quic.ApplicationErrorCode = 0x2
	codeStale    quic.ApplicationErrorCode = 0x4 // Redial (0x3 is codePeerLeft)
)

// acceptLoop accepts the peers' connections.
func (t *Transport) acceptLoop() {
	for {
		qc, err := t.ln.Accept(t.ctx)
		if err != nil {
			return // closed
		}
		t.wg.Go(func() {
			c, err := t.established(qc, "")
			if err != nil {
				return
			}
			ctx, cancel := context.WithTimeout(t.ctx, t.cfg.HandshakeTimeout)
			defer cancel()
			s, err := qc.AcceptStream(ctx)
			var kind []byte
			if err == nil {
				kind, err = hello(s, helloMagic, t.cfg.HandshakeTimeout)
			}
			if err != nil {
				t.log.Debug("federation: a peer gateway connected but sent no hello", "site", c.id.Site, "addr", c.addr.String(), "err", err)
				qc.CloseWithError(codeProtocol, "no hello")
				return
			}
			c.ctl = s
			p := t.peers[c.id.Site]
			if bytes.Equal(kind, stripeMagic) {
				t.acceptStripe(p, c)
				return
			}
			// The announcement (Config.Announce) of the gateway this
			// side's connection leads to already: both sides keep the
			// one this side dialed.
			sameGateway := func(cur *conn) bool { return p.dials && cur.id.Node == c.id.Node }
			t.installUnless(p, c, sameGateway, "connected to this gateway already")
		})
	}
}

// dialLoop keeps a connection to p, which this side dials: it dials p's
// endpoints in turn, with backoff between failures, and again when the
// connection ends.
func (t *Transport) dialLoop(p *peer) {
	backoff := t.cfg.RedialMin
	next, failed := 0, 0
	// Not once Close began: its flush ends the connections (the peer
	// closes a connection whose control stream ended), and a connection
	// dialed then would reach the peer and replace the one a successor
	// gateway of this site has just opened, which would then wait
	// RedialMax as if two gateways of the site were active.
	for t.ctx.Err() == nil && !t.closed.Load() {
		if in := p.accepted(); in != nil {
			// The peer's gateway dialed this side (Config.Announce: it
			// took over for its site) and its connection replaced the one
			// this side dialed, which may have led to a gateway that died:
			// keep it, and dial again, that gateway's endpoint first,
			// once it ends.
			if i := slices.Index(p.allowed, in.id.Node); i >= 0 && len(p.eps) == len(p.allowed) {
				next = i
			}
			select {
			case <-in.done:
			case <-t.ctx.Done():
				return
			}
			if i := p.redialTo.Swap(-1); i >= 0 {
				next = int(i)
			}
			continue
		}
		ep := p.eps[next%len(p.eps)]
		c, err := t.dial(p, ep, helloMagic)
		if err != nil {
			next++
			if failed++; failed == len(p.eps) { // once per outage, when every endpoint failed
				t.log.Warn("federation: cannot connect to any gateway of a peer site; retrying with backoff (check the network, the site's quic endpoints and its gateway)",
					"site", p.site, "endpoints", strings.Join(p.eps, ","), "err", err.Error())
			}
			d := time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
			backoff = min(2*backoff, t.cfg.RedialMax)
			select {
			case <-time.After(d):
			case <-t.ctx.Done():
				return
			}
			continue
		}
		backoff, failed = t.cfg.RedialMin, 0
		t.install(p, c)
		for range t.stripes(p) - 1 {
			t.wg.Go(func() { t.stripeLoop(p, c) })
		}
		select {
		case <-c.done:
		case <-t.ctx.Done():
			return
		}
		if i := p.redialTo.Swap(-1); i >= 0 {
			next = int(i) // Redial: the site's new gateway
			continue
		}
		var ae *quic.ApplicationError
		if errors.As(context.Cause(c.qc.Context()), &ae) && ae.Remote && ae.ErrorCode == codeReplaced {
			// Another gateway of this site connected to p after us: two
			// gateways of one site believe they are active. Redialing at
			// once would make the two take the connection from each other
			// in a loop; the ring above must fence one of them.
			t.stats.superseded.Add(1)
			t.log.Warn("federation: the peer site took a newer connection from another gateway of this site; two gateways of this site act as active, backing off for RedialMax",
				"site", p.site, "redial_in", t.cfg.RedialMax.String())
			select {
			case <-time.After(t.cfg.RedialMax):
			case <-t.ctx.Done():
				return
			}
		}
	}
}

// live returns p's current connection if it has not ended, else nil.
func (p *peer) live() *conn {
	p.mu.Lock()
	c := p.cur
	p.mu.Unlock()
	if c == nil {
		return nil
	}
	select {
	case <-c.done:
		return nil
	default:
		return c
	}
}

// accepted returns p's current connection if the peer dialed it and it
// has not ended, else nil.
func (p *peer) accepted() *conn {
	if c := p.live(); c != nil && c.ep == "" {
		return c
	}
	return nil
}

// announce dials p, a site that dials this one, once (Config.Announce):
// every endpoint at once, since only the site's active gateway answers and
// one that died would hold the others up for the handshake timeout; the
// first connection made is kept, any other closed. The peer takes the
// connection in place of its own, which may lead to a gateway of this
// site that died; this side opens the connection's stripes, as the side
// that dialed it.
func (t *Transport) announce(p *peer) {
	var won atomic.Bool
	for _, ep := range p.eps {
		t.wg.Go(func() {
			c, err := t.dial(p, ep, helloMagic)
			if err != nil {
				return
			}
			if !won.CompareAndSwap(false, true) {
				c.qc.CloseWithError(codeClosing, "announced at another endpoint")
				return
			}
			// The peer dialed this gateway meanwhile: nothing of its is
			// stale, and its connection stays.
			always := func(*conn) bool { return true }
			if !t.installUnless(p, c, always, "the peer connected to this gateway already") {
				return
			}
			t.log.Info("federation: announced this gateway to a peer site that dials this one: its connection may lead to a gateway of this site that died", "site", p.site, "node", c.id.Node)
			for range t.stripes(p) - 1 {
				t.wg.Go(func() { t.stripeLoop(p, c) })
			}
		})
	}
}

// dial connects to the gateway of p at ep and says hello with magic:
// helloMagic for p's connection, stripeMagic for a stripe of it.
func (t *Transport) dial(p *peer, ep string, magic []byte) (*conn, error) {
	addr, err := net.ResolveUDPAddr("udp", ep)
	if err != nil {
		t.stats.dialFailures.Add(1)
		t.log.Warn("federation: cannot resolve a peer gateway's endpoint; check sites[].quic in the topology", "site", p.site, "endpoint", ep, "err", err)
		return nil, err
	}
	att := &attempt{}
	ctx, cancel := context.WithTimeout(t.ctx, 2*t.cfg.HandshakeTimeout)
	defer cancel()
	qc, err := t.qt.Dial(ctx, addr, t.clientTLS(p.site, addr, att), t.qconf)
	if err != nil {
		if !att.refused.Load() && t.ctx.Err() == nil {
			t.dialFailed(p.site, addr, err)
		}
		return nil, err
	}
	c, err := t.established(qc, p.site)
	if err != nil {
		return nil, err
	}
	// The client's handshake completes before the server has checked the
	// client's certificate: only the server's answer to the hello proves
	// that it admitted this gateway.
	s, err := qc.OpenStreamSync(ctx)
	if err == nil {
		var answer []byte
		answer, err = hello(s, magic, t.cfg.HandshakeTimeout)
		if err == nil && !bytes.Equal(answer, helloMagic) {
			err = fmt.Errorf("transport: the peer answered hello with %q", answer)
		}
	}
	if err != nil {
		if t.ctx.Err() == nil {
			t.dialFailed(p.site, addr, err)
		}
		qc.CloseWithError(codeProtocol, "no hello")
		return nil, err
	}
	c.ctl, c.ep = s, ep
	return c, nil
}

// helloMagic opens the hello stream of a peer's connection in both
// directions; stripeMagic opens that of a stripe (from the side that
// dials; the other answers helloMagic).
var (
	helloMagic  = []byte("atoll-fed hello\n")
	stripeMagic = []byte("atoll-fed strip\n")
)

// hello writes mine on s and returns the peer's magic, helloMagic or
// stripeMagic.
func hello(s *quic.Stream, mine []byte, timeout time.Duration) ([]byte, error) {
	s.SetDeadline(time.Now().Add(timeout))
	defer s.SetDeadline(time.Time{})
	if _, err := s.Write(mine); err != nil {
		return nil, err
	}
	got := make([]byte, len(helloMagic))
	if _, err := io.ReadFull(s, got); err != nil {
		return nil, err
	}
	if !bytes.Equal(got, helloMagic) && !bytes.Equal(got, stripeMagic) {
		return nil, fmt.Errorf("transport: bad hello %q", got)
	}
	return got, nil
}

// attempt notes whether this side's verification refused the peer (and
// already logged and counted it).
type attempt struct{ refused atomic.Bool }

// dialFailed logs and counts a failed connection attempt that this side's
// verification did not refuse: the peer refused us, or could not be
// reached.
func (t *Transport) dialFailed(site string, addr net.Addr, err error) {
	var te *quic.TransportError
	if errors.As(err, &te) && te.Remote && te.ErrorCode.IsCryptoError() {
		who := pki.Identity{Site: site}
		if alert := uint8(te.ErrorCode - 0x100); alert == alertNoApplicationProtocol {
			t.refuse(CauseALPN, addr, who, fmt.Errorf("the peer gateway of site %s does not speak %s (TLS alert %s)", site, t.alpn, te.ErrorCode.Message()))
			return
		}
		t.refuse(CauseRefusedByPeer, addr, who, fmt.Errorf("the peer gateway of site %s does not accept this gateway's certificate (TLS alert %s); its log names the cause", site, te.ErrorCode.Message()))
		return
	}
	t.stats.dialFailures.Add(1)
	t.log.Debug("federation: cannot reach a peer gateway; retrying with backoff", "site", site, "addr", addr.String(), "err", err)
}

// alertNoApplicationProtocol is the TLS alert of an ALPN mismatch.
const alertNoApplicationProtocol = 120

// established checks a handshaken connection (the certificate was
// verified in the handshake) and wraps it.
func (t *Transport) established(qc *quic.Conn, wantSite string) (*conn, error) {
	st := qc.ConnectionState()
	if st.TLS.NegotiatedProtocol != t.alpn {
		t.refuse(CauseALPN, qc.RemoteAddr(), pki.Identity{}, fmt.Errorf("the peer negotiated ALPN %q", st.TLS.NegotiatedProtocol))
		qc.CloseWithError(codeProtocol, "ALPN mismatch")
		return nil, errors.New("transport: ALPN mismatch")
	}
	if !st.SupportsDatagrams.Remote {
		t.refuse(CauseALPN, qc.RemoteAddr(), pki.Identity{}, errors.New("the peer does not support QUIC datagrams"))
		qc.CloseWithError(codeProtocol, "no datagram support")
		return nil, errors.New("transport: no datagram support")
	}
	id, err := t.identify(st.TLS, wantSite)
	if err != nil { // cannot happen: VerifyConnection checked it
		qc.CloseWithError(codeProtocol, "identity")
		return nil, err
	}
	c := &conn{qc: qc, id: id, addr: qc.RemoteAddr(), done: qc.Context().Done()}
	if t.cfg.Mode == ModeUDP {
		if c.keys, err = ringKeysOf(st.TLS, wantSite != ""); err != nil {
			t.log.Error("federation: cannot derive the keys of ring packets from a connection; closing it", "site", id.Site, "node", id.Node, "err", err)
			qc.CloseWithError(codeProtocol, "ring packet keys")
			return nil, err
		}
	}
	return c, nil
}

// install makes c the connection of p, replacing (and closing) the one
// before, and starts c's writer and reader.
func (t *Transport) install(p *peer, c *conn) { t.installUnless(p, c, nil, "") }

// installUnless installs c as install does, unless p's current
// connection has not ended and keep says to keep it: then it closes c
// with reason why and reports false.
func (t *Transport) installUnless(p *peer, c *conn, keep func(cur *conn) bool, why string) bool {
	p.mu.Lock()
	if t.closed.Load() {
		p.mu.Unlock()
		c.qc.CloseWithError(codeClosing, "gateway shutting down")
		return false
	}
	if cur := p.cur; keep != nil && cur != nil && keep(cur) {
		select {
		case <-cur.done:
		default:
			p.mu.Unlock()
			c.qc.CloseWithError(codeClosing, why)
			return false
		}
	}
	old := p.cur
	p.cur = c
	p.mu.Unlock()
	t.stats.connects.Add(1)
	if old != nil {
		t.stats.replaced.Add(1)
		t.log.Info("federation: a new connection replaces the previous one of the site", "site", p.site, "old_node", old.id.Node, "new_node", c.id.Node, "addr", c.addr.String())
		old.qc.CloseWithError(codeReplaced, "replaced by a newer connection of site "+p.site)
	} else {
		t.log.Info("federation: connected to a peer gateway", "site", p.site, "node", c.id.Node, "addr", c.addr.String())
	}
	if c.keys != nil && !t.addKeys(p, c) {
		t.log.Error("federation: two connections exported the same key id for ring packets; sealed datagrams of the newer are refused (reconnect the peer)", "site", p.site, "node", c.id.Node)
		c.keys = nil
	}
	if t.cfg.OnConnect != nil {
		t.cfg.OnConnect(p.site)
	}
	t.wg.Go(func() { t.writer(p, c) })
	t.wg.Go(func() { t.reader(p, c) })
	if t.stripes(p) > 1 {
		t.wg.Go(func() { t.paceStripes(p, c) })
	}
	t.wg.Go(func() {
		<-c.done
		if c.keys != nil {
			t.dropKeys(c)
		}
		p.mu.Lock()
		cur := p.cur == c
		if cur {
			p.cur = nil
			// What was queued for this connection is stale by the time
			// another one is up; the ring retransmits what matters.
		drain:
			for {
				select {
				case pkt := <-p.out:
					p.took(pkt)
				case <-p.ctl:
				default:
					break drain
				}
			}
		}
		p.mu.Unlock()
		if cur {
			t.stats.disconnects.Add(1)
			if !t.closed.Load() {
				t.log.Warn("federation: lost the connection to a peer gateway", "site", p.site, "node", c.id.Node, "addr", c.addr.String(), "err", context.Cause(c.qc.Context()))
			}
		}
	})
	return true
}

// writer sends p's queued packets on c until c ends: in datagram mode
// one writer, control packets first; in stream mode the control packets
// on the hello stream and, from a second goroutine, the message packets
// on a unidirectional stream of their own, so that a token is never
// held back behind messages, neither in this side's queue nor by QUIC's
// in-order delivery of a stream whose packet was lost. In stream mode the
// regular tokens go as DATAGRAMs (tokenDatagram).
func (t *Transport) writer(p *peer, c *conn) {
	if t.cfg.Mode == ModeDatagrams {
		t.datagramWriter(p, c)
		c.ctl.Close() // tells the peer this side is closing (see Close)
		return
	}
	if t.paced(p) && c.keys != nil {
		// ModeUDP: messages and regular tokens in sealed datagrams, the
		// rest (joins, commit tokens) on the hello stream.
		t.wg.Go(func() { t.udpWriter(p, c) })
		defer c.ctl.Close()
		t.writeFrames(c.ctl, p.ctl, nil, c, nil, func(pkt []byte) bool { return t.sealedToken(c, pkt) })
		return
	}
	t.wg.Go(func() {
		s, err := c.qc.OpenUniStreamSync(c.qc.Context())
		if err != nil {
			return
		}
		defer s.Close()
		t.writeFrames(s, p.out, p, c, nil, nil)
	})
	defer c.ctl.Close()
	t.writeFrames(c.ctl, p.ctl, nil, c, nil, func(pkt []byte) bool { return t.tokenDatagram(c, pkt) })
}

// tokenDatagram sends pkt as a DATAGRAM if it is a regular token (and the
// transport is not closing, whose flush must be reliable); it reports
// whether it did. A token on the hello stream whose QUIC packet was lost
// waits for QUIC's loss recovery, and every copy the ring retransmits
// waits behind it (in-order delivery): on a saturated path whose
// bottleneck queue overflowed (QUIC's slow start or congestion avoidance
// filling it) the token took 0.3-0.5 s to arrive, beyond the token
// timeout, and the ring re-formed. As a datagram each copy the ring
// retransmits (localring.Config.TokenRetransmit, about four per token
// timeout) is a fresh chance, as on the UDP the ring's timers were
// designed for. A token too large for a datagram (a long retransmission
// request list) goes on the stream.
func (t *Transport) tokenDatagram(c *conn, pkt []byte) bool {
	if !localring.IsToken(pkt) {
		return false
	}
	select {
	case <-t.closing:
		return false
	default:
	}
	if len(pkt)+2 > datagramPayload {
		return false
	}
	if err := c.qc.SendDatagram(appendFrame(make([]byte, 0, len(pkt)+2), pkt)); err != nil {
		return false // too large after all (DatagramTooLargeError), or the connection ended
	}
	t.stats.tokenDatagrams.Add(1)
	return true
}

// writeFrames writes the packets of q, each with its 16-bit length, on w
// until c ends; acct, when set, accounts for the packets taken (the
// message queue). While yield, when set, reports true, it takes nothing
// (a stripe on a path that queues, see stripeYields) and waits until the
// channel yield returned with it is closed. A token that dgram,
// when set, reports it sent otherwise is not written; what was taken
// before it is handed to the stream first.
func (t *Transport) writeFrames(w io.Writer, q chan []byte, acct *peer, c *conn, yield func() (bool, <-chan struct{}), dgram func(pkt []byte) bool) {
	bw := bufio.NewWriterSize(w, 64<<10)
	var hdr [2]byte
	put := func(pkt []byte) {
		if acct != nil {
			acct.took(pkt)
		}
		t.stats.sent.Add(1)
		if dgram != nil && localring.IsToken(pkt) {
			bw.Flush() // what was queued before it leaves first
			if dgram(pkt) {
				return
			}
		}
		binary.BigEndian.PutUint16(hdr[:], uint16(len(pkt)))
		bw.Write(hdr[:])
		bw.Write(pkt)
	}
	for {
		for yield != nil {
			yields, changed := yield()
			if !yields {
				break
			}
			select {
			case <-changed:
				t.stats.stripeWakes.Add(1)
			case <-c.done:
				return
			case <-t.closing:
				return // the main connection sends what is left
			}
		}
		var pkt []byte
		select {
		case pkt = <-q:
		case <-c.done:
			return
		case <-t.closing:
			// Send what is left, then end the stream (the caller closes it).
			for {
				select {
				case pkt = <-q:
				default:
					bw.Flush()
					return
				}
				put(pkt)
			}
		}
		for {
			put(pkt)
			select {
			case pkt = <-q:
				continue
			default:
			}
			break
		}
		if err := bw.Flush(); err != nil {
			return
		}
	}
}

// datagramWriter sends p's queued packets as datagrams, control packets
// first. Ring packets are coalesced, each with its 16-bit length, into
// datagrams of up to datagramPayload bytes: quic-go keeps at most 128
// received datagrams for the reader, and a burst of small packets would
// overflow it.
func (t *Transport) datagramWriter(p *peer, c *conn) {
	// poll takes the next packet, a control packet if there is one;
	// without wait it returns nil when both queues are empty.
	poll := func(wait bool) []byte {
		select {
		case pkt := <-p.ctl:
			return pkt
		default:
		}
		if !wait {
			select {
			case pkt := <-p.out:
				p.took(pkt)
				return pkt
			default:
				return nil
			}
		}
		select {
		case pkt := <-p.ctl:
			return pkt
		case pkt := <-p.out:
			p.took(pkt)
			return pkt
		case <-c.done:
			return nil
		case <-t.closing:
			return nil
		}
	}
	var held []byte // a packet that did not fit the last datagram
	buf := make([]byte, 0, datagramPayload)
	for {
		if held == nil {
			select {
			case <-t.closing: // send what is left, then end
				held = poll(false)
			default:
				held = poll(true)
			}
			if held == nil {
				return
			}
		}
		buf = appendFrame(buf[:0], held)
		n := 1
		held = nil
		for {
			pkt := poll(false)
			if pkt == nil {
				break
			}
			if len(buf)+2+len(pkt) > datagramPayload {
				held = pkt
				break
			}
			buf = appendFrame(buf, pkt)
			n++
		}
		if err := c.qc.SendDatagram(buf); err != nil {
			var tl *quic.DatagramTooLargeError
			if errors.As(err, &tl) {
				t.stats.sendDrops.Add(uint64(n))
				continue
			}
			return
		}
		t.stats.sent.Add(uint64(n))
	}
}

// reader passes the packets c receives on to Recv until c ends: the
// datagrams, or in stream mode the frames of the hello stream and, from a
// second goroutine, of the peer's message stream.
func (t *Transport) reader(p *peer, c *conn) {
	if t.cfg.Mode == ModeDatagrams {
		// Nothing follows the hello on the hello stream but its end, when
		// the peer closes (see Close). Then the reader takes the datagrams
		// that arrive within peerEndGrace, which the peer sent before the
		// end, and closes the connection.
		ctx, ended := context.WithCancel(c.qc.Context())
		defer ended()
		t.wg.Go(func() {
			if _, err := io.Copy(io.Discard, c.ctl); err == nil {
				ended()
			}
		})
		if !t.readDatagrams(ctx, p, c) || c.qc.Context().Err() != nil {
			return
		}
		grace, cancel := context.WithTimeout(c.qc.Context(), peerEndGrace)
		defer cancel()
		if t.readDatagrams(grace, p, c) {
			c.qc.CloseWithError(codePeerLeft, "peer gateway closing")
		}
		return
	}
	t.wg.Go(func() {
		s, err := c.qc.AcceptUniStream(c.qc.Context())
		if err != nil {
			return
		}
		t.readFrames(s, p, c)
	})
	t.wg.Go(func() { t.readDatagrams(c.qc.Context(), p, c) }) // the tokens (tokenDatagram)
	if err := t.readFrames(c.ctl, p, c); errors.Is(err, io.EOF) {
		// The peer ended its control stream: it is closing and everything
		// it sent before has arrived (see Close).
		c.qc.CloseWithError(codePeerLeft, "peer gateway closing")
	}
}

// readDatagrams passes the datagrams c receives on to Recv until ctx
// ends; false once the transport or the connection is closed.
func (t *Transport) readDatagrams(ctx context.Context, p *peer, c *conn) bool {
	for {
		d, err := c.qc.ReceiveDatagram(ctx)
		if err != nil {
			return c.qc.Context().Err() == nil
		}
		closed := false
		if err := splitFrames(d, func(pkt []byte) bool {
			closed = !t.deliver(p, c, pkt)
			return !closed
		}); err != nil {
			t.stats.recvDrops.Add(1)
		}
		if closed {
			return false
		}
	}
}

// readFrames reads length-prefixed packets from r until it or c ends. It
// returns io.EOF when r ended cleanly between two frames.
func (t *Transport) readFrames(r io.Reader, p *peer, c *conn) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [2]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		if n == 0 || n > t.cfg.MaxPacket {
			t.log.Error("federation: a peer gateway sent a frame larger than MaxPacket; closing the connection (do both gateways run the same version?)", "site", p.site, "node", c.id.Node, "bytes", n, "max_packet", t.cfg.MaxPacket)
			c.qc.CloseWithError(codeProtocol, "frame too large")
			return errBadFrame
		}
		d := make([]byte, n)
		if _, err := io.ReadFull(br, d); err != nil {
			return err
		}
		if !t.deliver(p, c, d) {
			return driver.ErrClosed
		}
	}
}

// datagramPayload is the largest DATAGRAM payload this transport sends:
// what fits in a QUIC packet of initialPacketSize bytes after the short
// header (at most 1+20 bytes), the AEAD tag (16) and the frame's type
// and length (3).
const datagramPayload = initialPacketSize - 1 - 20 - 16 - 3

// initialPacketSize is the smallest QUIC packet size this transport uses
// (quic-go's default, set explicitly so that it is kept as the floor).
const initialPacketSize = 1280

// appendFrame appends pkt with its 16-bit length.
func appendFrame(b, pkt []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(pkt)))
	return append(b, pkt...)
}

// errBadFrame is a datagram whose frames do not add up.
var errBadFrame = errors.New("transport: malformed datagram")

// splitFrames calls f with each packet of a datagram of frames written by
// appendFrame, until f returns false. It returns errBadFrame at the first
// frame that is empty or longer than what is left; the frames before it
// were passed to f.
func splitFrames(d []byte, f func(pkt []byte) bool) error {
	for len(d) > 0 {
		if len(d) < 2 {
			return errBadFrame
		}
		n := int(binary.BigEndian.Uint16(d))
		if n == 0 || n > len(d)-2 {
			return errBadFrame
		}
		if !f(d[2 : 2+n : 2+n]) {
			return nil
		}
		d = d[2+n:]
	}
	return nil
}

// deliver queues a received packet for Recv; false once the transport or
// the connection is closed.
func (t *Transport) deliver(p *peer, c *conn, d []byte) bool {
	if len(d) == 0 || len(d) > t.cfg.MaxPacket {
		t.stats.recvDrops.Add(1)
		return true
	}
	select {
	case t.in <- inPacket{from: p.site, data: d}:
		t.stats.received.Add(1)
		return true
	case <-t.ctx.Done():
		return false
	case <-c.done:
		return false
	}
}
