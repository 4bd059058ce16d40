package wanem

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// readBatchLen is the most datagrams one recvmmsg reads.
const readBatchLen = 16

// maxDatagram is the largest UDP payload.
const maxDatagram = 1 << 16

// socketBuffer is the kernel buffer asked for on each socket, so that
// bursts at the packet rates the emulator is meant for (10k packets/s and
// more) wait in the kernel rather than being dropped there.
const socketBuffer = 4 << 20

// Config configures a Relay.
type Config struct {
	// Listen is the UDP address the relay receives on: the address the
	// near side sends to instead of Target. Default "127.0.0.1:0" (a free
	// loopback port; Relay.Addr tells which).
	Listen string
	// Target is the UDP address the relay forwards to. Required.
	Target string
	// Source is the local address of the relay's socket toward Target,
	// the address Target sees the traffic come from. Default: a free port
	// on 127.0.0.1 when Target is a loopback address, else on all
	// addresses.
	Source string
	// Forward are the conditions from the near side to Target, Reverse
	// those of the replies. Zero values are perfect links.
	Forward, Reverse Params
	// Seed seeds the links' random choices (loss, jitter, ...), for runs
	// that repeat the same fates given the same packet sequence. Zero
	// means a random seed.
	Seed uint64
}

// maxSessions bounds the senders a relay keeps a socket toward the target
// for; beyond it the least recently active one is closed.
const maxSessions = 64

// sessionIdle is how long a sender's session lasts without a datagram
// either way before a new sender may reclaim it.
const sessionIdle = 5 * time.Minute

// Relay is a UDP relay that emulates a WAN path between a near side and a
// target: datagrams sent to Addr go to Target through the Forward link, and
// Target's replies go back through the Reverse link. Like a NAT, the relay
// gives each sender its own socket toward Target (a session), so Target
// tells senders apart by address and each gets its own replies: a restarted
// gateway on a new port, or a standby next to a paused gateway, gets a path
// of its own. All senders share the two links (one path, one cap). With a
// fixed Config.Source port there can be one session only, and a new sender
// takes it over. Datagrams reaching a session's socket from anywhere but
// Target are ignored (counted by Stray).
type Relay struct {
	front    *sock
	source   string // address of the sessions' sockets
	oneOnly  bool   // source has a fixed port: one session at a time
	target   *net.UDPAddr
	targetAP netip.AddrPort
	fwd, rev *Link
	ownLinks bool
	start    time.Time

	mu       sync.Mutex
	sessions map[netip.AddrPort]*session
	last     atomic.Pointer[session] // the session of the latest new sender or datagram

	stray  atomic.Uint64
	closed atomic.Bool
	wg     sync.WaitGroup
}

// session is one sender's socket toward the target.
type session struct {
	key    netip.AddrPort // the sender, unmapped
	peer   *net.UDPAddr   // the sender, where replies go
	back   *sock
	active atomic.Int64 // time of the last datagram either way, since Relay.start
}

// Pipe starts a relay on a free loopback port toward target with the same
// conditions both ways: Pipe(addr, RTT(200*time.Millisecond)) is a path
// with a round-trip time of 200 ms.
func Pipe(target string, p Params) (*Relay, error) {
	return New(Config{Target: target, Forward: p, Reverse: p})
}

// Validate reports what is missing or out of range in cfg.
func (cfg Config) Validate() error {
	if cfg.Target == "" {
		return errors.New("wanem: a relay needs a target address (Config.Target)")
	}
	if err := cfg.Forward.check(); err != nil {
		return fmt.Errorf("wanem: forward link: %w", err)
	}
	if err := cfg.Reverse.check(); err != nil {
		return fmt.Errorf("wanem: reverse link: %w", err)
	}
	return nil
}

// New starts a relay.
func New(cfg Config) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	fwd, err := newLink("forward", cfg.Forward, seed, 1)
	if err != nil {
		return nil, err
	}
	rev, err := newLink("reverse", cfg.Reverse, seed, 2)
	if err != nil {
		fwd.close()
		return nil, err
	}
	r, err := newRelay(cfg, fwd, rev)
	if err != nil {
		fwd.close()
		rev.close()
		return nil, err
	}
	r.ownLinks = true
	return r, nil
}

// newRelay starts a relay whose directions go through the given links,
// which may be shared with other relays (a Mesh's relays from a to b and
// from b to a share their links).
func newRelay(cfg Config, fwd, rev *Link) (*Relay, error) {
	if cfg.Target == "" {
		return nil, errors.New("wanem: a relay needs a target address")
	}
	target, err := net.ResolveUDPAddr("udp", cfg.Target)
	if err != nil {
		return nil, fmt.Errorf("wanem: target %q: %w", cfg.Target, err)
	}
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	source := cfg.Source
	if source == "" {
		source = ":0"
		if target.IP.IsLoopback() {
			source = net.JoinHostPort(target.IP.String(), "0")
		}
	}
	sa, err := net.ResolveUDPAddr("udp", source)
	if err != nil {
		return nil, fmt.Errorf("wanem: source address %q: %w", source, err)
	}
	front, err := listenSock(listen)
	if err != nil {
		return nil, fmt.Errorf("wanem: listen address %q: %w", listen, err)
	}
	ap := target.AddrPort()
	r := &Relay{
		front: front, source: source, oneOnly: sa.Port != 0,
		target: target, targetAP: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()),
		fwd: fwd, rev: rev,
		start:    time.Now(),
		sessions: map[netip.AddrPort]*session{},
	}
	r.wg.Add(1)
	go r.read(front, nil)
	return r, nil
}

func listenSock(addr string) (*sock, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	setBuffers(c, socketBuffer)
	enableRxTimestamps(c)
	s := &sock{c: c}
	if la := c.LocalAddr().(*net.UDPAddr); la.IP.To4() != nil {
		s.bc = ipv4.NewPacketConn(c)
	} else {
		s.bc = ipv6.NewPacketConn(c)
	}
	return s, nil
}

func unmap(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) }

// session returns the session of sender src, opening one if needed; nil if
// no socket toward the target can be opened or the relay is closing.
func (r *Relay) session(key netip.AddrPort, src *net.UDPAddr) *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return nil
	}
	if s := r.sessions[key]; s != nil {
		return s
	}
	now := int64(time.Since(r.start))
	limit := maxSessions
	if r.oneOnly {
		limit = 1
	}
	for k, s := range r.sessions {
		if now-s.active.Load() > int64(sessionIdle) {
			r.endSession(k, s)
		}
	}
	for len(r.sessions) >= limit {
		var oldest *session
		for _, s := range r.sessions {
			if oldest == nil || s.active.Load() < oldest.active.Load() {
				oldest = s
			}
		}
		r.endSession(oldest.key, oldest)
	}
	back, err := listenSock(r.source)
	if err != nil {
		return nil
	}
	s := &session{key: key, peer: &net.UDPAddr{IP: append(net.IP(nil), src.IP...), Port: src.Port, Zone: src.Zone}, back: back}
	s.active.Store(now)
	r.sessions[key] = s
	r.wg.Add(1)
	go r.read(back, s)
	return s
}

// endSession closes a session's socket; its reader ends. Called with mu
// held.
func (r *Relay) endSession(k netip.AddrPort, s *session) {
	delete(r.sessions, k)
	r.last.CompareAndSwap(s, nil)
	s.back.c.Close()
}

// read moves the datagrams arriving on in into a link: from senders on the
// relay's address (s nil) into Forward toward Target, each through its
// session's socket; from Target on session s's socket into Reverse toward
// s's sender.
func (r *Relay) read(in *sock, s *session) {
	defer r.wg.Done()
	ms := make([]ipv4.Message, readBatchLen)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, maxDatagram)}
		ms[i].OOB = make([]byte, oobLen)
	}
	for {
		n, err := in.bc.ReadBatch(ms, 0)
		if err != nil {
			if r.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(time.Millisecond) // a transient error: don't spin on it
			continue
		}
		nowWall := time.Now()
		now := int64(time.Since(r.start))
		for i := range ms[:n] {
			m := &ms[i]
			src, _ := m.Addr.(*net.UDPAddr)
			if src == nil {
				continue
			}
			age := rxAge(m.OOB[:m.NN], nowWall)
			key := unmap(src.AddrPort())
			b := append([]byte(nil), m.Buffers[0][:m.N]...)
			if s != nil { // a reply
				if key != r.targetAP {
					r.stray.Add(1)
					continue
				}
				s.active.Store(now)
				r.rev.enqueue(b, age, r.front, s.peer)
				continue
			}
			ss := r.last.Load()
			if ss == nil || ss.key != key {
				if ss = r.session(key, src); ss == nil {
					r.fwd.enqueue(b, age, nil, nil) // counted as Drops.NoSocket
					continue
				}
				r.last.Store(ss)
			}
			ss.active.Store(now)
			r.fwd.enqueue(b, age, ss.back, r.target)
		}
	}
}

// Addr returns the address the near side sends to (host:port).
func (r *Relay) Addr() string { return r.front.c.LocalAddr().String() }

// SourceAddr returns the address Target sees the latest sender's traffic
// come from ("" before anyone sent).
func (r *Relay) SourceAddr() string {
	if s := r.last.Load(); s != nil {
		return s.back.c.LocalAddr().String()
	}
	return ""
}

// Sessions returns the number of senders the relay has a socket toward the
// target for.
func (r *Relay) Sessions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// Forward returns the link from the near side to Target.
func (r *Relay) Forward() *Link { return r.fwd }

// Reverse returns the link from Target back to the near side.
func (r *Relay) Reverse() *Link { return r.rev }

// Cut cuts both directions (see Link.Cut).
func (r *Relay) Cut() { r.fwd.Cut(); r.rev.Cut() }

// Heal heals both directions.
func (r *Relay) Heal() { r.fwd.Heal(); r.rev.Heal() }

// Set gives both directions the same parameters.
func (r *Relay) Set(p Params) error {
	if err := p.Validate(); err != nil {
		return err
	}
	r.fwd.Set(p)
	r.rev.Set(p)
	return nil
}

// Stray returns how many datagrams reached a session's socket from another
// address than Target and were ignored.
func (r *Relay) Stray() uint64 { return r.stray.Load() }

// Close stops the relay, closes its sockets and drops the packets in flight
// on the links it owns (a Mesh closes the shared ones).
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed.Swap(true) {
		r.mu.Unlock()
		return nil
	}
	err := r.front.c.Close()
	for k, s := range r.sessions {
		r.endSession(k, s)
	}
	r.mu.Unlock()
	r.wg.Wait()
	if r.ownLinks {
		r.fwd.close()
		r.rev.close()
	}
	return err
}
