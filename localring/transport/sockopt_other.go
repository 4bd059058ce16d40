//go:build unix && !linux

package transport

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// setBuffer sets one socket buffer and returns what the kernel reports.
// Only Linux has the FORCE variants; force is ignored here.
func setBuffer(rc syscall.RawConn, opt int, bytes int, _ bool) (granted int, err error) {
	cerr := rc.Control(func(fd uintptr) {
		if err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, bytes); err != nil {
			return
		}
		granted, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, opt)
	})
	if cerr != nil {
		return 0, cerr
	}
	return granted, err
}

const (
	soRcvbuf = unix.SO_RCVBUF
	soSndbuf = unix.SO_SNDBUF
)

func setMulticastAllOff(syscall.RawConn, bool) {}

func truncated(flags int) bool { return flags&unix.MSG_TRUNC != 0 }
