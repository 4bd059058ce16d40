//go:build linux

package rawread

import (
	"syscall"
	"unsafe"
)

const supported = true

// read is one read(2), raw: the descriptor is non-blocking, so it returns
// at once.
func read(fd uintptr, b []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), errno
}
