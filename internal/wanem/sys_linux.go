package wanem

import (
	"net"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// waker is a one-shot timer the link's scheduler blocks on. Go's runtime
// timers wake an idle program up to a millisecond late on Linux (the
// poller's timeout has millisecond resolution), so on Linux the waker is a
// timerfd on CLOCK_MONOTONIC, whose expiry wakes the poller within tens of
// microseconds. arm and close are called with the link's mutex held; wait
// is called by the scheduler alone.
type waker struct {
	fd  int
	f   *os.File
	buf [8]byte
}

func newWaker() (*waker, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("timerfd_create", err)
	}
	return &waker{fd: fd, f: os.NewFile(uintptr(fd), "wanem-timerfd")}, nil
}

// arm makes wait return after d (at least 1 ns); it replaces an earlier arm.
func (w *waker) arm(d time.Duration) {
	its := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(max(d, 1)))}
	_ = unix.TimerfdSettime(w.fd, 0, &its, nil) // cannot fail on a valid timerfd
}

// wait blocks until the armed time has passed; it returns an error once
// close has been called.
func (w *waker) wait() error {
	_, err := w.f.Read(w.buf[:])
	return err
}

func (w *waker) close() { w.f.Close() }

// setBuffers asks for kernel socket buffers of n bytes each way: forced past
// rmem_max/wmem_max when the process may (root, as in namespace tests),
// else as far as those limits allow.
func setBuffers(c *net.UDPConn, n int) {
	_ = c.SetReadBuffer(n)
	_ = c.SetWriteBuffer(n)
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, n)
		})
	}
}

// oobLen is the control-message space each read datagram gets, for its
// kernel receive timestamp.
const oobLen = 64

// enableRxTimestamps asks the kernel to stamp each received datagram with
// its arrival time (SO_TIMESTAMPNS), so that a relay whose reader was
// descheduled for a while still gives each datagram the delay and the
// place behind the bandwidth cap it would have had on arrival.
func enableRxTimestamps(c *net.UDPConn) {
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		})
	}
}

// rxAge returns how long ago, before nowWall, the datagram whose control
// messages are oob arrived, by its SO_TIMESTAMPNS stamp (wall clock, hence
// only the difference to the current wall clock is used, bounded to
// [0, 1 s] against clock steps); 0 without a stamp.
func rxAge(oob []byte, nowWall time.Time) time.Duration {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && l >= unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
			ts := (*unix.Timespec)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
			age := nowWall.Sub(time.Unix(ts.Sec, ts.Nsec))
			return min(max(age, 0), time.Second)
		}
		oob = oob[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(oob)):]
	}
	return 0
}
