package driver

import (
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/atoll-gcs/atoll/internal/rawread"
)

// tfdTimer is the loop's deadline on Linux: a timerfd, read through the
// network poller by a goroutine of its own, instead of a runtime timer.
// A pending runtime timer bounds the runtime monitor thread's sleep, so an
// idle agent's monitor woke at every deadline (the representative's hold,
// 14 times a second) beside the thread that runs the loop, and once more
// after its 10 ms nap: a sixth of the idle representative's CPU. The
// timerfd's expiry is just one more descriptor the poller reports. It is
// set and read with raw system calls (rawread), which do not wake the
// monitor either.
type tfdTimer struct {
	f    *os.File
	fd   uintptr
	c    chan time.Time // a tick after each expiry; at most one waits
	at   time.Time      // the deadline set; zero when none
	read *rawread.Call
	buf  [8]byte // the expiry count read, owned by the reading goroutine
	its  unix.ItimerSpec
}

// newTfdTimer returns a started tfdTimer, or nil when the kernel offers
// no timerfd.
func newTfdTimer() *tfdTimer {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), "timerfd") // non-blocking: read through the poller
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil
	}
	t := &tfdTimer{f: f, fd: uintptr(fd), c: make(chan time.Time, 1)}
	t.read = rawread.NewCall(rc, "read", func(fd uintptr) (int, syscall.Errno) {
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&t.buf[0])), uintptr(len(t.buf)))
		return int(n), errno
	})
	go t.run()
	return t
}

// run hands each expiry to the loop until stop closes the timerfd. A tick
// left over from a deadline since moved costs the loop one pass, which
// finds nothing due.
func (t *tfdTimer) run() {
	for {
		if _, err := t.read.Do(); err != nil {
			return
		}
		select {
		case t.c <- time.Time{}:
		default: // one waits already
		}
	}
}

// set arms the timerfd to expire in d, or disarms it for a negative d.
func (t *tfdTimer) set(d time.Duration) {
	t.its.Value = unix.Timespec{}
	if d >= 0 {
		t.its.Value = unix.NsecToTimespec(max(int64(d), 1)) // 0 would disarm
	}
	syscall.RawSyscall6(unix.SYS_TIMERFD_SETTIME, t.fd, 0, uintptr(unsafe.Pointer(&t.its)), 0, 0, 0)
}

func (t *tfdTimer) arm(now, at time.Time) bool {
	switch {
	case at.IsZero():
		if !t.at.IsZero() {
			t.set(-1)
			t.at = time.Time{}
		}
	case !at.Equal(t.at):
		t.set(max(at.Sub(now), 0))
		t.at = at
	}
	return false // nothing to settle: the kernel sorts its timers at once
}

func (t *tfdTimer) C() <-chan time.Time { return t.c }
func (t *tfdTimer) fired()              { t.at = time.Time{} }
func (t *tfdTimer) settle()             {}
func (t *tfdTimer) stop()               { t.f.Close() }

// newDeadlineTimer returns the loop's deadline timer: a timerfd, or a
// loopTimer when the kernel has none.
func newDeadlineTimer() deadlineTimer {
	if t := newTfdTimer(); t != nil {
		return t
	}
	return newLoopTimer()
}
