package trywrite

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/internal/socktest"
	"github.com/atoll-gcs/atoll/internal/waittest"
)

// TestWrite: what fits in the socket buffer is written at once; a full
// buffer takes nothing and Write returns without waiting; the bytes
// arrive in order.
func TestWrite(t *testing.T) {
	c, s := socktest.UnixPair(t)
	w := New(c)
	if !w.Supported() {
		t.Fatal("a Unix socket is not Supported")
	}
	if n, err := w.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("Write to an empty buffer: %d, %v", n, err)
	}
	big := bytes.Repeat([]byte{7}, 64<<20) // more than any socket buffer
	start := time.Now()
	n, err := w.Write(big)
	if err != nil || n <= 0 || n >= len(big) {
		t.Fatalf("Write of %d bytes: %d, %v; want part of it", len(big), n, err)
	}
	if m, err := w.Write(big[n:]); m != 0 || err != nil {
		t.Fatalf("Write to a full buffer: %d, %v; want 0, nil", m, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the writes took %v", d)
	}
	got := make([]byte, 5+n)
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatal(err)
	}
	if string(got[:5]) != "hello" || !bytes.Equal(got[5:], big[:n]) {
		t.Fatal("the bytes arrived changed")
	}
}

// TestUnsupported: a connection without a descriptor of its own is not
// Supported, and Write writes nothing.
func TestUnsupported(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	w := New(a)
	if w.Supported() {
		t.Fatal("net.Pipe is Supported")
	}
	if n, err := w.Write([]byte("x")); n != 0 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if err := w.WriteAll([]byte("x"), func(int) { t.Error("WriteAll reported a write") }); err == nil {
		t.Fatal("WriteAll on net.Pipe: no error")
	}
}

// TestClosed: writing to a connection the peer closed fails.
func TestClosed(t *testing.T) {
	c, s := socktest.UnixPair(t)
	s.Close()
	w := New(c)
	var err error
	for range 10 {
		if _, err = w.Write([]byte("x")); err != nil {
			break
		}
	}
	if err == nil {
		t.Fatal("writes to a closed peer did not fail")
	}
}

// TestWriteAllocs: a write allocates nothing (the loops write once per
// step and per batch; a closure per write was an allocation each).
func TestWriteAllocs(t *testing.T) {
	c, s := socktest.UnixPair(t)
	tw := New(c)
	go io.Copy(io.Discard, s)
	b := make([]byte, 64)
	if allocs := testing.AllocsPerRun(1000, func() {
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("%.1f allocations per write, want 0", allocs)
	}
}

// TestWriteAll: WriteAll writes more than the socket buffer holds, waiting
// for the reader, and reports each part the connection took as it goes:
// the parts add up to the whole, and while the reader has read only part
// of it, the parts reported stop short of the end. Past its write deadline
// it returns the deadline's error.
func TestWriteAll(t *testing.T) {
	c, s := socktest.UnixPair(t)
	w := New(c)
	big := bytes.Repeat([]byte{7}, 16<<20) // more than any socket buffer
	taken := make(chan int, 1<<16)
	done := make(chan error, 1)
	go func() { done <- w.WriteAll(big, func(n int) { taken <- n }) }()
	sum := func() (total int) {
		for {
			select {
			case n := <-taken:
				total += n
			default:
				return total
			}
		}
	}
	time.Sleep(100 * time.Millisecond)
	first := sum()
	if first <= 0 || first >= len(big) {
		t.Fatalf("before the reader read, WriteAll reported %d of %d bytes taken; want part of it", first, len(big))
	}
	got := make([]byte, len(big))
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatal(err)
	}
	if err := waittest.Recv(t, done, 10*time.Second, "WriteAll to return once the reader read everything"); err != nil {
		t.Fatalf("WriteAll: %v", err)
	}
	if total := first + sum(); total != len(big) {
		t.Fatalf("WriteAll reported %d bytes taken, wrote %d", total, len(big))
	}
	if !bytes.Equal(got, big) {
		t.Fatal("the bytes arrived changed")
	}

	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	if err := w.WriteAll(big, func(int) {}); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("WriteAll past its deadline with nobody reading: %v", err)
	}
}
