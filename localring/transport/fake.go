package transport

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
)

// FakeNetwork connects Fake transports in memory, for tests of the code
// that drives a Transport (agents, drivers). Every Fake on a network is a
// ring member: Multicast reaches all the others. Like UDP, a packet is
// queued until Flush, copied on the way, dropped when the receiver's queue
// is full, and never delivered back to its sender. A Drop filter cuts
// links to test partitions.
//
// For the ring protocol itself use the deterministic simulator, which
// controls time and faults; FakeNetwork runs on real goroutines.
type FakeNetwork struct {
	// MaxPacketBytes is the MaxPacket of the Fakes. Default 1472 (an
	// Ethernet MTU over IPv4).
	MaxPacketBytes int
	// QueuePackets is the receive queue of each Fake, like a socket
	// buffer: packets beyond it are dropped. Default 4096.
	QueuePackets int

	mu    sync.Mutex
	nodes map[netip.AddrPort]*Fake
	order []*Fake // in Listen order, so Multicast delivers deterministically
	drop  func(from, to netip.AddrPort, pkt []byte) bool
}

// SetDrop installs f to decide, for every packet, whether the network
// drops it (nil: deliver everything). Use it for partitions and loss.
// f must not keep pkt: its bytes are reused once the packet is read.
func (n *FakeNetwork) SetDrop(f func(from, to netip.AddrPort, pkt []byte) bool) {
	n.mu.Lock()
	n.drop = f
	n.mu.Unlock()
}

// Listen adds a member with address addr to the network.
func (n *FakeNetwork) Listen(addr netip.AddrPort) (*Fake, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nodes == nil {
		n.nodes = make(map[netip.AddrPort]*Fake)
	}
	if !addr.IsValid() {
		return nil, fmt.Errorf("transport: fake: invalid address %v", addr)
	}
	if n.nodes[addr] != nil {
		return nil, fmt.Errorf("transport: fake: %v is already in use", addr)
	}
	maxPacket, queue := n.MaxPacketBytes, n.QueuePackets
	if maxPacket <= 0 {
		maxPacket = 1500 - headers4
	}
	if queue <= 0 {
		queue = 4096
	}
	f := &Fake{
		net:       n,
		addr:      addr,
		maxPacket: maxPacket,
		inbox:     make(chan fakePacket, queue),
		done:      make(chan struct{}),
	}
	n.nodes[addr] = f
	n.order = append(n.order, f)
	return f, nil
}

// remove takes f off the network.
func (n *FakeNetwork) remove(f *Fake) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.nodes, f.addr)
	for i, g := range n.order {
		if g == f {
			n.order = append(n.order[:i], n.order[i+1:]...)
			break
		}
	}
}

// deliver hands queued packets to their receivers, and lets go of the
// sender's hold on each.
func (n *FakeNetwork) deliver(from *Fake, out []fakeSend) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range out {
		if s.multicast {
			for _, to := range n.order {
				if to != from {
					n.deliverOne(from, to, s.data)
				}
			}
		} else if to := n.nodes[s.to]; to != nil {
			n.deliverOne(from, to, s.data)
		}
		s.data.release()
	}
}

func (n *FakeNetwork) deliverOne(from, to *Fake, data *fakeBuf) {
	if n.drop != nil && n.drop(from.addr, to.addr, data.b) {
		return
	}
	data.refs.Add(1)
	select {
	case to.inbox <- fakePacket{from: from.addr, data: data}:
	default:
		data.release()
		to.dropped.Add(1) // the receiver's queue is full
	}
}

// A fakeBuf is the copy of a packet sent, shared by its receivers' queues
// and back in fakeBufs when the last has read it: a benchmark's simulated
// LAN (bench/isolation) allocated one copy per packet, a tenth of a site's
// process's allocations. A packet left in the queue of a Fake closed, or
// in a Fake's queue never flushed, goes to the garbage collector instead.
type fakeBuf struct {
	b    []byte
	refs atomic.Int32 // the sender's until Flush delivered it, and each receiver's queue
}

var fakeBufs = sync.Pool{New: func() any { return new(fakeBuf) }}

// newFakeBuf returns a copy of pkt, held by the sender.
func newFakeBuf(pkt []byte) *fakeBuf {
	d := fakeBufs.Get().(*fakeBuf)
	d.b = append(d.b[:0], pkt...)
	d.refs.Store(1)
	return d
}

// release lets go of one hold on d.
func (d *fakeBuf) release() {
	if d.refs.Add(-1) == 0 {
		fakeBufs.Put(d)
	}
}

// Fake is an in-memory Transport on a FakeNetwork.
type Fake struct {
	net       *FakeNetwork
	addr      netip.AddrPort
	maxPacket int
	inbox     chan fakePacket
	done      chan struct{}
	closeOnce sync.Once
	dropped   atomic.Uint64

	mu    sync.Mutex
	queue []fakeSend
	spare []fakeSend // a queue delivered, for the next (Flush)
	recv  sync.Mutex
}

var _ Transport = (*Fake)(nil)

type fakePacket struct {
	from netip.AddrPort
	data *fakeBuf
}

type fakeSend struct {
	multicast bool
	to        netip.AddrPort
	data      *fakeBuf
}

func (f *Fake) closed() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// Multicast queues pkt for every other Fake on the network.
func (f *Fake) Multicast(pkt []byte) error {
	return f.enqueue(fakeSend{multicast: true}, pkt)
}

// Unicast queues pkt for the Fake at to; it is lost if there is none.
func (f *Fake) Unicast(to netip.AddrPort, pkt []byte) error {
	return f.enqueue(fakeSend{to: to}, pkt)
}

func (f *Fake) enqueue(s fakeSend, pkt []byte) error {
	if len(pkt) > f.maxPacket {
		return tooLarge(len(pkt), f.maxPacket)
	}
	if f.closed() {
		return ErrClosed
	}
	s.data = newFakeBuf(pkt)
	f.mu.Lock()
	f.queue = append(f.queue, s)
	f.mu.Unlock()
	return nil
}

// Flush delivers the queued packets.
func (f *Fake) Flush() error {
	if f.closed() {
		return ErrClosed
	}
	f.mu.Lock()
	out := f.queue
	f.queue, f.spare = f.spare, nil
	f.mu.Unlock()
	f.net.deliver(f, out)
	clear(out)
	f.mu.Lock()
	if f.spare == nil {
		f.spare = out[:0]
	}
	f.mu.Unlock()
	return nil
}

// ReadBatch blocks until a packet arrives, then returns every queued one
// that fits in ms.
func (f *Fake) ReadBatch(ms []Message) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	f.recv.Lock()
	defer f.recv.Unlock()
	var p fakePacket
	select {
	case p = <-f.inbox:
	case <-f.done:
		return 0, ErrClosed
	}
	n := 0
	for {
		m := &ms[n]
		m.N = copy(m.Buf, p.data.b)
		m.From = p.from
		m.Truncated = m.N < len(p.data.b)
		p.data.release()
		n++
		if n == len(ms) {
			return n, nil
		}
		select {
		case p = <-f.inbox:
		default:
			return n, nil
		}
	}
}

// LocalAddr returns the Fake's address.
func (f *Fake) LocalAddr() netip.AddrPort { return f.addr }

// MaxPacket returns FakeNetwork.MaxPacketBytes.
func (f *Fake) MaxPacket() int { return f.maxPacket }

// Dropped returns how many packets to this Fake were lost to a full
// receive queue.
func (f *Fake) Dropped() uint64 { return f.dropped.Load() }

// Close takes the Fake off the network and unblocks ReadBatch.
func (f *Fake) Close() error {
	f.closeOnce.Do(func() {
		close(f.done)
		f.net.remove(f)
	})
	return nil
}
