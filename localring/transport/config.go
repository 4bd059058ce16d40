package transport

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
)

// Defaults of Config.
const (
	// DefaultMaxMTU caps the MTU taken from the interface: loopback's 64 KiB
	// MTU would make every packet buffer 64 KiB. 9000 is the largest MTU
	// (jumbo frames) of common data-center networks.
	DefaultMaxMTU = 9000
	// DefaultRecvBufferBytes is the default SO_RCVBUF: room for several
	// full flow-control windows of the ring.
	DefaultRecvBufferBytes = 4 << 20
	// DefaultSendBufferBytes is the default SO_SNDBUF.
	DefaultSendBufferBytes = 1 << 20
	// DefaultBatchSize is the default number of datagrams per recvmmsg and
	// sendmmsg.
	DefaultBatchSize = 64
	// DefaultMulticastTTL keeps multicast on the local link.
	DefaultMulticastTTL = 1
)

// Largest UDP payloads: 65535 minus the IPv4 header (20) and the UDP header
// (8); for IPv6 the payload length field does not count the 40-byte header.
const (
	maxUDPPayload4 = 65535 - 20 - 8
	maxUDPPayload6 = 65535 - 8
	headers4       = 20 + 8
	headers6       = 40 + 8
)

// Config configures a UDP transport. Set Group for multicast or Peers for
// unicast, not both. Zero values mean the defaults.
type Config struct {
	// Bind is this node's unicast address and port. Tokens (and in unicast
	// mode, all packets) arrive there, and every packet leaves from it, so
	// other nodes know this node by it. The address must be one of this
	// host's (resolve the topology file's template with ResolveBind), not
	// 0.0.0.0 or ::. Port 0 means the Group's port in multicast mode; in
	// unicast mode it picks a free port (tests only: peers must know it).
	Bind netip.AddrPort

	// Group is the multicast group and port, e.g. 239.192.0.1:5405 or
	// [ff12::5405]:5405. Every node of the ring uses the same Group. Its
	// address family must match Bind's.
	Group netip.AddrPort

	// Peers lists the Bind address of every ring member, for unicast mode.
	// It may include this node's own Bind, which is skipped.
	Peers []netip.AddrPort

	// Interface names the network interface on which the multicast group
	// is joined and sent. Default: the interface that holds Bind's address.
	Interface string

	// NoMulticastLoop turns multicast loopback off: the kernel then does
	// not copy this node's multicast back to this host, where only this
	// node's own group socket would read the copy, and drop it. Set it only
	// when no other member of the ring runs on this host (in this network
	// namespace); by default the copy is made, so that nodes on one host
	// hear each other.
	NoMulticastLoop bool

	// MulticastTTL is the IPv4 TTL or IPv6 hop limit of multicast packets.
	// Default 1: the packets stay on the local link. Raise it only for a
	// ring whose multicast is routed.
	MulticastTTL int

	// MTU is the path MTU in bytes, from which MaxPacket is computed
	// (minus 28 bytes of IPv4 and UDP headers, or 48 for IPv6). Default:
	// the MTU of the interface that holds Bind's address, at most
	// DefaultMaxMTU. Set it lower when the path has a smaller MTU than the
	// interface (tunnels, VPNs, overlay networks: 1400 is safe on most
	// clouds). At least 576.
	MTU int

	// RecvBufferBytes is the socket receive buffer (SO_RCVBUF) to ask for,
	// in bytes. Default DefaultRecvBufferBytes (4 MiB). The kernel caps it
	// at net.core.rmem_max; Listen then returns a Warning.
	RecvBufferBytes int

	// SendBufferBytes is the socket send buffer (SO_SNDBUF) to ask for, in
	// bytes. Default DefaultSendBufferBytes (1 MiB), capped at
	// net.core.wmem_max.
	SendBufferBytes int

	// ForceBuffers asks for the buffer sizes with SO_RCVBUFFORCE and
	// SO_SNDBUFFORCE, which exceed the sysctl caps but need CAP_NET_ADMIN.
	// Without the capability Listen falls back to the capped sizes (and
	// warns).
	ForceBuffers bool

	// BatchSize is the most datagrams handled by one recvmmsg or sendmmsg
	// system call, and the length of the send queue that Flush empties.
	// Default DefaultBatchSize (64).
	BatchSize int

	// NoGSO turns off segmented sends (UDP GSO, Linux 4.18 or later): in
	// multicast mode a run of full packets to the group otherwise leaves
	// as one send that the kernel cuts into datagrams. A path that refuses
	// them turns them off by itself (and says so in the log); set NoGSO
	// for one that silently loses them.
	NoGSO bool

	// NoGRO turns off coalesced receives (UDP_GRO, Linux 5.0 or later): in
	// multicast mode the group socket otherwise takes the datagrams of one
	// segmented send (or that the NIC merged) in one receive, and
	// ReadBatch hands them out one by one.
	NoGRO bool

	// Logger receives what the transport says once: that the kernel cannot
	// segment UDP sends, or that the path refused them. Default: discard.
	Logger *slog.Logger
}

// multicast reports whether c configures multicast mode.
func (c *Config) multicast() bool { return c.Group.IsValid() }

func (c *Config) setDefaults() {
	c.MulticastTTL = cmp.Or(c.MulticastTTL, DefaultMulticastTTL)
	c.RecvBufferBytes = cmp.Or(c.RecvBufferBytes, DefaultRecvBufferBytes)
	c.SendBufferBytes = cmp.Or(c.SendBufferBytes, DefaultSendBufferBytes)
	c.BatchSize = cmp.Or(c.BatchSize, DefaultBatchSize)
	if c.multicast() && c.Bind.Port() == 0 {
		c.Bind = netip.AddrPortFrom(c.Bind.Addr(), c.Group.Port())
	}
}

// Validate reports every invalid setting, with the fix. It checks the
// settings alone; Listen also checks them against the host's interfaces.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("transport: config: "+format, a...)) }
	bind := c.Bind.Addr()
	switch {
	case !bind.IsValid():
		bad("bind address is not set; resolve the topology file's bind template with ResolveBind")
	case bind.IsUnspecified():
		bad("bind address %v is a wildcard; the ring knows each node by its address, so bind one specific address (ResolveBind)", bind)
	case bind.IsMulticast():
		bad("bind address %v is a multicast group; put the group in Group and this host's address in Bind", bind)
	}
	switch {
	case c.Group.IsValid() && len(c.Peers) > 0:
		bad("both a multicast group (%v) and unicast peers (%d) are set; choose one transport", c.Group, len(c.Peers))
	case !c.Group.IsValid() && len(c.Peers) == 0:
		bad("neither a multicast group nor unicast peers are set; set Group for multicast, or Peers where the network has no multicast")
	case c.Group.IsValid():
		g := c.Group.Addr()
		if !g.IsMulticast() {
			bad("group %v is not a multicast address; use one from 239.0.0.0/8 (IPv4, organization-local) or ff12::/16 (IPv6)", g)
		}
		if c.Group.Port() == 0 {
			bad("group %v has no port; the ring's UDP port is part of the group, e.g. %v", c.Group, netip.AddrPortFrom(g, 5405))
		}
		if bind.IsValid() && g.Is4() != bind.Unmap().Is4() {
			bad("group %v and bind address %v are of different IP versions", g, bind)
		}
	default:
		for _, p := range c.Peers {
			switch {
			case !p.IsValid() || p.Addr().IsUnspecified() || p.Port() == 0:
				bad("peer %v is not a full address:port", p)
			case bind.IsValid() && p.Addr().Unmap().Is4() != bind.Unmap().Is4():
				bad("peer %v and bind address %v are of different IP versions", p, bind)
			}
		}
	}
	if c.MulticastTTL < 0 || c.MulticastTTL > 255 {
		bad("multicast TTL %d must be between 1 and 255", c.MulticastTTL)
	}
	if c.MTU != 0 && (c.MTU < 576 || c.MTU > 65535) {
		bad("MTU %d must be between 576 and 65535 bytes", c.MTU)
	}
	if c.RecvBufferBytes < 0 || c.SendBufferBytes < 0 {
		bad("socket buffer sizes must not be negative")
	}
	if c.BatchSize < 0 || c.BatchSize > 1024 {
		bad("batch size %d must be between 1 and 1024 datagrams", c.BatchSize)
	}
	return errors.Join(errs...)
}
