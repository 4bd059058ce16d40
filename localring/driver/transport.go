package driver

import (
	"errors"

	"github.com/atoll-gcs/atoll/localring"
)

// Transport carries ring packets between the members of one ring,
// addressed by ring member id. The UDP transport (behind packet sealing,
// which authenticates the sender) and the QUIC transport of the
// federation ring (which takes the sender from its TLS certificate) both
// implement it, and so does the in-memory fake of the tests.
//
// The driver calls Send, SendAll and Flush from its one loop goroutine,
// and Recv from one receive goroutine; Close may be called from any
// goroutine and makes a blocked Recv return ErrClosed.
type Transport interface {
	// MaxPacket is the largest packet Send and SendAll accept and the
	// largest Recv delivers, in bytes.
	MaxPacket() int

	// Send queues pkt for the member to. SendAll queues it for every
	// member this transport knows. Both may send at once or keep the
	// packet until Flush; neither keeps pkt after it returns. A member
	// that cannot be reached is an error of type *SendError, never a
	// block: ring packets are datagrams and the ring retransmits.
	Send(to localring.NodeID, pkt []byte) error
	SendAll(pkt []byte) error

	// Flush sends everything queued.
	Flush() error

	// Recv blocks until at least one packet has arrived and fills
	// ps[0:n] with them, each with its authenticated sender. The packet
	// bytes are in ps[i].Buf[:ps[i].N] (the caller provides Buf with
	// MaxPacket bytes). It returns ErrClosed after Close.
	Recv(ps []Packet) (n int, err error)

	// Close releases the transport's sockets and connections.
	Close() error
}

// BacklogReporter is implemented by a Transport with send queues of its
// own that can grow: one whose connections run under congestion control
// (the federation ring's QUIC transport), and so may carry less than the
// ring's window was sized for. The driver bounds the node's new packets
// by it (Config.MaxBacklogBytes). A transport that hands packets to the
// network at once (UDP) need not implement it.
type BacklogReporter interface {
	// Backlog returns the bytes of ring message packets queued and not
	// yet handed to the network, towards the member with the most.
	// Safe from the driver's loop while the transport sends.
	Backlog() int
}

// Packet is one received ring packet.
type Packet struct {
	// From is the authenticated sender.
	From localring.NodeID
	// Buf is the caller's buffer that Recv fills; N bytes of it are the
	// packet.
	Buf []byte
	N   int
}

// Data returns the packet's bytes.
func (p *Packet) Data() []byte { return p.Buf[:p.N] }

// SendError reports a packet that could not be sent to one member.
type SendError struct {
	To  localring.NodeID
	Err error
}

func (e *SendError) Error() string { return "driver: send to " + string(e.To) + ": " + e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// ErrClosed is returned by a transport after Close.
var ErrClosed = errors.New("driver: transport closed")
