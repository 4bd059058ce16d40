//go:build unix && !(linux || freebsd || netbsd || openbsd || dragonfly)

package transport

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// socket opens a non-blocking, close-on-exec socket where socket(2) takes
// no such flags (macOS): close-on-exec is set under syscall.ForkLock, as
// the net package does, so that no child forked in between inherits it.
func socket(family, typ, proto int) (int, error) {
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(family, typ, proto)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
