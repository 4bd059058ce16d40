//go:build linux || freebsd || netbsd || openbsd || dragonfly

package transport

import "golang.org/x/sys/unix"

// socket opens a non-blocking, close-on-exec socket in one system call.
func socket(family, typ, proto int) (int, error) {
	return unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
}
