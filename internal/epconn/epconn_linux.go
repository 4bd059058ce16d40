//go:build linux

package epconn

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is a Unix stream socket waited for through epoll sets of its own
// (see the package doc). Reads, writes, deadlines and Close are safe for
// concurrent use as net.Conn's are: one reader and one writer at a time
// each wait, the others wait for them.
type Conn struct {
	fd     int      // the socket, non-blocking; closed by Close
	rd, wr *os.File // the epoll sets: input (for good), room (while a write waits)
	rrc    syscall.RawConn
	wrc    syscall.RawConn
	local  net.Addr
	remote net.Addr

	closeOnce sync.Once
	closed    atomic.Bool
}

// Wrap returns a Conn for c, a *net.UnixConn, which it takes over (c is
// closed: use only the Conn from then on). Anything else, or a failure
// of the epoll calls, returns c as it is, still usable.
func Wrap(c net.Conn) net.Conn {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return c
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return c
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || derr != nil {
		return c
	}
	cn, err := newConn(fd, uc.LocalAddr(), uc.RemoteAddr())
	if err != nil {
		unix.Close(fd)
		return c
	}
	// Closing c takes its descriptor out of the runtime's poller
	// (EPOLL_CTL_DEL) and closes it; the socket lives on in fd, which
	// shares its non-blocking file description.
	uc.Close()
	return cn
}

// newConn makes the Conn of the non-blocking socket fd.
func newConn(fd int, local, remote net.Addr) (*Conn, error) {
	rfd, err := newEpoll()
	if err != nil {
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}
	if err := unix.EpollCtl(rfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(rfd)
		return nil, err
	}
	wfd, err := newEpoll()
	if err != nil {
		unix.Close(rfd)
		return nil, err
	}
	// A non-blocking descriptor that os.NewFile finds pollable joins the
	// runtime's poller, which then waits on the set for us.
	c := &Conn{fd: fd, rd: os.NewFile(uintptr(rfd), "epoll-in"), wr: os.NewFile(uintptr(wfd), "epoll-out"),
		local: local, remote: remote}
	if c.rrc, err = c.rd.SyscallConn(); err == nil {
		c.wrc, err = c.wr.SyscallConn()
	}
	if err != nil {
		c.rd.Close()
		c.wr.Close()
		return nil, err
	}
	return c, nil
}

func newEpoll() (int, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return -1, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// SyscallConn returns the socket's raw connection: its Read and Write
// wait through the Conn's epoll sets.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return rawConn{c}, nil }

type rawConn struct{ c *Conn }

// Control runs f on the socket's descriptor, which stays open meanwhile.
func (r rawConn) Control(f func(fd uintptr)) error {
	c := r.c
	return c.mapErr(c.rrc.Control(func(uintptr) { f(uintptr(c.fd)) }))
}

// Read calls f until it returns true, waiting for input between calls.
func (r rawConn) Read(f func(fd uintptr) bool) error {
	c := r.c
	return c.mapErr(c.rrc.Read(func(uintptr) bool { return f(uintptr(c.fd)) }))
}

// Write calls f until it returns true, waiting for room between calls:
// only then does the room set watch the socket (EPOLLOUT), until f is
// done.
func (r rawConn) Write(f func(fd uintptr) bool) error {
	c := r.c
	watched := false
	var werr error
	err := c.wrc.Read(func(wfd uintptr) bool {
		if f(uintptr(c.fd)) {
			return true
		}
		if !watched {
			ev := unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(c.fd)}
			if werr = unix.EpollCtl(int(wfd), unix.EPOLL_CTL_ADD, c.fd, &ev); werr != nil {
				return true
			}
			watched = true
		}
		return false
	})
	if watched {
		c.wrc.Control(func(wfd uintptr) { unix.EpollCtl(int(wfd), unix.EPOLL_CTL_DEL, c.fd, nil) })
	}
	if err == nil && werr != nil {
		err = os.NewSyscallError("epoll_ctl", werr)
	}
	return c.mapErr(err)
}

// mapErr returns the errors of the epoll sets' files as a socket's: a
// closed Conn's is net.ErrClosed (the files' raw calls return the
// poller's own "use of closed file").
func (c *Conn) mapErr(err error) error {
	if err != nil && (c.closed.Load() || errors.Is(err, os.ErrClosed)) {
		return net.ErrClosed
	}
	return err
}

// Read reads into b, waiting for input.
func (c *Conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := rawConn{c}.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			n, errno = int(r), e
			if e != syscall.EINTR {
				return e != syscall.EAGAIN
			}
		}
	})
	switch {
	case err != nil:
		return 0, c.opErr("read", err)
	case errno != 0:
		return 0, c.opErr("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of b, waiting for room.
func (c *Conn) Write(b []byte) (int, error) {
	done := 0
	var errno syscall.Errno
	err := rawConn{c}.Write(func(fd uintptr) bool {
		for done < len(b) {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[done])), uintptr(len(b)-done))
			switch e {
			case 0:
				done += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return done, c.opErr("write", err)
	case errno != 0:
		return done, c.opErr("write", os.NewSyscallError("write", errno))
	}
	return done, nil
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "unix", Source: c.local, Addr: c.remote, Err: err}
}

// Close closes the socket: waits in progress end with net.ErrClosed.
func (c *Conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		// Closing the sets' files ends the waits and waits for the calls
		// in progress on the socket's descriptor; then it can go.
		c.rd.Close()
		c.wr.Close()
		err = unix.Close(c.fd)
	})
	return err
}

func (c *Conn) LocalAddr() net.Addr  { return c.local }
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline bounds the waits for input.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.mapErr(c.rd.SetReadDeadline(t)) }

// SetWriteDeadline bounds the waits for room (which wait until the room
// set is readable).
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.mapErr(c.wr.SetReadDeadline(t)) }
