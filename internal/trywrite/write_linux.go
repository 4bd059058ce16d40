//go:build linux

package trywrite

import (
	"syscall"
	"unsafe"
)

// write is one write(2) on the connection's descriptor, which Go keeps
// non-blocking, so it returns at once (EAGAIN when the socket buffer is
// full). It is a raw system call: syscall.Write tells the scheduler that
// the thread may block, and in a process that is often idle that wakes
// the runtime's monitor thread (a futex) at nearly every call, which cost
// the agent more than the write.
func write(fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}

// rawWrites: write writes (Supported can be true).
const rawWrites = true
