package transport

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// setBuffer sets one socket buffer (SO_RCVBUF or SO_SNDBUF) to bytes and
// returns what the kernel granted. With force it first tries the *FORCE
// variant, which ignores net.core.{r,w}mem_max but needs CAP_NET_ADMIN.
func setBuffer(rc syscall.RawConn, opt int, bytes int, force bool) (granted int, err error) {
	forceOpt := unix.SO_RCVBUFFORCE
	if opt == unix.SO_SNDBUF {
		forceOpt = unix.SO_SNDBUFFORCE
	}
	cerr := rc.Control(func(fd uintptr) {
		done := false
		if force {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, forceOpt, bytes); e == nil {
				done = true
			} else if !errors.Is(e, unix.EPERM) {
				err = e
				return
			}
		}
		if !done {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, bytes); e != nil {
				err = e
				return
			}
		}
		got, e := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, opt)
		if e != nil {
			err = e
			return
		}
		// Linux doubles the value for its bookkeeping and reports the
		// doubled value; half of it is what the caller asked for.
		granted = got / 2
	})
	if cerr != nil {
		return 0, cerr
	}
	return granted, err
}

// Socket option numbers for setBuffer.
const (
	soRcvbuf = unix.SO_RCVBUF
	soSndbuf = unix.SO_SNDBUF
)

// setMulticastAllOff makes the socket receive only the groups it joined
// itself (Linux by default delivers every group joined by any socket on
// the host to a socket bound to the port). Best effort: older kernels lack
// the IPv6 option, and binding to the group address already filters.
func setMulticastAllOff(rc syscall.RawConn, ipv6 bool) {
	rc.Control(func(fd uintptr) {
		if ipv6 {
			unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0)
		} else {
			unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
		}
	})
}

// truncated reports whether a received message's flags say it was cut.
func truncated(flags int) bool { return flags&unix.MSG_TRUNC != 0 }
