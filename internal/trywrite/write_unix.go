//go:build unix && !linux

package trywrite

import "syscall"

// write is one write(2) on the connection's descriptor, which Go keeps
// non-blocking.
func write(fd uintptr, b []byte) (int, error) { return syscall.Write(int(fd), b) }

// rawWrites: write writes (Supported can be true).
const rawWrites = true
