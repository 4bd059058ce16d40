// Package rawread reads a connection with raw read(2) calls on its
// non-blocking descriptor, waiting through Go's network poller only when
// nothing is there to read. net.Conn's Read tells the scheduler at every
// call that the thread may block, which in a process that is often idle
// wakes the runtime's monitor thread (a futex) at nearly every read: for
// the agent's client sessions and the client's connection that cost more
// than the read. Elsewhere than on Linux, and for connections without a
// descriptor (TLS, in-process pipes), New returns the connection itself.
//
// Call does the same for any system call that reads a descriptor (the
// ring transport's recvmmsg) and, made with NewWriteCall, for one that
// writes it (the ring transport's sendmmsg): a raw call never tells the
// scheduler, so it wakes neither the monitor thread nor, when it takes a
// moment, another thread to take over the caller's P.
package rawread

import (
	"io"
	"net"
	"os"
	"syscall"
)

// Call runs one raw system call on a non-blocking descriptor, again on
// EINTR, and waits in the network poller only when it fails with EAGAIN
// (until the descriptor is readable or, for a write call, writable). It
// is not safe for concurrent use.
type Call struct {
	rc    syscall.RawConn
	write bool
	name  string
	sys   func(fd uintptr) (int, syscall.Errno)
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool // made once, so that a call allocates nothing
}

// NewCall returns a Call of sys on rc's descriptor; name names the system
// call in its errors. sys must not block: the descriptor is non-blocking,
// so a raw system call (syscall.RawSyscall) returns at once.
func NewCall(rc syscall.RawConn, name string, sys func(fd uintptr) (int, syscall.Errno)) *Call {
	c := &Call{rc: rc, name: name, sys: sys}
	c.fn = func(fd uintptr) bool {
		for {
			c.n, c.errno = c.sys(fd)
			if c.errno != syscall.EINTR {
				return c.errno != syscall.EAGAIN // EAGAIN: wait until readable
			}
		}
	}
	return c
}

// NewWriteCall is NewCall for a system call that writes the descriptor:
// Do waits until it is writable when the call fails with EAGAIN.
func NewWriteCall(rc syscall.RawConn, name string, sys func(fd uintptr) (int, syscall.Errno)) *Call {
	c := NewCall(rc, name, sys)
	c.write = true
	return c
}

// Do runs the call once the descriptor is readable (writable, for a write
// call) and returns its result. Deadlines and Close of the connection end
// a waiting Do as they end the connection's own Read (Write), with the
// same errors.
func (c *Call) Do() (int, error) {
	var err error
	if c.write {
		err = c.rc.Write(c.fn)
	} else {
		err = c.rc.Read(c.fn)
	}
	n, errno := c.n, c.errno
	c.n, c.errno = 0, 0
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, os.NewSyscallError(c.name, errno)
	}
	return n, nil
}

// reader reads one connection. Its Read is not safe for concurrent use
// (a net.Conn's is, but one reader goroutine is all that its users have).
type reader struct {
	call *Call
	b    []byte
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
	r := &reader{}
	r.call = NewCall(rc, "read", func(fd uintptr) (int, syscall.Errno) { return read(fd, r.b) })
	return r
}

func (r *reader) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	r.b = b
	n, err := r.call.Do() // closed, deadline passed: as c.Read
	r.b = nil
	switch {
	case err != nil:
		return 0, err
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}
