//go:build unix

package transport

import (
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// listenGroup opens a UDP socket bound to the multicast group address
// itself, with SO_REUSEADDR so that every node on the host can bind it.
//
// The net package cannot do this: given a multicast address it binds the
// wildcard instead, which would also take unicast traffic for the port and
// collide with a node's unicast socket on the same port. Binding the group
// means the socket receives that group's datagrams and nothing else.
func listenGroup(group netip.AddrPort, ifindex int) (*net.UDPConn, error) {
	family := unix.AF_INET
	if group.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := socket(family, unix.SOCK_DGRAM, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("transport: socket: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return nil, fmt.Errorf("transport: SO_REUSEADDR: %w", err)
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return nil, fmt.Errorf("transport: IPV6_V6ONLY: %w", err)
		}
		sa = &unix.SockaddrInet6{Port: int(group.Port()), Addr: group.Addr().As16(), ZoneId: uint32(ifindex)}
	} else {
		sa = &unix.SockaddrInet4{Port: int(group.Port()), Addr: group.Addr().As4()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("transport: bind multicast group %v: %w", group, err)
	}
	f := os.NewFile(uintptr(fd), "multicast "+group.String())
	ok = true
	defer f.Close() // FilePacketConn holds a duplicate
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, fmt.Errorf("transport: multicast socket: %w", err)
	}
	return pc.(*net.UDPConn), nil
}
