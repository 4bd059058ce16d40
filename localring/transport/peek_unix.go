//go:build unix

package transport

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peeker returns a function that reports, without waiting and without
// taking it, whether a datagram waits in c's receive queue.
func peeker(c *net.UDPConn) (func() bool, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	var b [1]byte
	return func() bool {
		waiting := false
		rc.Control(func(fd uintptr) {
			_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			waiting = err == nil
		})
		return waiting
	}, nil
}
