package rawread

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/internal/socktest"
)

// TestRead: what is written arrives, a read waits for data, the end of
// the stream is io.EOF.
func TestRead(t *testing.T) {
	c, s := socktest.UnixPair(t)
	r := New(c)
	if _, raw := r.(*reader); raw != (runtime.GOOS == "linux") {
		t.Fatalf("New returned %T on %s", r, runtime.GOOS)
	}
	if _, err := s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := r.Read(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read: %q, %v", buf[:n], err)
	}
	// A read with nothing there waits until data comes.
	big := bytes.Repeat([]byte{7}, 1<<20)
	go func() {
		time.Sleep(20 * time.Millisecond)
		s.Write(big)
		s.Close()
	}()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("ReadAll: %d bytes, %v; want %d bytes and the end of the stream", len(got), err, len(big))
	}
	if n, err := r.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read after the end: %d, %v; want io.EOF", n, err)
	}
}

// TestDeadlineAndClose: deadlines and Close of the connection end a
// waiting read as they end the connection's own.
func TestDeadlineAndClose(t *testing.T) {
	c, _ := socktest.UnixPair(t)
	r := New(c)
	buf := make([]byte, 64)
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := r.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	go func() {
		time.Sleep(20 * time.Millisecond)
		c.Close()
	}()
	if _, err := r.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read of a closed connection: %v", err)
	}
}

// TestReadAllocs: a read allocates nothing.
func TestReadAllocs(t *testing.T) {
	c, s := socktest.UnixPair(t)
	r := New(c)
	buf := make([]byte, 64)
	msg := []byte("x")
	if allocs := testing.AllocsPerRun(100, func() {
		s.Write(msg)
		r.Read(buf)
	}); allocs != 0 {
		t.Errorf("%.1f allocations per read and write, want 0", allocs)
	}
}

// TestNoDescriptor: a connection without a descriptor is read as is.
func TestNoDescriptor(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if r := New(a); r != io.Reader(a) {
		t.Fatalf("New of a pipe returned %T", r)
	}
}
