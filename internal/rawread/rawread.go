// Package rawread reads a connection with raw read(2) calls on its
// non-blocking descriptor, waiting through Go's network poller only when
// nothing is there to read. net.Conn's Read tells the scheduler at every
// call that the thread may block, which in a process that is often idle
// wakes the runtime's monitor thread (a futex) at nearly every read: for
// the agent's client sessions and the client's connection that cost more
// than the read. Elsewhere than on Linux, and for connections without a
// descriptor (TLS, in-process pipes), New returns the connection itself.
package rawread

import (
	"io"
	"net"
	"os"
	"syscall"
)

// reader reads one connection. Its Read is not safe for concurrent use
// (a net.Conn's is, but one reader goroutine is all that its users have).
type reader struct {
	rc  syscall.RawConn
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool // made once, so that a read allocates nothing
}

// New returns a reader of c: raw reads where supported, c otherwise.
// Deadlines and Close of c apply to it as to c's own Read.
func New(c net.Conn) io.Reader {
	if !supported {
		return c
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	r := &reader{rc: rc}
	r.fn = func(fd uintptr) bool {
		for {
			r.n, r.err = read(fd, r.b)
			if r.err != syscall.EINTR {
				return r.err != syscall.EAGAIN // EAGAIN: wait until readable
			}
		}
	}
	return r
}

func (r *reader) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	r.b = b
	err := r.rc.Read(r.fn) // closed, deadline passed: as c.Read
	n, rerr := r.n, r.err
	r.b, r.n, r.err = nil, 0, nil
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, os.NewSyscallError("read", rerr)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}
