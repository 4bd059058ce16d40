package transport

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/atoll-gcs/atoll/internal/replay"
	"github.com/atoll-gcs/atoll/localring"
)

// Ring packets outside QUIC (ModeUDP).
//
// A sealed datagram is
//
//	type (1 byte, sealedType) | key id (8) | counter (8) | AEAD(frames) with its 16-byte tag
//
// sent on the transport's UDP socket next to the QUIC connections: its
// first byte has the QUIC fixed bit (0x40) and the long-header bit (0x80)
// clear, so quic-go hands it to ReadNonQUICPacket. The frames are ring
// packets each with its 16-bit length (appendFrame), as in a datagram of
// ModeDatagrams. The header is the AEAD's additional data and the nonce
// is the counter: each direction of each connection has its own key.
//
// The keys come from the TLS exporter of the peer's authenticated QUIC
// connection (ringKeysOf), so only the gateway at the other end of that
// connection, whose certificate the handshake verified, can seal a packet
// this side opens; its address plays no part. A new connection (a
// reconnect, a restarted gateway) has new keys, and the keys of a
// connection are forgotten when it ends. The key id, also exported, names
// the connection the packet belongs to.

const (
	// sealedType is the first byte of a sealed datagram.
	sealedType = 0x01
	// sealedHeaderLen is the type, key id and counter.
	sealedHeaderLen = 1 + 8 + 8
	sealedTagLen    = 16
	// sealedPayload is the most frame bytes a sealed datagram carries:
	// the datagram is at most initialPacketSize bytes, QUIC's smallest
	// packet size, so it crosses every path QUIC's packets cross.
	sealedPayload = initialPacketSize - sealedHeaderLen - sealedTagLen
	// udpIPOverhead is what the pacer adds to each datagram for its UDP
	// and IP headers (IPv6: 40 + 8): a link's bandwidth counts them.
	udpIPOverhead = 48
	// ringExporterLabel is the TLS exporter label of the keys.
	ringExporterLabel = "EXPORTER-atoll-fed ring packets v1"
	// replayWindow is how far below the highest counter accepted from a
	// connection a counter may be and still be accepted (once).
	replayWindow = replay.MaxSize
	// pacerBurst is how much sending time the pacer's bucket holds: after
	// an idle spell (or a late wake-up of the writer) it sends at most
	// this much at once above the bandwidth. A bottleneck's queue takes it
	// (wanem's holds 100 ms).
	pacerBurst = 10 * time.Millisecond
)

// ringKeys are the keys of one QUIC connection's sealed datagrams, both
// directions.
type ringKeys struct {
	sendID, recvID uint64
	send, recv     cipher.AEAD
	next           atomic.Uint64 // the counter of the last datagram sealed
	// p and c are the peer and connection the keys belong to (set when c
	// is installed).
	p *peer
	c *conn
	// win is the replay window of the received counters: only the
	// transport's ring reader (handleSealed) uses it.
	win replay.Window
	// top mirrors win.Top(), and accepted counts the datagrams accepted,
	// for Stats.
	top, accepted atomic.Uint64
}

// gaps is how many counters below the highest accepted were not
// accepted (read while the ring reader may accept more: never negative).
func (k *ringKeys) gaps() uint64 {
	acc := k.accepted.Load()
	if top := k.top.Load(); top > acc {
		return top - acc
	}
	return 0
}

// ringKeysOf derives the keys of a connection from its TLS state: client
// is whether this side dialed it (the QUIC client). Each direction has
// its own AES-256-GCM key and key id.
func ringKeysOf(st tls.ConnectionState, client bool) (*ringKeys, error) {
	m, err := st.ExportKeyingMaterial(ringExporterLabel, nil, ringKeyMaterial)
	if err != nil {
		return nil, fmt.Errorf("transport: export the ring packet keys: %w", err)
	}
	return ringKeysFrom(m, client)
}

// ringKeyMaterial is how many exported bytes make a connection's keys:
// a key and a key id per direction.
const ringKeyMaterial = 2*32 + 2*8

// ringKeysFrom makes the keys of one side from the exported bytes m.
func ringKeysFrom(m []byte, client bool) (*ringKeys, error) {
	var err error
	c2s, s2c := m[0:32], m[32:64]
	c2sID, s2cID := binary.BigEndian.Uint64(m[64:72]), binary.BigEndian.Uint64(m[72:80])
	if !client {
		c2s, s2c = s2c, c2s
		c2sID, s2cID = s2cID, c2sID
	}
	k := &ringKeys{sendID: c2sID, recvID: s2cID}
	if k.send, err = newGCM(c2s); err != nil {
		return nil, err
	}
	if k.recv, err = newGCM(s2c); err != nil {
		return nil, err
	}
	return k, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// seal appends the sealed datagram of frames to dst, with the next
// counter.
func (k *ringKeys) seal(dst, frames []byte) []byte {
	ctr := k.next.Add(1)
	var hdr [sealedHeaderLen]byte
	hdr[0] = sealedType
	binary.BigEndian.PutUint64(hdr[1:9], k.sendID)
	binary.BigEndian.PutUint64(hdr[9:17], ctr)
	var nonce [12]byte
	binary.BigEndian.PutUint64(nonce[4:], ctr)
	dst = append(dst, hdr[:]...)
	return k.send.Seal(dst, nonce[:], frames, hdr[:])
}

// parseSealed reads the key id and counter of a sealed datagram; false
// if b is not one (another type, or too short to hold a frame).
func parseSealed(b []byte) (id, ctr uint64, ok bool) {
	if len(b) < sealedHeaderLen+3+sealedTagLen || len(b) > initialPacketSize || b[0] != sealedType {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(b[1:9]), binary.BigEndian.Uint64(b[9:17]), true
}

// open authenticates and decrypts datagram b of counter ctr (parseSealed)
// into a new slice.
func (k *ringKeys) open(b []byte, ctr uint64) ([]byte, error) {
	var nonce [12]byte
	binary.BigEndian.PutUint64(nonce[4:], ctr)
	return k.recv.Open(nil, nonce[:], b[sealedHeaderLen:], b[:sealedHeaderLen])
}

// pacer is a token bucket of bytes: it lets a writer send at rate bytes
// per second on average, and at most depth bytes at once above it.
type pacer struct {
	rate  float64 // bytes per second
	depth float64 // bytes
	avail float64 // bytes that may go now; negative: owed
	last  time.Time
}

// newPacer returns a full pacer for a path of bitsPerSec.
func newPacer(bitsPerSec int64) *pacer {
	rate := float64(bitsPerSec) / 8
	depth := max(rate*pacerBurst.Seconds(), 2*(initialPacketSize+udpIPOverhead))
	return &pacer{rate: rate, depth: depth, avail: depth}
}

// reserve takes n bytes at now and returns how long the writer must wait
// before it sends them.
func (p *pacer) reserve(now time.Time, n int) time.Duration {
	if !p.last.IsZero() {
		p.avail = min(p.depth, p.avail+now.Sub(p.last).Seconds()*p.rate)
	}
	p.last = now
	p.avail -= float64(n)
	if p.avail >= 0 {
		return 0
	}
	return time.Duration(-p.avail / p.rate * float64(time.Second))
}

// paced reports whether p's message packets and regular tokens go in
// sealed datagrams (ModeUDP, and a bandwidth declared for p's path).
func (t *Transport) paced(p *peer) bool {
	return t.cfg.Mode == ModeUDP && p.rate > 0
}

// sealedToken sends pkt in a sealed datagram at once, ahead of the
// messages queued for the peer and outside the pacer, if it is a regular
// token (and the transport is not closing, whose flush must be reliable);
// it reports whether it did. A token queued behind its visit's messages
// waited until the pacer had sent them: each hop of the token took the
// sending time of its holder's messages on top of the path's delay, the
// rotation grew from 306 to 555-595 ms at 50 Mbit/s (BenchmarkRingWAN),
// and the ring carried a window per rotation, under half the cap. Ahead
// of them it arrives while they are still on their way, and the next
// member sends its own meanwhile; the ring core asks for a missing packet
// only if it was sent before its previous visit, so the messages the
// token overtook are not asked for again.
func (t *Transport) sealedToken(c *conn, pkt []byte) bool {
	if !localring.IsToken(pkt) || len(pkt)+2 > sealedPayload {
		return false
	}
	select {
	case <-t.closing:
		return false
	default:
	}
	d := c.keys.seal(make([]byte, 0, sealedHeaderLen+2+len(pkt)+sealedTagLen), appendFrame(make([]byte, 0, 2+len(pkt)), pkt))
	if _, err := t.qt.WriteTo(d, c.addr); err != nil {
		return false // on the stream then
	}
	t.stats.ringSent.Add(1)
	t.stats.tokenDatagrams.Add(1)
	return true
}

// addKeys registers c's keys, so that the ring reader takes the sealed
// datagrams of c; false if another live connection has the same key id
// (64 exported bits: not expected to happen).
func (t *Transport) addKeys(p *peer, c *conn) bool {
	k := c.keys
	k.p, k.c = p, c
	t.ringMu.Lock()
	defer t.ringMu.Unlock()
	if t.ringKeys[k.recvID] != nil {
		return false
	}
	t.ringKeys[k.recvID] = k
	return true
}

// dropKeys forgets c's keys: its sealed datagrams are refused from now on.
func (t *Transport) dropKeys(c *conn) {
	k := c.keys
	t.ringMu.Lock()
	defer t.ringMu.Unlock()
	if t.ringKeys[k.recvID] == k {
		delete(t.ringKeys, k.recvID)
		t.stats.ringGapsRetired.Add(k.gaps())
	}
}

// ringConn is the transport's socket as quic-go sees it in ModeUDP: its
// ReadFrom takes the sealed datagrams out of what the socket reads (the
// datagrams whose first byte has the QUIC fixed bit and long-header bit
// clear) and hands quic-go the rest. quic-go's own path for packets that
// are not QUIC (Transport.ReadNonQUICPacket) queues at most 32 of them
// and drops the rest uncounted: at a few thousand ring packets per second
// on a loaded machine a reader goroutine behind it lost 4-8 % of what the
// relay delivered (BenchmarkRingWAN, counter gaps against the relay's
// counts). Taken here, in quic-go's reading goroutine, a datagram is
// opened as it is read and the socket's receive buffer is the only queue.
// quic-go reads a socket so wrapped one packet per call (no recvmmsg or
// GSO; ModeUDP sends little over QUIC).
type ringConn struct {
	net.PacketConn
	t *Transport
}

func (c *ringConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || n == 0 || b[0]&0xc0 != 0 {
			return n, addr, err
		}
		c.t.handleSealed(b[:n])
	}
}

// ringUDPConn is a ringConn of a *net.UDPConn: quic-go sets its buffer
// sizes and the don't-fragment bit through these.
type ringUDPConn struct {
	*ringConn
	u *net.UDPConn
}

func (c *ringUDPConn) SetReadBuffer(n int) error             { return c.u.SetReadBuffer(n) }
func (c *ringUDPConn) SetWriteBuffer(n int) error            { return c.u.SetWriteBuffer(n) }
func (c *ringUDPConn) SyscallConn() (syscall.RawConn, error) { return c.u.SyscallConn() }

// wrapRingConn returns pc as quic-go is to read it in ModeUDP.
func (t *Transport) wrapRingConn(pc net.PacketConn) net.PacketConn {
	rc := &ringConn{PacketConn: pc, t: t}
	if u, ok := pc.(*net.UDPConn); ok {
		return &ringUDPConn{ringConn: rc, u: u}
	}
	return rc
}

// handleSealed checks one datagram that is not QUIC and queues its ring
// packets for Recv. What is malformed, of no live connection's key,
// fails authentication or repeats a counter is dropped and counted. The
// address it came from is not looked at: the key says which connection,
// and so which authenticated peer, sealed it. A full receive queue drops
// it too (counted): it runs in quic-go's reading goroutine (ringConn),
// which must not wait.
func (t *Transport) handleSealed(b []byte) {
	id, ctr, ok := parseSealed(b)
	if !ok {
		t.stats.ringMalformed.Add(1)
		return
	}
	t.ringMu.RLock()
	k := t.ringKeys[id]
	t.ringMu.RUnlock()
	if k == nil {
		t.stats.ringUnknownKey.Add(1)
		return
	}
	if k.win.Check(ctr, replayWindow) != replay.Fresh {
		t.stats.ringReplayed.Add(1)
		return
	}
	d, err := k.open(b, ctr)
	if err != nil {
		t.stats.ringForged.Add(1)
		return
	}
	k.win.Accept(ctr)
	k.top.Store(k.win.Top())
	k.accepted.Add(1)
	t.stats.ringReceived.Add(1)
	if err := splitFrames(d, func(pkt []byte) bool {
		if len(pkt) > t.cfg.MaxPacket {
			t.stats.recvDrops.Add(1)
			return true
		}
		select {
		case <-k.c.done:
			return false
		default:
		}
		select {
		case t.in <- inPacket{from: k.p.site, data: pkt}:
			t.stats.received.Add(1)
		default:
			t.stats.ringRecvFull.Add(1)
		}
		return true
	}); err != nil {
		// Authentic, so sent by a gateway that frames otherwise: another
		// version, which the ALPN should have refused.
		t.stats.ringMalformed.Add(1)
	}
}

// udpWriter sends p's message queue (messages and regular tokens, in
// order) in sealed datagrams on the socket to c's address, coalescing
// what is queued into datagrams of up to sealedPayload bytes and pacing
// them at p's bandwidth, until c ends. Once the transport closes it
// sends what is left without pacing, best effort (the leave's joins go
// on the hello stream).
func (t *Transport) udpWriter(p *peer, c *conn) {
	pc := newPacer(p.rate)
	// Go 1.23 timers: Reset and Stop discard a value not yet received.
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	frames := make([]byte, 0, sealedPayload)
	out := make([]byte, 0, initialPacketSize)
	closing := false
	var held []byte // a packet that did not fit the last datagram
	for {
		if held == nil {
			select {
			case held = <-p.out:
			case <-c.done:
				return
			case <-t.closing:
				closing = true
				select {
				case held = <-p.out:
				default:
					return
				}
			}
			p.took(held)
		}
		frames = appendFrame(frames[:0], held)
		n := 1
		held = nil
	fill:
		for {
			select {
			case pkt := <-p.out:
				p.took(pkt)
				if len(frames)+2+len(pkt) > sealedPayload {
					held = pkt
					break fill
				}
				frames = appendFrame(frames, pkt)
				n++
			default:
				break fill
			}
		}
		out = c.keys.seal(out[:0], frames)
		if d := pc.reserve(time.Now(), len(out)+udpIPOverhead); d > 0 && !closing {
			t.stats.ringPaceWaits.Add(1)
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-c.done:
				return
			case <-t.closing:
				closing = true
				timer.Stop()
			}
		}
		if _, err := t.qt.WriteTo(out, c.addr); err != nil {
			t.stats.sendDrops.Add(uint64(n))
			select {
			case <-c.done:
				return
			case <-t.ctx.Done():
				return
			default:
			}
			continue
		}
		t.stats.sent.Add(uint64(n))
		t.stats.ringSent.Add(1)
	}
}
