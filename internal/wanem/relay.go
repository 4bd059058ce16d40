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

// Relay is a UDP relay that emulates a WAN path between a near side and a
// target: datagrams sent to Addr go to Target through the Forward link, and
// Target's replies go back through the Reverse link to the last address
// that sent to Addr (a relay serves one peer at a time, like a
// point-to-point link; a peer that restarts on a new port takes the path
// over). Datagrams reaching the relay's target-side socket from anywhere
// but Target are ignored.
type Relay struct {
	front, back *sock
	target      *net.UDPAddr
	targetAP    netip.AddrPort
	fwd, rev    *Link
	ownLinks    bool

	peer   atomic.Pointer[net.UDPAddr]
	stray  atomic.Uint64
	closed atomic.Bool
	wg     sync.WaitGroup
}

// Pipe starts a relay on a free loopback port toward target with the same
// conditions both ways: Pipe(addr, RTT(200*time.Millisecond)) is a path
// with a round-trip time of 200 ms.
func Pipe(target string, p Params) (*Relay, error) {
	return New(Config{Target: target, Forward: p, Reverse: p})
}

// New starts a relay.
func New(cfg Config) (*Relay, error) {
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	fwd, err := newLink("forward", cfg.Forward, seed, 1)
	if err != nil {
		return nil, fmt.Errorf("wanem: forward link: %w", err)
	}
	rev, err := newLink("reverse", cfg.Reverse, seed, 2)
	if err != nil {
		fwd.close()
		return nil, fmt.Errorf("wanem: reverse link: %w", err)
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
// which may be shared with other relays (a Mesh's relays a->b and b->a
// share their links).
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
	front, err := listenSock(listen)
	if err != nil {
		return nil, fmt.Errorf("wanem: listen address %q: %w", listen, err)
	}
	back, err := listenSock(source)
	if err != nil {
		front.c.Close()
		return nil, fmt.Errorf("wanem: source address %q: %w", source, err)
	}
	ap := target.AddrPort()
	r := &Relay{
		front: front, back: back,
		target: target, targetAP: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()),
		fwd: fwd, rev: rev,
	}
	r.wg.Add(2)
	go r.read(front, true)
	go r.read(back, false)
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

// read moves the datagrams arriving on in into a link: from the near side
// (front) into Forward toward Target, from Target (back) into Reverse
// toward the peer.
func (r *Relay) read(in *sock, front bool) {
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
		for i := range ms[:n] {
			m := &ms[i]
			age := rxAge(m.OOB[:m.NN], nowWall)
			src, _ := m.Addr.(*net.UDPAddr)
			if src == nil {
				continue
			}
			b := append([]byte(nil), m.Buffers[0][:m.N]...)
			if front {
				if p := r.peer.Load(); p == nil || p.Port != src.Port || !p.IP.Equal(src.IP) {
					r.peer.Store(src)
				}
				r.fwd.enqueue(b, age, r.back, r.target)
				continue
			}
			ap := src.AddrPort()
			if netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) != r.targetAP {
				r.stray.Add(1)
				continue
			}
			r.rev.enqueue(b, age, r.front, r.peer.Load())
		}
	}
}

// Addr returns the address the near side sends to (host:port).
func (r *Relay) Addr() string { return r.front.c.LocalAddr().String() }

// SourceAddr returns the address Target sees the relayed traffic come from.
func (r *Relay) SourceAddr() string { return r.back.c.LocalAddr().String() }

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

// Stray returns how many datagrams reached the target-side socket from
// another address than Target and were ignored.
func (r *Relay) Stray() uint64 { return r.stray.Load() }

// Close stops the relay, closes its sockets and drops the packets in flight
// on the links it owns (a Mesh closes the shared ones).
func (r *Relay) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	err := errors.Join(r.front.c.Close(), r.back.c.Close())
	r.wg.Wait()
	if r.ownLinks {
		r.fwd.close()
		r.rev.close()
	}
	return err
}
