package drivertest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
)

// Network connects in-memory transports by ring member id, for tests of
// drivers and of the code above them. Like the real transports, a packet
// is copied on Send, queued until Flush, dropped when the receiver's queue
// is full, and never delivered back to its sender; SendAll reaches every
// other transport on the network. SetDrop cuts links (partitions, loss).
//
// For the ring protocol itself use the deterministic simulator
// (localring/sim), which controls time and faults; Network runs on real
// goroutines.
type Network struct {
	// MaxPacketBytes is the MaxPacket of the transports. Default 1400.
	MaxPacketBytes int
	// QueuePackets is each transport's receive queue, like a socket
	// buffer: packets beyond it are dropped. Default 4096.
	QueuePackets int

	mu    sync.Mutex
	nodes map[localring.NodeID]*Fake
	order []*Fake // in Join order, so SendAll delivers deterministically
	drop  func(from, to localring.NodeID, pkt []byte) bool
}

// Fake is one member's transport on a Network; it implements
// driver.Transport.
type Fake struct {
	net       *Network
	id        localring.NodeID
	maxPacket int
	inbox     chan fakePacket
	done      chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool

	queue []fakeSend // sends waiting for Flush; owned by the sending goroutine

	dropped atomic.Uint64
}

var _ driver.Transport = (*Fake)(nil)

type fakePacket struct {
	from localring.NodeID
	data []byte
}

type fakeSend struct {
	to   localring.NodeID // "" for every other member
	data []byte
}

// SetDrop installs f to decide, for every packet, whether the network
// drops it (nil: deliver everything).
func (n *Network) SetDrop(f func(from, to localring.NodeID, pkt []byte) bool) {
	n.mu.Lock()
	n.drop = f
	n.mu.Unlock()
}

// Join adds member id to the network and returns its transport.
func (n *Network) Join(id localring.NodeID) (*Fake, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if id == "" {
		return nil, errors.New("drivertest: fake: empty member id")
	}
	if n.nodes == nil {
		n.nodes = make(map[localring.NodeID]*Fake)
	}
	if n.nodes[id] != nil {
		return nil, fmt.Errorf("drivertest: fake: member %s is already on the network", id)
	}
	maxPacket, queue := n.MaxPacketBytes, n.QueuePackets
	if maxPacket <= 0 {
		maxPacket = 1400
	}
	if queue <= 0 {
		queue = 4096
	}
	f := &Fake{
		net:       n,
		id:        id,
		maxPacket: maxPacket,
		inbox:     make(chan fakePacket, queue),
		done:      make(chan struct{}),
	}
	n.nodes[id] = f
	n.order = append(n.order, f)
	return f, nil
}

// Transports joins every id and returns their transports in the order of
// ids, as the contract suite's mk wants them.
func (n *Network) Transports(ids []localring.NodeID) ([]driver.Transport, error) {
	ts := make([]driver.Transport, 0, len(ids))
	for _, id := range ids {
		f, err := n.Join(id)
		if err != nil {
			for _, t := range ts {
				t.Close()
			}
			return nil, err
		}
		ts = append(ts, f)
	}
	return ts, nil
}

// ID returns the member id of f.
func (f *Fake) ID() localring.NodeID { return f.id }

// Dropped counts the packets for f that its full queue dropped.
func (f *Fake) Dropped() uint64 { return f.dropped.Load() }

// MaxPacket implements driver.Transport.
func (f *Fake) MaxPacket() int { return f.maxPacket }

// Send implements driver.Transport.
func (f *Fake) Send(to localring.NodeID, pkt []byte) error {
	if err := f.check(pkt); err != nil {
		return err
	}
	f.net.mu.Lock()
	known := f.net.nodes[to] != nil && to != f.id
	f.net.mu.Unlock()
	if !known {
		return &driver.SendError{To: to, Err: errors.New("drivertest: fake: no such member on the network")}
	}
	f.queue = append(f.queue, fakeSend{to: to, data: append([]byte(nil), pkt...)})
	return nil
}

// SendAll implements driver.Transport.
func (f *Fake) SendAll(pkt []byte) error {
	if err := f.check(pkt); err != nil {
		return err
	}
	f.queue = append(f.queue, fakeSend{data: append([]byte(nil), pkt...)})
	return nil
}

func (f *Fake) check(pkt []byte) error {
	if f.closed.Load() {
		return driver.ErrClosed
	}
	if len(pkt) > f.maxPacket {
		return fmt.Errorf("drivertest: fake: packet of %d bytes, at most %d", len(pkt), f.maxPacket)
	}
	return nil
}

// Flush implements driver.Transport: it delivers the queued packets.
func (f *Fake) Flush() error {
	if f.closed.Load() {
		f.queue = f.queue[:0]
		return driver.ErrClosed
	}
	n := f.net
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, s := range f.queue {
		if s.to != "" {
			if g := n.nodes[s.to]; g != nil {
				g.deliver(n, f.id, s.data)
			}
		} else {
			for _, g := range n.order {
				if g != f {
					g.deliver(n, f.id, s.data)
				}
			}
		}
		f.queue[i] = fakeSend{}
	}
	f.queue = f.queue[:0]
	return nil
}

// deliver queues data for g; n.mu is held.
func (g *Fake) deliver(n *Network, from localring.NodeID, data []byte) {
	if n.drop != nil && n.drop(from, g.id, data) {
		return
	}
	select {
	case g.inbox <- fakePacket{from: from, data: data}:
	default:
		g.dropped.Add(1)
	}
}

// Recv implements driver.Transport.
func (f *Fake) Recv(ps []driver.Packet) (int, error) {
	if len(ps) == 0 {
		return 0, nil
	}
	var p fakePacket
	select {
	case p = <-f.inbox:
	case <-f.done:
		return 0, driver.ErrClosed
	}
	i := 0
	for {
		ps[i].From = p.from
		ps[i].N = copy(ps[i].Buf, p.data)
		i++
		if i == len(ps) {
			return i, nil
		}
		select {
		case p = <-f.inbox:
		default:
			return i, nil
		}
	}
}

// Close implements driver.Transport: f leaves the network and a blocked
// Recv returns driver.ErrClosed.
func (f *Fake) Close() error {
	f.closeOnce.Do(func() {
		f.closed.Store(true)
		close(f.done)
		n := f.net
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(n.nodes, f.id)
		for i, g := range n.order {
			if g == f {
				n.order = append(n.order[:i], n.order[i+1:]...)
				break
			}
		}
	})
	return nil
}

// Store is an in-memory driver.StateStore for tests: it keeps the saved
// ring sequence numbers in order, and fails every save while Err is set.
type Store struct {
	mu    sync.Mutex
	saves []uint64
	err   error
}

// SaveRingSeq implements driver.StateStore.
func (s *Store) SaveRingSeq(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.saves = append(s.saves, seq)
	return nil
}

// Fail makes every later save fail with err (nil: succeed again).
func (s *Store) Fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// Saved returns the last saved ring sequence number (0 before any).
func (s *Store) Saved() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.saves) == 0 {
		return 0
	}
	return s.saves[len(s.saves)-1]
}

// Saves returns every saved ring sequence number, in order.
func (s *Store) Saves() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.saves...)
}
