package sdnotify

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// fakeSystemd is the receiving end of $NOTIFY_SOCKET, as systemd holds it.
type fakeSystemd struct {
	t    *testing.T
	conn *net.UnixConn
}

type message struct {
	state string
	at    time.Time
}

func newFakeSystemd(t *testing.T) *fakeSystemd {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return &fakeSystemd{t: t, conn: conn}
}

// next returns the next message, or ok false when none comes within wait.
func (f *fakeSystemd) next(wait time.Duration) (message, bool) {
	f.t.Helper()
	buf := make([]byte, 4096)
	f.conn.SetReadDeadline(time.Now().Add(wait))
	n, err := f.conn.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return message{}, false
		}
		f.t.Fatal(err)
	}
	return message{state: string(buf[:n]), at: time.Now()}, true
}

func (f *fakeSystemd) must(wait time.Duration) message {
	f.t.Helper()
	m, ok := f.next(wait)
	if !ok {
		f.t.Fatalf("no notification within %v", wait)
	}
	return m
}

// start runs n until stop.
func start(n *Notifier) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// TestReadyAfterConfiguration: READY=1 is not sent while the service is
// not ready, however many watchdog intervals pass; it is sent, with the
// status line, once Ready is closed; the pings keep their interval
// before and after; STOPPING=1 at the end.
func TestReadyAfterConfiguration(t *testing.T) {
	sd := newFakeSystemd(t)
	ready := make(chan struct{})
	const interval = 50 * time.Millisecond
	t0 := time.Now()
	stop := start(&Notifier{
		Ready:    ready,
		Interval: interval,
		Status:   func() string { return "ring r:1:a formed" },
	})
	pings := 0
	ping := func(m message) {
		t.Helper()
		if m.state != "WATCHDOG=1" {
			t.Fatalf("got %q, want WATCHDOG=1", m.state)
		}
		// The k-th ping is due k intervals after the start, never
		// earlier (a loaded machine only delays it, and our read).
		pings++
		if due := t0.Add(time.Duration(pings) * interval); m.at.Before(due) {
			t.Fatalf("WATCHDOG=1 number %d came %v after the start, before its interval %v allows", pings, m.at.Sub(t0), interval)
		}
	}
	for range 5 { // not ready: pings only
		ping(sd.must(10 * time.Second))
	}
	close(ready)
	var got bool
	for !got {
		m := sd.must(10 * time.Second)
		if m.state == "WATCHDOG=1" {
			ping(m)
			continue
		}
		if m.state != "READY=1\nSTATUS=ring r:1:a formed" {
			t.Fatalf("got %q, want READY=1 with the status", m.state)
		}
		got = true
	}
	for range 5 {
		ping(sd.must(10 * time.Second))
	}
	stop()
	for {
		m := sd.must(10 * time.Second)
		if m.state == "STOPPING=1" {
			break
		}
		ping(m)
	}
}

// TestWatchdogWithheld: while Alive fails no WATCHDOG=1 is sent (systemd
// would restart the stuck service); when it recovers the pings resume.
func TestWatchdogWithheld(t *testing.T) {
	sd := newFakeSystemd(t)
	var sick atomic.Bool
	sick.Store(true)
	const interval = 20 * time.Millisecond
	stop := start(&Notifier{
		Ready:    make(chan struct{}),
		Interval: interval,
		Alive: func() error {
			if sick.Load() {
				return errors.New("loop stuck")
			}
			return nil
		},
	})
	defer stop()
	if m, ok := sd.next(20 * interval); ok {
		t.Fatalf("got %q while not alive", m.state)
	}
	sick.Store(false)
	if m := sd.must(10 * time.Second); m.state != "WATCHDOG=1" {
		t.Fatalf("got %q, want WATCHDOG=1", m.state)
	}
}

// TestWatchdogInterval: half of the unit's WatchdogSec=, for this process
// only; none without a watchdog.
func TestWatchdogInterval(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "3000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	if got := WatchdogInterval(); got != 1500*time.Millisecond {
		t.Errorf("WatchdogInterval = %v, want 1.5s", got)
	}
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1))
	if got := WatchdogInterval(); got != 0 {
		t.Errorf("WatchdogInterval for another pid = %v, want 0", got)
	}
	os.Unsetenv("WATCHDOG_USEC")
	if got := WatchdogInterval(); got != 0 {
		t.Errorf("WatchdogInterval without a watchdog = %v, want 0", got)
	}
}

// TestNoSocket: without $NOTIFY_SOCKET, Run returns at once.
func TestNoSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	os.Unsetenv("NOTIFY_SOCKET")
	done := make(chan struct{})
	go func() {
		(&Notifier{Ready: make(chan struct{}), Interval: time.Millisecond}).Run(context.Background())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run without NOTIFY_SOCKET did not return")
	}
}
