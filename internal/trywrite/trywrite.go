// Package trywrite writes to a connection without waiting: as much as the
// kernel's socket buffer takes at once. A goroutine that must never block
// (an event loop) writes directly this way when the buffer has room, which
// is nearly always, and hands only what is left to a writer goroutine,
// instead of waking that goroutine for every write.
package trywrite

import (
	"errors"
	"net"
	"syscall"
)

// Conn writes to one connection without waiting. Its Write is not safe
// for concurrent use: its callers hold the lock of what they write.
type Conn struct {
	s *state // nil: the connection cannot be written this way
}

// state is a Conn's: the write in progress, and the function that the
// raw connection calls, made once so that a write allocates nothing.
type state struct {
	rc  syscall.RawConn
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool

	// WriteAll's: what is left to write, the caller's callback, the
	// error, and the function the raw connection calls.
	all     []byte
	took    func(n int)
	allErr  error
	allFunc func(fd uintptr) bool
}

// New returns a Conn for c. Connections without a file descriptor of
// their own (net.Pipe, TLS) get a Conn whose Supported is false.
func New(c net.Conn) Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return Conn{}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return Conn{}
	}
	s := &state{rc: rc}
	s.fn = func(fd uintptr) bool {
		s.n, s.err = write(fd, s.b)
		return true // done, whatever was written: never wait
	}
	s.allFunc = func(fd uintptr) bool {
		for len(s.all) > 0 {
			n, err := write(fd, s.all)
			switch {
			case errors.Is(err, syscall.EINTR):
				continue
			case errors.Is(err, syscall.EAGAIN) || err == nil && n <= 0:
				return false // wait until the socket buffer has room
			case err != nil:
				s.allErr = err
				return true
			}
			s.all = s.all[n:]
			s.took(n)
		}
		return true
	}
	return Conn{s: s}
}

// Supported reports whether Write can write without waiting (and
// WriteAll can report its progress).
func (c Conn) Supported() bool { return c.s != nil && rawWrites }

// WriteAll writes all of b, waiting for room in the socket buffer as
// long as the connection's write deadline allows, and calls took with
// the bytes each write(2) took, as it goes: unlike net.Conn's Write, whose
// caller learns only at the end, a writer that accounts for what it
// queued sees the peer take it. The connection must be Supported; like
// Write, WriteAll must not run beside another write to it.
func (c Conn) WriteAll(b []byte, took func(n int)) error {
	s := c.s
	if s == nil || !rawWrites {
		return errors.New("trywrite: WriteAll on a connection without a file descriptor")
	}
	s.all, s.took = b, took
	err := s.rc.Write(s.allFunc)
	werr := s.allErr
	s.all, s.took, s.allErr = nil, nil, nil
	if err != nil {
		return err
	}
	return werr
}

// Write writes as much of b as the connection takes without waiting and
// returns how much that was (0 when the socket buffer is full, or when
// the connection is not Supported). The caller must make sure that no
// other goroutine writes to the connection meanwhile: a write that waits
// holds the connection's write lock, and Write would wait for it.
func (c Conn) Write(b []byte) (int, error) {
	s := c.s
	if s == nil || len(b) == 0 {
		return 0, nil
	}
	s.b = b
	err := s.rc.Write(s.fn)
	n, werr := s.n, s.err
	s.b, s.n, s.err = nil, 0, nil
	if err != nil {
		return 0, err
	}
	if n < 0 {
		n = 0
	}
	if werr != nil && !errors.Is(werr, syscall.EAGAIN) && !errors.Is(werr, syscall.EINTR) {
		return n, werr
	}
	return n, nil
}
