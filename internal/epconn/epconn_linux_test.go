//go:build linux

package epconn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atoll-gcs/atoll/internal/rawread"
	"github.com/atoll-gcs/atoll/internal/trywrite"
)

// pair returns a wrapped Unix connection and its peer (a plain one).
func pair(t *testing.T) (*Conn, *net.UnixConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		acc <- c
	}()
	d, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	peer := <-acc
	if peer == nil {
		t.Fatal("accept failed")
	}
	w, ok := Wrap(d).(*Conn)
	if !ok {
		t.Fatal("Wrap did not wrap a *net.UnixConn")
	}
	t.Cleanup(func() { w.Close(); peer.Close() })
	return w, peer.(*net.UnixConn)
}

// ctxSwitches is the voluntary context switches of every thread of pid.
func ctxSwitches(t *testing.T, pid int) int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	n := 0
	for _, st := range tasks {
		b, err := os.ReadFile(st)
		if err != nil {
			continue // a thread that ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				k, _ := strconv.Atoi(strings.TrimSpace(v))
				n += k
			}
		}
	}
	return n
}

const (
	helperEnv = "EPCONN_TEST_HELPER" // the socket path, for the helper process
	wrapEnv   = "EPCONN_TEST_WRAP"
	frames    = 100
	frameLen  = 100
)

// TestHelperWriter is not a test: run by TestPeerReadsDoNotWake as a
// process of its own, it connects, writes frames*frameLen bytes, then
// waits to read one byte and exits.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		os.Exit(2)
	}
	if os.Getenv(wrapEnv) == "1" {
		c = Wrap(c)
	}
	// A write each: the peer's read of one frees it (one write-space
	// callback per read).
	for range frames {
		if _, err := c.Write(make([]byte, frameLen)); err != nil {
			os.Exit(3)
		}
	}
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil {
		os.Exit(4)
	}
	os.Exit(0)
}

// wakesWhilePeerReads runs the helper (wrapped or not) and returns how
// many times its threads woke while this process read what it wrote,
// frameLen bytes at a time with pauses, while the helper only waited to
// read.
func wakesWhilePeerReads(t *testing.T, wrap bool) int {
	path := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path, wrapEnv+"="+map[bool]string{true: "1", false: "0"}[wrap], "GOMAXPROCS=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Wait until everything was written: the helper then waits to read.
	uc := c.(*net.UnixConn)
	for deadline := time.Now().Add(10 * time.Second); ; {
		var queued int
		raw, _ := uc.SyscallConn()
		raw.Control(func(fd uintptr) { queued, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
		if queued == frames*frameLen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the helper wrote %d of %d bytes", queued, frames*frameLen)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the helper settles in its wait
	before := ctxSwitches(t, cmd.Process.Pid)
	buf := make([]byte, frameLen)
	for range frames {
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Microsecond)
	}
	after := ctxSwitches(t, cmd.Process.Pid)
	if _, err := c.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	return after - before
}

// TestPeerReadsDoNotWake: a process that only waits to read a wrapped
// connection sleeps while its peer reads what it wrote; on the socket as
// the runtime polls it, each of the peer's reads wakes it (EPOLLOUT).
func TestPeerReadsDoNotWake(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip()
	}
	plain := wakesWhilePeerReads(t, false)
	if plain < frames/2 {
		t.Skipf("this kernel woke the plain socket's process %d times for %d reads of its peer: nothing to avoid", plain, frames)
	}
	wrapped := wakesWhilePeerReads(t, true)
	t.Logf("wake-ups while the peer read %d times: plain %d, wrapped %d", frames, plain, wrapped)
	if wrapped > frames/10 {
		t.Fatalf("the wrapped connection's process woke %d times while its peer read %d times (plain: %d)", wrapped, frames, plain)
	}
}

// TestNotPolledForRoom: while no write waits, no epoll set of the process
// watches the wrapped socket for room (EPOLLOUT); the plain peer's is.
func TestNotPolledForRoom(t *testing.T) {
	w, peer := pair(t)
	ino := func(fd int) uint64 {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	wIno := ino(w.fd)
	var pIno uint64
	raw, _ := peer.SyscallConn()
	raw.Control(func(fd uintptr) { pIno = ino(int(fd)) })
	ws, _, err := SocketWatches()
	if err != nil {
		t.Fatal(err)
	}
	var wSets, pRoom int
	for _, x := range ws {
		switch x.Inode {
		case wIno:
			wSets++
			if x.RoomWatched() {
				t.Errorf("the wrapped socket is watched for room: %v", x)
			}
		case pIno:
			if x.RoomWatched() {
				pRoom++
			}
		}
	}
	if wSets != 1 {
		t.Errorf("the wrapped socket is in %d epoll sets, want 1 (the Conn's input set)", wSets)
	}
	if pRoom != 1 {
		t.Errorf("the plain peer socket is watched for room by %d epoll sets, want the runtime's", pRoom)
	}
	// While a write waits for room, the room set watches it.
	go w.Write(make([]byte, 64<<20))
	deadline := time.Now().Add(10 * time.Second)
	for {
		ws, _, _ := SocketWatches()
		n := 0
		for _, x := range ws {
			if x.Inode == wIno && x.RoomWatched() {
				n++
			}
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a write waiting for room: the socket is not watched for room")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestReadWriteAndRoom(t *testing.T) {
	w, peer := pair(t)
	// More than the socket buffers hold: the writes wait for room.
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := w.Write(data)
		errc <- err
	}()
	got := make([]byte, 0, len(data))
	buf := make([]byte, 100<<10)
	for len(got) < len(data) {
		n, err := peer.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
		if len(got)%(1<<20) < n {
			time.Sleep(2 * time.Millisecond) // a slow reader now and then
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the peer read other bytes than were written")
	}
	// And back, through rawread and trywrite as the agent and the client
	// read and write.
	go func() { peer.Write([]byte("hello")); peer.Close() }()
	b, err := io.ReadAll(rawread.New(w))
	if err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v", b, err)
	}
	if !trywrite.New(w).Supported() {
		t.Fatal("trywrite cannot write the wrapped connection")
	}
}

func TestTryWriteAll(t *testing.T) {
	w, peer := pair(t)
	tw := trywrite.New(w)
	data := make([]byte, 4<<20)
	took := 0
	errc := make(chan error, 1)
	go func() { errc <- tw.WriteAll(data, func(n int) { took += n }) }()
	n, err := io.Copy(io.Discard, io.LimitReader(peer, int64(len(data))))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("read %d, %v", n, err)
	}
	if err := <-errc; err != nil || took != len(data) {
		t.Fatalf("WriteAll: %v, took %d of %d", err, took, len(data))
	}
	// A write that takes what the buffer has room for, without waiting.
	if n, err := tw.Write([]byte("x")); n != 1 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
}

func TestDeadlines(t *testing.T) {
	w, _ := pair(t)
	w.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	start := time.Now()
	_, err := w.Read(make([]byte, 10))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline: %v", err)
	}
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("Read past its deadline: %v is not a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the deadline ended the read after %v", d)
	}
	// A deadline already past ends a read that waits (as the client ends
	// its reader's wait for room).
	w.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := w.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	w.SetReadDeadline(time.Unix(1, 0))
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read cut by a past deadline: %v", err)
	}
	// Writes wait for room only until the write deadline.
	w.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = w.Write(make([]byte, 64<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to a peer that does not read, past its deadline: %v", err)
	}
}

func TestClose(t *testing.T) {
	w, peer := pair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := w.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read ended by Close: %v", err)
	}
	if err := w.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	// The peer sees the end of the connection.
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the peer read %v after Close, want EOF", err)
	}
}

func TestControlPeerCredentials(t *testing.T) {
	w, _ := pair(t)
	raw, err := w.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	if int(cred.Pid) != os.Getpid() {
		t.Fatalf("peer pid %d, want %d", cred.Pid, os.Getpid())
	}
}

func TestWrapOthers(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Fatal("Wrap changed a connection without a descriptor")
	}
	var _ syscall.Conn = (*Conn)(nil)
}
