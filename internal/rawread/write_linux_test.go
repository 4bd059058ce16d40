package rawread

import (
	"bytes"
	"io"
	"syscall"
	"testing"
	"unsafe"

	"github.com/atoll-gcs/atoll/internal/socktest"
)

// TestWriteCall: a write call writes at once while the socket buffer has
// room and, once it is full (EAGAIN), waits until the reader made room,
// instead of failing or waiting for readability.
func TestWriteCall(t *testing.T) {
	c, s := socktest.UnixPair(t)
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{5}, 64<<10)
	wc := NewWriteCall(rc, "write", func(fd uintptr) (int, syscall.Errno) {
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&chunk[0])), uintptr(len(chunk)))
		return int(n), errno
	})
	// Fill the buffer: each call returns at once with what fit, until
	// one has to wait; a reader drains it then.
	got := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, s)
		got <- n
	}()
	var sent int64
	for range 64 { // 4 MiB: far beyond any Unix socket buffer
		n, err := wc.Do()
		if err != nil || n <= 0 {
			t.Fatalf("Do after %d bytes: %d, %v", sent, n, err)
		}
		sent += int64(n)
	}
	c.Close()
	if n := <-got; n != sent {
		t.Fatalf("the reader got %d bytes of %d written", n, sent)
	}
}
