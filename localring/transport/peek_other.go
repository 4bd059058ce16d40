//go:build unix && !linux

package transport

import "golang.org/x/sys/unix"

// peekFD reports whether a datagram waits on fd, without taking it.
func peekFD(fd uintptr, b []byte) bool {
	_, _, err := unix.Recvfrom(int(fd), b, unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err == nil
}
