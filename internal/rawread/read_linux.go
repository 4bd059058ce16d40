//go:build linux

package rawread

import (
	"syscall"
	"unsafe"
)

const supported = true

// read is one read(2), raw: the descriptor is non-blocking, so it returns
// at once.
func read(fd uintptr, b []byte) (int, error) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
