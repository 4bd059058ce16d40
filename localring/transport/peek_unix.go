//go:build unix

package transport

import (
	"fmt"
	"net"
)

// peeker returns a function that reports, without waiting and without
// taking it, whether a datagram waits in c's receive queue.
func peeker(c *net.UDPConn) (func() bool, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	var b [1]byte
	waiting := false
	fn := func(fd uintptr) { waiting = peekFD(fd, b[:]) } // made once: a peek allocates nothing
	return func() bool {
		waiting = false
		rc.Control(fn)
		return waiting
	}, nil
}
