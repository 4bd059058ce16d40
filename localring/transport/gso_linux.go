//go:build linux

package transport

import (
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// gsoSupported reports whether the kernel cuts c's datagrams into
// segments (UDP_SEGMENT, Linux 4.18 and later): an older kernel does not
// know the option. It says nothing about the path, which may still refuse
// a segmented send (flushLocked's fallback).
func gsoSupported(c *net.UDPConn) bool {
	return sockopt(c, func(fd int) error {
		_, err := unix.GetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		return err
	})
}

// sockopt runs f on c's descriptor and reports whether it succeeded.
func sockopt(c *net.UDPConn, f func(fd int) error) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	rc.Control(func(fd uintptr) { ok = f(int(fd)) == nil })
	return ok
}

// segmentCmsgSpace is the room of one UDP_SEGMENT control message.
var segmentCmsgSpace = unix.CmsgSpace(2)

// putSegmentSize writes into b, segmentCmsgSpace bytes, the control
// message that has the kernel cut a datagram into segments of size bytes.
func putSegmentSize(b []byte, size int) {
	clear(b)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.IPPROTO_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&b[unix.CmsgLen(0)])) = uint16(size)
}

// enableGRO asks the kernel to hand c the datagrams of one segmented send
// (and those a NIC coalesced) as one, with their segment size as control
// data (UDP_GRO, Linux 5.0 and later), and reports whether it will.
func enableGRO(c *net.UDPConn) bool {
	return sockopt(c, func(fd int) error {
		return unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_GRO, 1)
	})
}

// groCmsgSpace is the room of the UDP_GRO control message.
var groCmsgSpace = unix.CmsgSpace(4)

// groSize returns the segment size in the control data of a received
// datagram, 0 when it was not coalesced.
func groSize(oob []byte) int {
	if len(oob) < unix.CmsgLen(4) {
		return 0
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	if h.Level != unix.IPPROTO_UDP || h.Type != unix.UDP_GRO || int(h.Len) < unix.CmsgLen(4) {
		return 0
	}
	return int(*(*int32)(unsafe.Pointer(&oob[unix.CmsgLen(0)])))
}
