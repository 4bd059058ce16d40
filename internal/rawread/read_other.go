//go:build !linux

package rawread

import "syscall"

const supported = false

func read(fd uintptr, b []byte) (int, syscall.Errno) { return 0, 0 }
