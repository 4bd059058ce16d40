// Package transport is the I/O edge of a local ring node: it moves the
// ring core's packets between hosts as UDP datagrams, and nothing else. It
// does not know what a packet means, does not retry, and does not order;
// the ring protocol above it does all that (and localring/seal protects the
// bytes before they get here).
//
// A node drives one Transport from two goroutines:
//
//	t, warnings, err := transport.Listen(cfg)
//	for _, w := range warnings {
//		log.Warn(w.String()) // e.g. the kernel capped the receive buffer
//	}
//	// the receive loop
//	ms := make([]transport.Message, 64)
//	for i := range ms {
//		ms[i].Buf = make([]byte, t.MaxPacket())
//	}
//	for {
//		n, err := t.ReadBatch(ms) // blocks; one system call for many datagrams
//		if errors.Is(err, transport.ErrClosed) {
//			return
//		}
//		for _, m := range ms[:n] {
//			if !m.Truncated {
//				handle(m.From, m.Payload()) // hand to the core's loop
//			}
//		}
//	}
//	// the core's loop, after each step: queue what the core returned...
//	t.Multicast(pkt)
//	t.Unicast(next, token)
//	// ...and send it all with one sendmmsg
//	t.Flush()
//
// Sends are queued and leave at Flush, so the packets of one step of the
// core cost one system call. In multicast mode, where the kernel can
// (UDP GSO, Linux 4.18 or later; Config.NoGSO), each run of queued packets
// to the group of one size, the last possibly shorter, leaves as one
// message of that call which the kernel cuts into the same datagrams:
// one pass down the sender's IP stack instead of one per packet. A path
// that refuses such sends gets the packets one by one, and segmenting
// stops (Config.Logger says so once). The group socket takes such a run
// in one receive where the kernel can (UDP GRO, Linux 5.0 or later;
// Config.NoGRO), and ReadBatch hands its datagrams out one by one, as if
// they had come apart. Multicast and Unicast copy the packet, so the
// caller may reuse its buffer at once. A packet larger than MaxPacket is
// refused with ErrTooLarge: the core packs its packets to MaxPacket (minus
// the seal overhead), which is the path MTU minus the IP and UDP headers,
// so that nothing is fragmented.
//
// Datagrams are lost, duplicated and reordered as UDP allows. A transport
// never delivers a node's own packets back to it, in either mode, so the
// core sees the same traffic over multicast, over unicast and over the Fake.
//
// # Multicast and unicast
//
// Listen builds one of two real transports, both over UDP (IPv4 or IPv6):
//
//   - Multicast (Config.Group set): Multicast sends one datagram to the
//     group, which every member receives; Unicast (tokens) goes to the
//     member's own address. The group is joined on one interface, packets
//     leave through it with a TTL of 1 (Config.MulticastTTL), and multicast
//     loopback is on so that nodes on the same host hear each other
//     (unless Config.NoMulticastLoop: no other member on this host). The
//     node uses two sockets: its unicast address (Config.Bind), from which
//     it also sends, and the group address, bound with SO_REUSEADDR so
//     several nodes on one host can share it.
//   - Unicast (Config.Peers set), for networks without multicast (clouds,
//     Kubernetes): Multicast sends one datagram to every peer, all in the
//     same sendmmsg. One socket.
//
// FakeNetwork and Fake are an in-memory transport for tests of drivers and
// agents, with the same contract.
//
// # Socket buffers
//
// A ring sends in bursts (a token visit may release a window of hundreds
// of packets), and Linux drops datagrams that do not fit in the receive
// buffer. Listen asks for Config.RecvBufferBytes and SendBufferBytes and
// reads back what the kernel granted; when net.core.rmem_max or wmem_max
// capped it, it returns a Warning that names the sysctl to raise.
//
// # Bind address
//
// ResolveBind turns a go-sockaddr template from the topology file
// (`{{ GetPrivateInterfaces | include "network" "10.1.0.0/16" | attr "address" }}`)
// into exactly one address, or into a *BindError that lists the candidates
// and how to narrow the template.
package transport

import (
	"errors"
	"fmt"
	"net/netip"
)

// Transport moves the ring's packets. All methods are safe for concurrent
// use; typically one goroutine calls ReadBatch and another sends.
type Transport interface {
	// Multicast queues pkt for every other member of the ring.
	Multicast(pkt []byte) error
	// Unicast queues pkt for the member at address to.
	Unicast(to netip.AddrPort, pkt []byte) error
	// Flush sends every queued packet, with as few system calls as the
	// kernel allows. A packet the kernel refuses is dropped and counted;
	// Flush still sends the rest and returns the first failure as a
	// *SendError.
	Flush() error
	// ReadBatch blocks until at least one datagram arrives, then fills as
	// many of ms as are ready (each into ms[i].Buf) and returns how many.
	// After Close it returns ErrClosed.
	ReadBatch(ms []Message) (int, error)
	// LocalAddr is this node's unicast address: where its tokens arrive,
	// and the From of its packets at the other members.
	LocalAddr() netip.AddrPort
	// MaxPacket is the largest packet in bytes that Multicast and Unicast
	// accept: the path MTU minus the IP and UDP headers.
	MaxPacket() int
	// Close releases the sockets and unblocks ReadBatch. Queued packets
	// that were not flushed are dropped.
	Close() error
}

// Message is one datagram received by ReadBatch.
type Message struct {
	// Buf is the caller's buffer, which ReadBatch fills; give it
	// MaxPacket() bytes so that no datagram is cut.
	Buf []byte
	// N is the number of bytes received into Buf.
	N int
	// From is the sender's unicast address.
	From netip.AddrPort
	// Truncated reports that the datagram was longer than Buf and was cut
	// to fit: drop it.
	Truncated bool
}

// Payload returns the received bytes, Buf[:N].
func (m *Message) Payload() []byte { return m.Buf[:m.N] }

// ErrClosed is returned by every method of a closed transport.
var ErrClosed = errors.New("transport: closed")

// ErrTooLarge is returned (wrapped) by Multicast and Unicast for a packet
// larger than MaxPacket: a bug in the caller's packing.
var ErrTooLarge = errors.New("transport: packet larger than the maximum packet size")

// SendError reports a packet the kernel refused to send. Flush returns the
// first of a batch; the rest are counted in Stats.
type SendError struct {
	To  netip.AddrPort // destination
	Err error          // from the kernel, e.g. ENETUNREACH, EPERM (firewall), ENOBUFS
}

func (e *SendError) Error() string { return fmt.Sprintf("transport: send to %v: %v", e.To, e.Err) }

func (e *SendError) Unwrap() error { return e.Err }

// Warning is a problem that does not stop the transport but that an
// operator must know about; the caller logs its String.
type Warning struct {
	// Option is the socket option: "SO_RCVBUF" or "SO_SNDBUF".
	Option string
	// Requested and Granted are buffer sizes in bytes.
	Requested, Granted int
	// Sysctl is the kernel limit that capped it: "net.core.rmem_max" or
	// "net.core.wmem_max".
	Sysctl string
}

func (w Warning) String() string {
	what := "bursts beyond it are dropped by the kernel before the ring sees them"
	if w.Option == "SO_SNDBUF" {
		what = "bursts beyond it fail to send and wait for retransmission"
	}
	return fmt.Sprintf("transport: the kernel capped %s at %d bytes (asked for %d): %s; raise the limit with `sysctl -w %s=%d` (persist it in /etc/sysctl.d/), or give the agent CAP_NET_ADMIN and set ForceBuffers",
		w.Option, w.Granted, w.Requested, what, w.Sysctl, w.Requested)
}

// tooLarge returns ErrTooLarge with the sizes.
func tooLarge(n, max int) error {
	return fmt.Errorf("%w: %d bytes, at most %d (pack to MaxPacket)", ErrTooLarge, n, max)
}
